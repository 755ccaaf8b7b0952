import type { ServiceName } from '../contracts/subjects.js';

export type { ServiceName };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `plugin_sandbox`: auto picks the strongest level the platform allows; none runs plugins as the runner's user. */
export const PLUGIN_SANDBOXES = ['auto', 'bwrap', 'uid', 'none'] as const;
export type PluginSandboxSetting = (typeof PLUGIN_SANDBOXES)[number];
/** Vault's `log_format`: `standard` is readable lines, `json` one JSON object per line. */
export const LOG_FORMATS = ['standard', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The server's configuration after merging every file, filling defaults and checking it as a whole. */
export interface CofferConfig {
  /** Absolute; where plugin executables live. Unset means "no external plugins". */
  pluginDirectory?: string;
  pluginFileUid?: number;
  /** A file mode (e.g. 0o755) as a number, parsed from Vault's octal string. */
  pluginFilePermissions?: number;
  apiAddr?: string;
  logLevel: LogLevel;
  /** Unset: readable lines when stdout is a terminal, JSON otherwise. */
  logFormat?: LogFormat;
  /** Seconds. */
  defaultLeaseTtl: number;
  /** Seconds. */
  maxLeaseTtl: number;
  /** How plugins are confined (docs/security.md); `auto` when no file says. */
  pluginSandbox?: PluginSandboxSetting;
  /** A user name or uid for plugin processes; `nobody` when unset and the runner runs as root. */
  pluginRunAsUser?: string;
  /** A group name or gid; the user's primary group when unset. */
  pluginRunAsGroup?: string;
  /** Address-space limit of each plugin process, in MiB (Node needs ~1 GiB of it just to start). */
  pluginMaxMemoryMb?: number;
  /** RLIMIT_NPROC of the plugin user: processes and threads. */
  pluginMaxProcesses?: number;
  /** Which services this process starts; all of them when the config names none. */
  services: ServiceName[];
  /** The web UI at /ui/ (Vault's `ui`); off unless a file says true. The dev server turns it on. */
  ui?: boolean;
  /** Unset when no file declares one: the server command decides whether that is an error (the dev server has its own). */
  storage?: PostgresStorageConfig;
  bus?: NatsBusConfig;
  /** Never empty: 127.0.0.1:8200 without TLS when no file declares a listener. */
  listeners: TcpListenerConfig[];
  /** The files read, in the order they were merged. */
  sources: string[];
}

export interface PostgresStorageConfig {
  type: 'postgresql';
  /** Secret: carries the database password. Never log it; see redactConfig. */
  connectionUrl: string;
  maxConnections?: number;
}

/** Vault's spellings of a TLS version; they sort in version order. */
export type TlsVersion = 'tls10' | 'tls11' | 'tls12' | 'tls13';

export interface TcpListenerConfig {
  type: 'tcp';
  /** host:port, IPv6 hosts in brackets. */
  address: string;
  tlsDisable: boolean;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsMinVersion?: TlsVersion;
  tlsMaxVersion?: TlsVersion;
  /** OpenSSL's names (Node's `ciphers`), from Go's names as written in the config; unset = Node's defaults. */
  tlsCipherSuites?: string[];
  /** PEM CA(s) a client certificate is checked against; setting it makes the listener ask for one. */
  tlsClientCaFile?: string;
  /** Refuse a connection without a valid client certificate. */
  tlsRequireAndVerifyClientCert?: boolean;
  /** Bytes. */
  maxRequestSize: number;
  /** Vault's JSON limits: nesting depth, characters of one string value, entries of one object, elements of one array. */
  // Optional so a listener built in code (the dev server's) gets Vault's defaults from the gateway.
  maxJsonDepth?: number;
  maxJsonStringValueLength?: number;
  maxJsonObjectEntryCount?: number;
  maxJsonArrayElementCount?: number;
}

export interface NatsBusConfig {
  type: 'nats';
  /** From `url`, which may list several servers separated by commas. */
  servers: string[];
  name?: string;
  user?: string;
  /** Secret. */
  password?: string;
  /** Secret. */
  token?: string;
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /**
   * Keeps this cluster's subjects apart from any other cluster on the same NATS server: `coffer.<namespace>.…`
   * instead of `coffer.…`. Every process of a cluster must name the same one.
   */
  namespace?: string;
  /** The role's nkey seed (NATS nkey authentication: the seed never leaves this process, only a signature does). */
  nkeySeedFile?: string;
  /** 32 random bytes shared by the cluster's services: mixed into every keyring exchange (membership proof). */
  membershipKeyFile?: string;
  /** The role's reply inbox prefix (`_INBOX_<role>`): its subscribe permission covers only its own replies. */
  inboxPrefix?: string;
}
