import type { CofferConfig, NatsBusConfig, PostgresStorageConfig, TcpListenerConfig } from './types.js';
import { SERVICE_NAMES } from '../contracts/subjects.js';
import { LOG_FORMATS, LOG_LEVELS, PLUGIN_SANDBOXES } from './types.js';
import * as kind from './values.js';
import type { Kind } from './values.js';

/**
 * Every key Coffer reads, as data. Parsing, defaults, required keys, environment overrides, error messages,
 * redaction and what a SIGHUP may change all derive from these tables, so a new key is one line here.
 */

/** The top-level keys that are single values (blocks are below). */
export type Settings = Pick<
  CofferConfig,
  | 'pluginDirectory'
  | 'pluginFileUid'
  | 'pluginFilePermissions'
  | 'apiAddr'
  | 'logLevel'
  | 'logFormat'
  | 'defaultLeaseTtl'
  | 'maxLeaseTtl'
  | 'services'
  | 'pluginSandbox'
  | 'pluginRunAsUser'
  | 'pluginRunAsGroup'
  | 'pluginMaxMemoryMb'
  | 'pluginMaxProcesses'
  | 'ui'
>;
export type PostgresFields = Omit<PostgresStorageConfig, 'type'>;
export type TcpListenerFields = Omit<TcpListenerConfig, 'type'>;
export type NatsBusFields = Omit<NatsBusConfig, 'type'>;

interface FieldSpec<T, F extends keyof T> {
  field: F;
  kind: Kind<Exclude<T[F], undefined>>;
  /** Marks a secret and says how to show it in logs. Errors never show a secret's value at all. */
  redact?: (value: Exclude<T[F], undefined>) => Exclude<T[F], undefined>;
  /** A running server can take a new value on SIGHUP; every other key needs a restart. */
  reloadable?: boolean;
  required?: boolean;
  /** Used when no file sets the key. */
  fallback?: Exclude<T[F], undefined>;
  /** Environment variables that override the files; the first one set wins. */
  env?: readonly string[];
}

/** Accepted so that a Vault config loads unchanged, type-checked, then dropped: Coffer has no use for it. */
export interface IgnoredKey {
  ignored: true;
  kind: Kind<unknown>;
}

export type KeySpec<T> = { [F in keyof T]-?: FieldSpec<T, F> }[keyof T];
export type KeyTable<T> = Readonly<Record<string, KeySpec<T> | IgnoredKey>>;

/** A check across the keys of one block; names the key to blame. */
export type BlockRule<T> = (fields: Partial<T>) => { key: string; problem: string } | undefined;

export interface BlockType<T> {
  keys: KeyTable<T>;
  rules: readonly BlockRule<T>[];
}

/** Replaces a whole secret value; the project logger's censor, so every redaction reads the same. */
export const REDACTED = '[redacted]';
/** Replaces a password inside a URL, where brackets would be percent-encoded. */
const REDACTED_IN_URL = 'redacted';

/** Vault's system default for both lease TTLs: 32 days. */
export const DEFAULT_LEASE_TTL = 768 * 3600;

export const SETTINGS: KeyTable<Settings> = {
  plugin_directory: { field: 'pluginDirectory', kind: kind.absolutePath },
  plugin_file_uid: { field: 'pluginFileUid', kind: kind.integer(0) },
  plugin_file_permissions: { field: 'pluginFilePermissions', kind: kind.octalMode },
  api_addr: { field: 'apiAddr', kind: kind.httpUrl, env: ['COFFER_API_ADDR', 'VAULT_API_ADDR'] },
  log_level: {
    field: 'logLevel',
    kind: kind.oneOf(LOG_LEVELS),
    fallback: 'info',
    reloadable: true,
    env: ['COFFER_LOG_LEVEL', 'VAULT_LOG_LEVEL'],
  },
  log_format: { field: 'logFormat', kind: kind.oneOf(LOG_FORMATS), env: ['COFFER_LOG_FORMAT', 'VAULT_LOG_FORMAT'] },
  default_lease_ttl: { field: 'defaultLeaseTtl', kind: kind.duration, fallback: DEFAULT_LEASE_TTL, reloadable: true },
  max_lease_ttl: { field: 'maxLeaseTtl', kind: kind.duration, fallback: DEFAULT_LEASE_TTL, reloadable: true },
  services: { field: 'services', kind: kind.listOf(kind.oneOf(SERVICE_NAMES)), fallback: [...SERVICE_NAMES] },
  // The plugin sandbox (apps/plugin-runner/src/sandbox.ts, docs/security.md): a restart applies a change. Unset means
  // auto, 2048 MiB and 1024 processes (the runner's defaults).
  plugin_sandbox: { field: 'pluginSandbox', kind: kind.oneOf(PLUGIN_SANDBOXES) },
  plugin_run_as_user: { field: 'pluginRunAsUser', kind: kind.text },
  plugin_run_as_group: { field: 'pluginRunAsGroup', kind: kind.text },
  plugin_max_memory_mb: { field: 'pluginMaxMemoryMb', kind: kind.integer(256) },
  plugin_max_processes: { field: 'pluginMaxProcesses', kind: kind.integer(16) },
  ui: { field: 'ui', kind: kind.boolean },
  disable_mlock: { ignored: true, kind: kind.boolean },
};

