import type { MountInfo, Operation, PluginAuth, PluginType, PluginToHost } from '#plugin-protocol';
import type { FieldSpec, FieldType, FieldTypeValues } from './fields.js';

export type Fields = Record<string, FieldSpec>;

/** Named groups of a pattern literal: `kv/(?<key>.+)` gives 'key'. */
export type Captures<P extends string> = P extends `${string}(?<${infer Name}>${infer Rest}`
  ? Name | Captures<Rest>
  : P extends `${string}(?P<${infer Name}>${infer Rest}`
    ? Name | Captures<Rest>
    : never;

/** A handler's `data`: every declared field (default or zero applied) plus every named capture, typed. */
export type PathData<P extends string, F extends Fields> = 0 extends 1 & F
  ? any // fields of an inline path are not inferred: use definePath for typed data
  : { [K in keyof F]: FieldTypeValues[F[K]['type'] & FieldType] } & { [K in Exclude<Captures<P>, keyof F>]: string };

export type SystemInfo = PluginToHost['system.info']['result'];

/** The mount's storage. The host scopes every key to the mount; a plugin never reaches another mount's keys. */
export interface Storage {
  get(key: string): Promise<Buffer | null>;
  getString(key: string): Promise<string | null>;
  getJson<T = unknown>(key: string): Promise<T | null>;
  has(key: string): Promise<boolean>;
  /** A string is stored as its UTF-8 bytes. */
  put(key: string, value: Uint8Array | string): Promise<void>;
  putJson(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Vault's listing: the names directly under `prefix`, with a trailing `/` for deeper "folders"; sorted. */
  list(prefix: string): Promise<string[]>;
}

export interface Request<D = any> {
  operation: Operation;
  /** Relative to the mount, as the host sent it. */
  path: string;
  /** Declared fields, converted, defaults applied; named captures of the pattern take priority over the body. */
  data: D;
  /** The request's data as sent (captures included), unconverted, undeclared keys too. */
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
}

/** null means "nothing": the host answers 204 to a write or delete, 404 to a read or list. */
export type HandlerResult = HandlerResponse | null;

export type Handler<D = any> = (req: Request<D>) => Promise<HandlerResult> | HandlerResult;

export type OperationDeclaration<D = any> = Handler<D> | { handler: Handler<D>; summary?: string };

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
  /** Keep body keys that are not declared fields without a warning (Vault's TakesArbitraryInput). */
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
  setup?: (context: MountContext) => Promise<void> | void;
  /** A storage key changed behind the plugin's back: drop what is cached about it. */
  invalidate?: (key: string, mount: MountInfo) => void;
  cleanup?: (context: MountContext) => Promise<void> | void;
}
