# Coffer's configuration for the containers of docker-compose.yml, mounted read-only at /etc/coffer/config.d.
# Every service reads the same files; `-service=NAME` on the command line picks what a container runs.
# Files in this directory are merged in name order; add e.g. 20-tls.hcl rather than editing this one.

# Plugin executables, mounted read-only from ./plugins-dir. Register them by SHA-256 before mounting.
plugin_directory = "/var/lib/coffer/plugins"

# The password here is only the local default. docker-compose.yml sets $COFFER_PG_CONNECTION_URL (which overrides
# this key) from COFFER_POSTGRES_PASSWORD in .env, so production changes the password in .env, not here.
storage "postgresql" {
  connection_url = "postgres://coffer:coffer-local-only@postgres:5432/coffer?sslmode=disable"
}

# NATS carries the keyring when the cluster unseals: it lives on the compose file's internal network only.
bus "nats" {
  url = "nats://nats:4222"
}

# HTTPS. docker-compose.yml mounts ./deploy/tls read-only at /etc/coffer/tls in the gateway: put the certificate
# (then any intermediates) and its key there (docs/operations.md, "TLS", shows how to make a pair for a try).
# SIGHUP re-reads both files without dropping the listener.
listener "tcp" {
  address         = "0.0.0.0:8200"
  tls_cert_file   = "/etc/coffer/tls/cert.pem"
  tls_key_file    = "/etc/coffer/tls/key.pem"
  tls_min_version = "tls12"
}

# The address clients use to reach a gateway (override with $COFFER_API_ADDR).
api_addr  = "https://127.0.0.1:8200"
log_level = "info"