export const POSTGRESQL: BlockType<PostgresFields> = {
  keys: {
    connection_url: {
      field: 'connectionUrl',
      kind: kind.postgresUrl,
      redact: redactUrlPassword,
      required: true,
      env: ['COFFER_PG_CONNECTION_URL', 'VAULT_PG_CONNECTION_URL'],
    },
    max_connections: { field: 'maxConnections', kind: kind.integer(1) },
  },
  rules: [],
};

export const TCP_LISTENER: BlockType<TcpListenerFields> = {
  keys: {
    address: { field: 'address', kind: kind.listenAddress, fallback: '127.0.0.1:8200' },
    tls_disable: { field: 'tlsDisable', kind: kind.boolean, fallback: false },
    // A SIGHUP re-reads the certificate files, so rotating a certificate needs no restart (as in Vault).
    tls_cert_file: { field: 'tlsCertFile', kind: kind.text, reloadable: true },
    tls_key_file: { field: 'tlsKeyFile', kind: kind.text, reloadable: true },
    // Vault's spellings. Unset means Vault's defaults (tls12 to tls13), applied where the listener is built, so a
    // plain listener's config carries no TLS settings it does not use.
    tls_min_version: { field: 'tlsMinVersion', kind: kind.tlsVersion },
    tls_max_version: { field: 'tlsMaxVersion', kind: kind.tlsVersion },
    // Go's suite names, kept as OpenSSL's (what Node takes). TLS 1.3 suites keep their defaults unless named.
    tls_cipher_suites: { field: 'tlsCipherSuites', kind: kind.cipherSuites },
    tls_client_ca_file: { field: 'tlsClientCaFile', kind: kind.text },
    tls_require_and_verify_client_cert: { field: 'tlsRequireAndVerifyClientCert', kind: kind.boolean },
    // Vault's default. Vault lets a negative value lift the limit; Coffer does not, an unbounded body is a DoS.
    max_request_size: { field: 'maxRequestSize', kind: kind.integer(1), fallback: 32 * 1024 * 1024 },
    // Vault's JSON parsing limits: a request past one is a 400 before any handler runs. Absent, the gateway uses
    // Vault's defaults (apps/gateway/src/http/json-limits.ts), so a listener built in code gets them too.
    max_json_depth: { field: 'maxJsonDepth', kind: kind.integer(1) },
    max_json_string_value_length: { field: 'maxJsonStringValueLength', kind: kind.integer(1) },
    max_json_object_entry_count: { field: 'maxJsonObjectEntryCount', kind: kind.integer(1) },
    max_json_array_element_count: { field: 'maxJsonArrayElementCount', kind: kind.integer(1) },
  },
  rules: [
    (l) => (l.tlsDisable || l.tlsCertFile ? undefined : { key: 'tls_cert_file', problem: 'is required unless tls_disable = true' }),
    (l) => (l.tlsDisable || l.tlsKeyFile ? undefined : { key: 'tls_key_file', problem: 'is required unless tls_disable = true' }),
    (l) =>
      l.tlsMinVersion && l.tlsMaxVersion && l.tlsMinVersion > l.tlsMaxVersion
        ? { key: 'tls_max_version', problem: 'must not be lower than tls_min_version' }
        : undefined,
  ],
};

