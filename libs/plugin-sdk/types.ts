import type { AuthRenewInfo, LeaseInfo, MountInfo, Operation, PluginAuth, PluginSecret, PluginType, PluginToHost } from '#plugin-protocol';
import type { FieldSpec, FieldType, FieldTypeValues } from './fields.js';

export type Fields = Record<string, FieldSpec>;

/** Named groups of a pattern literal: `kv/(?<key>.+)` gives 'key'. */
export type Captures<P extends string> = P extends `${string}(?<${infer Name}>${infer Rest}`
  ? Name | Captures<Rest>
  : P extends `${string}(?P<${infer Name}>${infer Rest}`
    ? Name | Captures<Rest>
    : never;

/**
 * A handler's `data`: every declared field (default or zero applied) plus every named capture, typed. The fields of
 * a path written inline in `defineBackend` are not inferred (TypeScript cannot infer per element of an array), so
 * there `data` is `Record<string, any>`: use `definePath` or `defineRoute` for typed data.
 */
export type PathData<P extends string, F extends Fields> = 0 extends 1 & F
  ? Record<string, any>
  : { [K in keyof F]: FieldTypeValues[F[K]['type'] & FieldType] } & { [K in Exclude<Captures<P>, keyof F>]: string };

export type SystemInfo = PluginToHost['system.info']['result'];

/** A precondition of `Storage.txn`: the key exists or not, or holds exactly these bytes (a string: its UTF-8). */
export type StorageCondition = { key: string; exists: boolean } | { key: string; value: Uint8Array | string };

/** A write of `Storage.txn`: `value` set puts (a string: its UTF-8), `delete: true` deletes. */
export type StorageWrite = { key: string; value: Uint8Array | string } | { key: string; delete: true };

