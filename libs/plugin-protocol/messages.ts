/**
 * Coffer plugin protocol, version 1: the messages. The rules (framing, timeouts, crash semantics, environment) are
 * in docs/plugin-protocol.md; the JSON Schemas in ./schemas/ say the same as these types, and both sides validate
 * against them.
 */

export const PROTOCOL_VERSION = 1;

/** Set in the plugin's environment by the host; a plugin started without it is being run by hand. */
export const MAGIC_ENV = 'COFFER_PLUGIN_MAGIC';
export const MAGIC_VALUE = 'd2a1f6b4-coffer-plugin-v1';
export const PROTOCOL_ENV = 'COFFER_PLUGIN_PROTOCOL';

export type PluginType = 'secret' | 'auth';

/** The plugin's first line on stdout: not JSON-RPC, just this object. */
export interface Hello {
  coffer: 'plugin';
  protocol: number;
  type: PluginType;
  name: string;
  version: string;
  multiplex: boolean;
}

export type Operation = 'read' | 'list' | 'create' | 'update' | 'delete' | 'patch';

/** What the host tells a plugin about the mount a call is for. */
export interface MountInfo {
  /** Opaque id; every call for this mount carries it, and storage calls must pass it back. */
  id: string;
  path: string;
  accessor: string;
  type: string;
  config: { defaultLeaseTtl: number; maxLeaseTtl: number };
  options: Record<string, string>;
}

export interface PluginRequest {
  operation: Operation;
  /** Relative to the mount, no leading slash. */
  path: string;
  data: Record<string, unknown>;
  /** Accessor of the calling token, "" for unauthenticated paths. */
  tokenAccessor: string;
  requestId: string;
  /**
   * The client's IP address as the host's listener saw it (Vault's `req.Connection.RemoteAddr`), for CIDR checks
   * such as AppRole's `secret_id_bound_cidrs`. Optional: hosts before it was added do not send it, and a plugin must
   * treat its absence as "unknown" (refuse what needs it), never as "allowed".
   */
  remoteAddress?: string;
}

export interface PluginAuth {
  /** Policies the issued token gets. */
  policies: string[];
  metadata?: Record<string, string>;
  displayName?: string;
  /** Seconds; 0 = the mount's default. */
  ttl?: number;
  maxTtl?: number;
  renewable?: boolean;
  numUses?: number;
  /**
   * CIDR blocks (or bare IPs) the issued token may be used from (Vault's `Auth.BoundCIDRs`, from `token_bound_cidrs`):
   * the host refuses the token on a request from any other address. Optional and additive: older hosts ignore it.
   */
  boundCidrs?: string[];
}

export interface PluginResponse {
  data?: Record<string, unknown> | null;
  warnings?: string[];
  /** Only from auth plugins, and never together with an error. */
  auth?: PluginAuth;
  /** A raw HTTP answer (Vault's http_raw_body). */
  raw?: { status: number; contentType: string; bodyBase64: string };
}

/** The kinds of error a plugin may report; the host maps them to Vault's status codes. */
export const PLUGIN_ERROR_KINDS = [
  'invalid-request',
  'permission-denied',
  'unsupported-path',
  'unsupported-operation',
  'not-found',
  'internal',
] as const;
export type PluginErrorKind = (typeof PLUGIN_ERROR_KINDS)[number];

/** Host → plugin methods, with params and result. */
export interface HostToPlugin {
  setup: { params: { mount: MountInfo }; result: Record<string, never> };
  handle: { params: { mount: string; request: PluginRequest }; result: { response: PluginResponse | null } };
  exists: { params: { mount: string; request: PluginRequest }; result: { checkFound: boolean; exists: boolean } };
  specialPaths: { params: Record<string, never>; result: { unauthenticated: string[] } };
  invalidate: { params: { mount: string; key: string }; result: Record<string, never> };
  cleanup: { params: { mount: string }; result: Record<string, never> };
  shutdown: { params: Record<string, never>; result: Record<string, never> };
  /**
   * Optional: the help text of a path relative to the mount ("" is the mount's root), for Vault's `?help=1`. A
   * plugin without help answers -32601 (method not found), which the host reports as "no help available".
   */
  help: { params: { mount: string; path: string }; result: { help: string } };
}

/** Plugin → host methods: storage scoped to a mount the host set up on this process, and system facts. */
export interface PluginToHost {
  'storage.get': { params: { mount: string; key: string }; result: { value: string | null } };
  'storage.put': { params: { mount: string; key: string; value: string }; result: Record<string, never> };
  'storage.delete': { params: { mount: string; key: string }; result: Record<string, never> };
  'storage.list': { params: { mount: string; prefix: string }; result: { keys: string[] } };
  'system.info': { params: { mount: string }; result: { defaultLeaseTtl: number; maxLeaseTtl: number; version: string } };
}

/** JSON-RPC 2.0 error codes used by Coffer (the -32000 range is ours). */
export const RPC_ERRORS = {
  parse: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  /** A handler's error: `data.kind` says which, `message` is shown to the user. */
  plugin: -32000,
} as const;