export const NATS_BUS: BlockType<NatsBusFields> = {
  keys: {
    url: {
      field: 'servers',
      kind: kind.natsServers,
      redact: (servers) => servers.map(redactUrlCredentials),
      required: true,
      env: ['COFFER_NATS_URL'],
    },
    name: { field: 'name', kind: kind.text },
    user: { field: 'user', kind: kind.text },
    password: { field: 'password', kind: kind.text, redact: () => REDACTED },
    token: { field: 'token', kind: kind.text, redact: () => REDACTED },
    tls_ca_file: { field: 'tlsCaFile', kind: kind.text, env: ['COFFER_NATS_TLS_CA_FILE'] },
    tls_cert_file: { field: 'tlsCertFile', kind: kind.text },
    tls_key_file: { field: 'tlsKeyFile', kind: kind.text },
    namespace: { field: 'namespace', kind: kind.subjectToken, env: ['COFFER_NATS_NAMESPACE'] },
    // Written by `coffer operator bus-config`: the role's nkey seed, the cluster's membership key, the role's inbox.
    nkey_seed_file: { field: 'nkeySeedFile', kind: kind.absolutePath, env: ['COFFER_NATS_NKEY_SEED_FILE'] },
    membership_key_file: { field: 'membershipKeyFile', kind: kind.absolutePath, env: ['COFFER_NATS_MEMBERSHIP_KEY_FILE'] },
    inbox_prefix: { field: 'inboxPrefix', kind: kind.subjectToken, env: ['COFFER_NATS_INBOX_PREFIX'] },
  },
  rules: [
    (b) => (b.user && !b.password ? { key: 'password', problem: 'is required when "user" is set' } : undefined),
    (b) => (b.password && !b.user ? { key: 'user', problem: 'is required when "password" is set' } : undefined),
    (b) => (b.token && b.user ? { key: 'token', problem: 'cannot be combined with "user": choose one way to authenticate' } : undefined),
    (b) => (b.nkeySeedFile && (b.user || b.token) ? { key: 'nkey_seed_file', problem: 'cannot be combined with "user" or "token": choose one way to authenticate' } : undefined),
    (b) => (b.tlsCertFile && !b.tlsKeyFile ? { key: 'tls_key_file', problem: 'is required when "tls_cert_file" is set' } : undefined),
    (b) => (b.tlsKeyFile && !b.tlsCertFile ? { key: 'tls_cert_file', problem: 'is required when "tls_key_file" is set' } : undefined),
  ],
};

/** The block kinds: `storage "postgresql" { ... }` and friends. Only listeners may repeat. */
export const BLOCKS = {
  storage: { repeatable: false, types: { postgresql: POSTGRESQL } },
  listener: { repeatable: true, types: { tcp: TCP_LISTENER } },
  bus: { repeatable: false, types: { nats: NATS_BUS } },
} as const;
export type BlockName = keyof typeof BLOCKS;

export const TOP_LEVEL_KEYS: readonly string[] = [...Object.keys(SETTINGS), ...Object.keys(BLOCKS)];

export function isIgnored<T>(spec: KeySpec<T> | IgnoredKey): spec is IgnoredKey {
  return 'ignored' in spec;
}

/** The table's entries that hold a value, with their keys. */
export function fieldsOf<T>(table: KeyTable<T>): [key: string, spec: KeySpec<T>][] {
  return Object.entries(table).filter((entry): entry is [string, KeySpec<T>] => !isIgnored(entry[1]));
}

/**
 * Hides the password of a URL (userinfo or a `password` query parameter) and keeps the rest, which is what an
 * operator needs to see which database or server is meant. An unparseable value is hidden whole.
 */
export function redactUrlPassword(value: string): string {
  return redactUrl(value, false);
}

/** As redactUrlPassword, and also hides a user name that stands alone: NATS reads `nats://TOKEN@host` as a token. */
export function redactUrlCredentials(value: string): string {
  return redactUrl(value, true);
}

function redactUrl(value: string, loneUserIsSecret: boolean): string {
  if (!value.includes('://')) return value; // host:port carries no credentials
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return REDACTED;
  }
  let hidden = false;
  if (url.password !== '') {
    url.password = REDACTED_IN_URL;
    hidden = true;
  } else if (loneUserIsSecret && url.username !== '') {
    url.username = REDACTED_IN_URL;
    hidden = true;
  }
  if (url.searchParams.has('password')) {
    url.searchParams.set('password', REDACTED_IN_URL);
    hidden = true;
  }
  return hidden ? url.toString() : value;
}