/** The mount's storage. The host scopes every key to the mount; a plugin never reaches another mount's keys. */
export interface Storage {
  get(key: string): Promise<Buffer | null>;
  getString(key: string): Promise<string | null>;
  getJson<T = unknown>(key: string): Promise<T | null>;
  /** Whether the key exists; with protocol 2 the value does not cross the pipe. */
  has(key: string): Promise<boolean>;
  /**
   * All of `writes` or none, applied only if every condition holds at that moment, atomically against every other
   * writer of the mount on every runner (protocol 2). Returns false, having written nothing, when a condition
   * failed: read again and decide again. On a protocol-1 host it throws (it cannot be emulated safely).
   */
  txn(conditions: readonly StorageCondition[], writes: readonly StorageWrite[]): Promise<boolean>;
  /** A string is stored as its UTF-8 bytes. */
  put(key: string, value: Uint8Array | string): Promise<void>;
  putJson(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Vault's listing: the names directly under `prefix`, with a trailing `/` for deeper "folders"; sorted. */
  list(prefix: string): Promise<string[]>;
}

/**
 * What a handler gets. `D` defaults to `unknown`, so a handler annotated `Request` without its data type cannot read
 * `req.data` unchecked: write `RequestOf<typeof route>` (see `defineRoute`) or let `definePath` type it.
 */
export interface Request<D = unknown> {
  operation: Operation;
  /** Relative to the mount, as the host sent it. */
  path: string;
  /** Declared fields, converted, defaults applied; named captures of the pattern take priority over the body. */
  data: D;
  /**
   * The request's data exactly as the host sent it (JSON values, before conversion), with the path's named
   * captures written over it: undeclared keys are here too. For the value as typed, use `data`; `raw` is for what
   * `data` cannot say: whether a key was sent at all (`'k' in req.raw`, even as null), or the keys a path with
   * `takesArbitraryInput` accepts without declaring them (KV's secret data). A GET's or LIST's query parameters are
   * data too (docs/plugin-protocol.md).
   */
  raw: Record<string, unknown>;
  /** Whether a field was given in the request (a default does not count). */
  has(field: string): boolean;
  storage: Storage;
  mount: MountInfo;
  /** "" on unauthenticated paths. */
  tokenAccessor: string;
  requestId: string;
  /** The client's IP address, for CIDR checks; "" when the host did not say (treat as unknown, never as allowed). */
  remoteAddress: string;
  /** The host's facts for this mount (lease TTLs, server version). */
  system(): Promise<SystemInfo>;
}

export interface RawResponse {
  /** Default 200. */
  status?: number;
  contentType: string;
  body: string | Uint8Array;
}

export interface HandlerResponse {
  data?: Record<string, unknown> | null;
  warnings?: string[];
  /** Only from auth backends. */
  auth?: PluginAuth;
  /** A raw HTTP answer instead of Vault's envelope. */
  raw?: RawResponse;
  /**
   * The answer is a secret under a lease (protocol 3): `type` names one of the backend's `secrets`, whose TTLs apply
   * when these leave them out. The host keeps `internal` encrypted and hands it to that secret's renew and revoke.
   */
  secret?: PluginSecret;
}

/** What a secret's renew or revoke gets: the lease, with its internal data, and the mount's storage. */
export interface LeaseRequest {
  lease: LeaseInfo;
  /** The lease's internal data, as the handler that issued it returned it (or a renew replaced it). */
  internal: Record<string, any>;
  /** Seconds the client asked a renewal for; 0 = unspecified. 0 for revoke. */
  increment: number;
  storage: Storage;
  mount: MountInfo;
  system(): Promise<SystemInfo>;
}

export interface RenewResult {
  /** Seconds; absent or 0 = the secret's default TTL. The host caps it at the lease's max TTL. */
  ttl?: number;
  /** Replaces the lease's internal data. */
  internal?: Record<string, unknown>;
  warnings?: string[];
}

/**
 * A kind of secret the backend hands out under a lease, as data (Vault's framework.Secret): its type name, default
 * TTLs, and how to renew and revoke one. Throw a PluginError in `renew` to refuse a renewal.
 */
export interface SecretDeclaration {
  type: string;
  /** Seconds; 0 or absent = the mount's default_lease_ttl. */
  defaultTtl?: number;
  /** Seconds from issue; 0 or absent = the mount's max_lease_ttl. */
  maxTtl?: number;
  /** Without it, this secret's leases are not renewable. */
  renew?: (req: LeaseRequest) => Promise<RenewResult | void> | RenewResult | void;
  /** Must be idempotent: the host may ask again after a crash. A throw makes the host retry later. */
  revoke: (req: LeaseRequest) => Promise<void> | void;
}

/**
 * What a backend's `authRenew` gets (Vault's `req.Auth` in a framework `AuthRenew`): the token's login as the
 * plugin returned it, the increment the client asked for, and the mount's storage to look the identity up again.
 */
export interface AuthRenewRequest {
  auth: AuthRenewInfo;
  /** The login's path relative to the mount (`login/alice`). */
  path: string;
  /** The policies the login returned (before the host added `default`). */
  policies: string[];
  metadata: Record<string, string>;
  /** The login's `auth.internal`, as it returned it ({} when none). */
  internal: Record<string, any>;
  /** Seconds the client asked for; 0 = unspecified. */
  increment: number;
  storage: Storage;
  mount: MountInfo;
  system(): Promise<SystemInfo>;
}

export interface AuthRenewResult {
  /** Seconds; absent or 0 = the token's own TTL (the increment, when the client gave one, still wins). */
  ttl?: number;
  /** Seconds from issue; absent or 0 = no cap of the plugin's beyond the mount's and the server's. */
  maxTtl?: number;
  warnings?: string[];
}

/** null means "nothing": the host answers 204 to a write or delete, 404 to a read or list. */
export type HandlerResult = HandlerResponse | null;

export type Handler<D = unknown> = (req: Request<D>) => Promise<HandlerResult> | HandlerResult;

export type OperationDeclaration<D = unknown> = Handler<D> | { handler: Handler<D>; summary?: string };

/** The request type of a route or path: `async function read(req: RequestOf<typeof users>)`. */
export type RequestOf<R extends { pattern: string; fields?: Fields }> = Request<
  PathData<R['pattern'], R extends { fields?: infer F } ? (F extends Fields ? F : {}) : {}>
>;

export interface PathDeclaration<P extends string = string, F extends Fields = any> {
  /** A regular expression, anchored by the SDK; named groups `(?<name>...)` become string fields. */
  pattern: P;
  fields?: F;
  operations: Partial<Record<Operation, OperationDeclaration<PathData<P, F>>>>;
  /**
   * Decides create vs update: the host asks before a write and sends create when this says false. Without it every
   * write is an update (Vault's rule).
   */
  exists?: (req: Request<PathData<P, F>>) => Promise<boolean> | boolean;
  /**
   * Vault's TakesArbitraryInput: body keys that are not declared fields are accepted without the "Endpoint ignored
   * these unrecognized parameters" warning. They are never in `data` (which holds declared fields only): read them
   * from `req.raw`. For paths whose body is the user's own data, such as a KV secret.
   */
  takesArbitraryInput?: boolean;
  /** One line: what this path is. */
  help?: string;
  /** Longer text for `?help=1`. */
  description?: string;
}

/** Per-mount lifecycle context. */
export interface MountContext {
  mount: MountInfo;
  storage: Storage;
}

export interface BackendDeclaration {
  type: PluginType;
  name: string;
  version: string;
  /** Shown by a help request on the mount's root. */
  help: string;
  /** One process serves every mount (default true); per-mount state must then be keyed by `mount.id`. */
  multiplex?: boolean;
  paths: readonly PathDeclaration<string, any>[];
  /** Paths served without a token: exact, or a prefix ending in `*` (Vault's special paths). */
  unauthenticated?: readonly string[];
  /**
   * Path prefixes ending in `*` whose remainder is a name the plugin folds to lower case (`users/*` in userpass). The
   * host folds it before the ACL, so a deny on `users/admin` also denies `users/ADMIN`.
   */
  caseInsensitive?: readonly string[];
  /** The kinds of secret handed out under leases (protocol 3); a handler's `secret.type` must name one. */
  secrets?: readonly SecretDeclaration[];
  /**
   * Auth backends, protocol 3: asked whenever a token this backend's login issued is renewed (Vault's
   * `framework.Backend.AuthRenew`). Throw a PluginError to refuse (the user is gone, their policies changed): the
   * client gets 400 `failed to renew entry: <message>` and the token keeps its expiry. Without it, tokens renew by
   * the host's rules alone.
   */
  authRenew?: (req: AuthRenewRequest) => Promise<AuthRenewResult | void> | AuthRenewResult | void;
  setup?: (context: MountContext) => Promise<void> | void;
  /** A storage key changed behind the plugin's back: drop what is cached about it. */
  invalidate?: (key: string, mount: MountInfo) => void;
  cleanup?: (context: MountContext) => Promise<void> | void;
  /**
   * Vault's framework PeriodicFunc (protocol 3): scheduled work for a mount, such as rotating a password when it is
   * due. The host calls it about once per tick (`COFFER_PERIODIC_TICK_MS`, default 5 s), for each mount on one process
   * of the whole cluster. It must be safe to run again after a crash part-way (record an intent first), and a throw
   * is logged by the host and tried again at the next tick. Without it the protocol's `periodic` answers -32601.
   */
  periodic?: (context: MountContext) => Promise<void> | void;
}
