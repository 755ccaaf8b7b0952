# Coffer's configuration for the containers of docker-compose.yml, mounted read-only at /etc/coffer/config.d.
# Every service reads the same files; `-service=NAME` on the command line picks what a container runs.
# Files in this directory are merged in name order; add e.g. 20-tls.hcl rather than editing this one.

# Plugin executables, shipped in the image (root-owned, read-only to Coffer). Register them by SHA-256 before mounting.
plugin_directory = "/var/lib/coffer/plugins"

# No password here: docker-compose.yml sets $COFFER_PG_CONNECTION_URL (which overrides this key) from
# COFFER_POSTGRES_PASSWORD in .env, which it requires.
storage "postgresql" {
  connection_url = "postgres://coffer@postgres:5432/coffer?sslmode=disable"
}

# NATS carries the keyring when the cluster unseals: it lives on the compose file's internal network only.
bus "nats" {
  url = "nats://nats:4222"
}

# Plain HTTP inside the container. In production, terminate TLS in front of the published ports, or mount a
# certificate and set tls_cert_file / tls_key_file (and remove tls_disable) in a file of your own.
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

# The address clients use to reach a gateway (override with $COFFER_API_ADDR).
api_addr  = "http://127.0.0.1:8200"
log_level = "info"
