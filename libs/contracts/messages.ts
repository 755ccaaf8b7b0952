import type { Operation } from './operations.js';
import type { ServiceName, StreamName } from './subjects.js';
import type { WireError } from './errors.js';

/** What crosses the bus as a reply: data, or a coded error. Never a stack trace. */
export type Reply<T> = { ok: true; data: T } | { ok: false; error: WireError };

export interface ProjectionStatus {
  /** Last applied version of the stream. */
  version: number;
  /** Number of live entries in the projection (catalog entries, mounts, policies). */
  entries: number;
}

export interface ServiceStatus {
  service: ServiceName;
  /** Identifies the answering process, so callers can tell instances apart. */
  instance: string;
  pid: number;
  startedAt: string;
  sealed: boolean;
  projections: Partial<Record<StreamName, ProjectionStatus>>;
}

/** A census (subjects.census): answer to this subject. */
export interface CensusRequest {
  replyTo: string;
}

/** One running instance as it describes itself to a census. Nothing secret: it is shown to operators as it is. */
export interface InstanceState {
  service: ServiceName;
  instance: string;
  host: string;
  pid: number;
  version: string;
  startedAt: string;
  /** `sealed` until this process holds the keyring; `unsealed` after. */
  state: 'sealed' | 'unsealed';
}

export interface StreamAppended {
  stream: StreamName;
  version: number;
  position: string;
}

export interface CatalogListRequest {
  type?: 'secret' | 'auth';
}

export interface CatalogEntrySummary {
  type: 'secret' | 'auth';
  name: string;
  version: string;
  sha256: string;
  builtin: boolean;
}

export interface CatalogListing {
  entries: CatalogEntrySummary[];
}

/**
 * `coffer.barrier.unsealed`: says only that the cluster unsealed. The keyring itself travels on
 * `coffer.barrier.keyring`, sealed to the requester's ephemeral X25519 key (libs/runtime/keyring-exchange.ts).
 */
export type UnsealedNotice = Record<string, never>;

/**
 * Who asked for a change: the request id (which the audit log carries too) and the caller's token accessor (never
 * the token). A command writes it, as it is, as the metadata of the events it appends (stored in clear).
 */
export interface EventActor {
  requestId: string;
  actorAccessor: string;
}

export interface CatalogRegisterRequest {
  /** Absent for the legacy untyped endpoint: learnt by running the plugin. */
  type?: 'secret' | 'auth';
  actor?: EventActor;
  name: string;
  version?: string;
  sha256?: string;
  command?: string;
  args?: string[];
  env?: string[];
}

export interface CatalogEntryKey {
  type?: 'secret' | 'auth';
  /** On deregistration: who asked. */
  actor?: EventActor;
  name: string;
  version?: string;
}

export interface CatalogEntryView {
  type: 'secret' | 'auth';
  name: string;
  version: string;
  sha256: string;
  command: string;
  args: string[];
  /** The names of the entry's `env` (never the values, which may be credentials): what the plugin is started with. */
  env_names: string[];
  /** A plugin of this build (dist/builtin-plugins.json), not a registration. */
  builtin: boolean;
}

export interface PluginProbeRequest {
  name: string;
  command: string;
  args: string[];
  env: string[];
  sha256: string;
  /** A catalog builtin: run from this build's dist/plugins, not from plugin_directory (its SHA-256 still checked). */
  builtin?: boolean;
}

export interface PluginProbeResult {
  type: 'secret' | 'auth';
  name: string;
  version: string;
  multiplex: boolean;
}

export type MountTable = 'secret' | 'auth';

export interface MountRef {
  table: MountTable;
  /** With or without the trailing `/`; auth paths without `auth/`. */
  path: string;
  /** On enable, disable and tune: who asked. */
  actor?: EventActor;
}

export interface MountEnableRequest extends MountRef {
  /** Vault's `type`: a plugin name, or "plugin" with `pluginName`. */
  type: string;
  pluginName?: string;
  description?: string;
  config?: { defaultLeaseTtl?: number; maxLeaseTtl?: number; forceNoCache?: boolean; pluginVersion?: string };
  options?: Record<string, string> | null;
  local?: boolean;
  sealWrap?: boolean;
}

export interface MountTuneRequest extends MountRef {
  description?: string;
  config?: {
    defaultLeaseTtl?: number;
    maxLeaseTtl?: number;
    pluginVersion?: string;
    auditNonHmacRequestKeys?: string[];
    auditNonHmacResponseKeys?: string[];
  };
  options?: Record<string, string> | null;
}

export interface MountRemountRequest {
  table: MountTable;
  actor?: EventActor;
  from: string;
  to: string;
}

export interface RemountStatus {
  migrationId: string;
  sourceMount: string;
  targetMount: string;
  status: 'in-progress' | 'success' | 'failure';
}

/** A request for a mount's plugin: which mount (uuid), and the request relative to the mount. */
export interface MountCall {
  mount: string;
  request: {
    operation: Operation;
    path: string;
    data: Record<string, unknown>;
    tokenAccessor: string;
    requestId: string;
    /** The client's IP as the gateway's listener saw it; optional so older gateways' calls stay valid. */
    remoteAddress?: string;
  };
}

