/**
 * Coffer plugin protocol, versions 1 and 2: the messages. Version 2 adds `storage.exists` and `storage.txn`. The rules (framing, timeouts, crash semantics, environment) are
 * in docs/plugin-protocol.md; the JSON Schemas in ./schemas/ say the same as these types, and both sides validate
 * against them.
 */

/** The newest protocol version this code speaks. */
export const PROTOCOL_VERSION = 2;
/** Every version this code speaks, oldest first: the handshake settles on the newest both sides share. */
export const PROTOCOL_VERSIONS: readonly number[] = [1, 2];

/** Set in the plugin's environment by the host; a plugin started without it is being run by hand. */
export const MAGIC_ENV = 'COFFER_PLUGIN_MAGIC';
export const MAGIC_VALUE = 'd2a1f6b4-coffer-plugin-v1';
/** Always `1`, as protocol-1 plugins expect it (they refuse anything else). */
export const PROTOCOL_ENV = 'COFFER_PLUGIN_PROTOCOL';
/** The versions the host speaks, comma separated (`1,2`); a plugin answers in its hello with one of them. */
export const PROTOCOLS_ENV = 'COFFER_PLUGIN_PROTOCOLS';
/** The methods a protocol-1 session does not have: refused (-32601) when a plugin that said 1 calls them. */
export const PROTOCOL_2_METHODS: readonly string[] = ['storage.exists', 'storage.txn'];

/**
 * The version a plugin speaking `mine` says in its hello, given the host's environment: the newest in both lists.
 * A host without COFFER_PLUGIN_PROTOCOLS speaks COFFER_PLUGIN_PROTOCOL alone (protocol 1 hosts). null: none shared.
 */
export function negotiateProtocol(env: { [name: string]: string | undefined }, mine: readonly number[] = PROTOCOL_VERSIONS): number | null {
  const offered = (env[PROTOCOLS_ENV] ?? env[PROTOCOL_ENV] ?? '1')
    .split(',')
    .map((v) => Number(v.trim()))
    .filter((v) => Number.isInteger(v));
  const shared = mine.filter((v) => offered.includes(v));
  return shared.length ? Math.max(...shared) : null;
}

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

import type { Operation } from '../contracts/operations.js';

/** Vault's logical operations: the one list in libs/contracts (a file that imports nothing). */
export type { Operation };

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
  /**
   * `caseInsensitive`: `*`-suffixed prefixes under which the plugin folds the rest of the path to lower case (a
   * userpass username): the host folds it first, so the ACL judges the name the plugin will act on.
   */
  specialPaths: { params: Record<string, never>; result: { unauthenticated: string[]; caseInsensitive?: string[] } };
  invalidate: { params: { mount: string; key: string }; result: Record<string, never> };
  cleanup: { params: { mount: string }; result: Record<string, never> };
  shutdown: { params: Record<string, never>; result: Record<string, never> };
  /**
   * Optional: the help text of a path relative to the mount ("" is the mount's root), for Vault's `?help=1`. A
   * plugin without help answers -32601 (method not found), which the host reports as "no help available".
   */
  help: { params: { mount: string; path: string }; result: { help: string } };
}

/** One precondition of a `storage.txn`: the key exists (or not), or holds exactly these bytes (base64). */
export type StorageCheck = { key: string; exists: boolean } | { key: string; value: string };

/** One write of a `storage.txn`. */
export type StorageOp = { op: 'put'; key: string; value: string } | { op: 'delete'; key: string };

/** Plugin → host methods: storage scoped to a mount the host set up on this process, and system facts. */
export interface PluginToHost {
  'storage.get': { params: { mount: string; key: string }; result: { value: string | null } };
  'storage.put': { params: { mount: string; key: string; value: string }; result: Record<string, never> };
  'storage.delete': { params: { mount: string; key: string }; result: Record<string, never> };
  'storage.list': { params: { mount: string; prefix: string }; result: { keys: string[] } };
  /** Protocol 2: whether the key exists, without its value crossing the pipe. */
  'storage.exists': { params: { mount: string; key: string }; result: { exists: boolean } };
  /**
   * Protocol 2: all of `ops` or none, applied only if every check holds at that moment (atomically, against every
   * other writer of the mount on every runner). `ok: false` names the first check that failed; nothing was written.
   */
  'storage.txn': {
    params: { mount: string; checks: StorageCheck[]; ops: StorageOp[] };
    result: { ok: boolean; failed?: number };
  };
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