/**
 * A write whose operation the plugin's existence check decides (Vault's create or update), sent once: the gateway
 * judged both operations against the caller's ACL (`allowed`), and the runner has the plugin check and write in one
 * call, answering 403 when the check picks an operation `allowed` refuses. At least one of the two is true (the
 * gateway refuses the request itself otherwise). `request.operation` is `update`.
 */
export interface MountWrite extends MountCall {
  allowed: { create: boolean; update: boolean };
}

/** The runner's answer to a `MountWrite`: the operation the existence check picked, and the plugin's response. */
export interface MountWriteReply {
  operation: 'create' | 'update';
  response: MountResponse | null;
}

/**
 * What a mount's plugin answered, as the runner hands it on (the plugin protocol's response, already checked
 * against the protocol's schema by the runner): the gateway turns it into Vault's envelope.
 */
export interface MountResponse {
  data?: Record<string, unknown> | null;
  /** A secret under a lease (never with `auth` or `raw`). */
  secret?: MountSecret;
  warnings?: string[];
  /** A login: the gateway issues the token (auth mounts only). */
  auth?: MountAuth;
  /** A raw HTTP answer (Vault's http_raw_body). */
  raw?: { status: number; contentType: string; bodyBase64: string };
}

export interface MountAuth {
  policies: string[];
  metadata?: Record<string, string>;
  displayName?: string;
  /** Seconds; 0 = the mount's default. */
  ttl?: number;
  maxTtl?: number;
  renewable?: boolean;
  numUses?: number;
  /** CIDR blocks (or bare IPs) the issued token may be used from. */
  boundCidrs?: string[];
  /** What the plugin needs back when the token is renewed (its renewAuth); kept encrypted, never shown. */
  internal?: Record<string, unknown>;
}

/** A secret under a lease: `internal` is kept encrypted by the gateway and handed back for renew and revoke. */
export interface MountSecret {
  type: string;
  internal: Record<string, unknown>;
  /** Seconds; 0 or absent = the mount's default_lease_ttl. */
  ttl?: number;
  /** Seconds from issue; 0 or absent = the mount's max_lease_ttl. */
  maxTtl?: number;
  /** Default true. */
  renewable?: boolean;
}

/** Keys of one mount to delete by prefix (each a whole scope, ending in `/`), e.g. revoked tokens' cubbyholes. */
export interface StorageScopesDelete {
  mount: string;
  prefixes: string[];
}

/** A lease for the plugin of a mount to renew or revoke (the protocol's LeaseInfo, with the mount's uuid). */
export interface LeaseCall {
  mount: string;
  lease: { id: string; type: string; internal: Record<string, unknown>; issueTime: string; ttl: number };
  /** Seconds the client asked a renewal for; 0 = unspecified. */
  increment?: number;
}

/**
 * A token an auth mount's login issued, for its plugin to judge a renewal of (protocol 3 `renewAuth`, Vault's
 * AuthRenew): the protocol's AuthRenewInfo with the mount's uuid.
 */
export interface AuthRenewCall {
  mount: string;
  auth: {
    path: string;
    policies: string[];
    metadata: Record<string, string>;
    internal: Record<string, unknown>;
    displayName: string;
    issueTime: string;
    ttl: number;
  };
  /** Seconds the client asked for; 0 = unspecified. */
  increment?: number;
}

/**
 * The runner's answer to an AuthRenewCall. `implemented: false`: the plugin has no renewAuth (answered -32601, or
 * speaks protocol < 3), so the token renews by the gateway's rules alone. A refusal is an error reply, never this.
 */
export interface AuthRenewAnswer {
  implemented: boolean;
  ttl?: number;
  maxTtl?: number;
  warnings?: string[];
}

export interface PluginReloadRequest {
  plugin?: string;
  /** Mount uuids. */
  mounts?: string[];
  /** Vault's reload_id: when set, each runner reports on `runnerSubjects.reloaded` as it starts and finishes. */
  reloadId?: string;
}

/** One runner's report on one reload (`runnerSubjects.reloaded`): `started` first, then `completed` or `failed`. */
export interface PluginReloadReport {
  reloadId: string;
  /** The runner instance (`ServiceStatus.instance`). */
  runner: string;
  status: 'started' | 'completed' | 'failed';
  /** ISO 8601. */
  at: string;
  /** Why it failed; "" otherwise. */
  message: string;
}

/** `runnerSubjects.presence`: a runner that can take mount calls on its direct subjects, or one that is leaving. */
export interface RunnerPresence {
  instance: string;
  /** `serving`: unsealed and subscribed; `leaving`: stopping (or sealed): hash its mounts elsewhere at once. */
  state: 'serving' | 'leaving';
}

/** `runnerSubjects.storageWrites`: a write of the mount's plugin storage by `instance` starts, or has committed. */
export interface StorageWriteNotice {
  instance: string;
  mount: string;
  phase: 'start' | 'end';
}
