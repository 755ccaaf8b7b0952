/**
 * Coffer plugin protocol, versions 1 to 4: the messages. Version 2 adds `storage.exists` and `storage.txn`;
 * version 3 adds leases (a response's `secret`, and the host's `renew` and `revoke` calls); version 4 adds
 * `handle`'s `choose` (the existence check and the write in one call). The rules (framing, timeouts, crash semantics, environment) are
 * in docs/plugin-protocol.md; the JSON Schemas in ./schemas/ say the same as these types, and both sides validate
 * against them.
 */

/** The newest protocol version this code speaks. */
export const PROTOCOL_VERSION = 4;
/** Every version this code speaks, oldest first: the handshake settles on the newest both sides share. */
export const PROTOCOL_VERSIONS: readonly number[] = [1, 2, 3, 4];

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
 * The host → plugin methods a session below protocol 3 does not have: the host never sends them there (a plugin
 * that said 1 or 2 cannot have issued a lease, since its `secret` would have been refused).
 */
export const PROTOCOL_3_HOST_METHODS: readonly string[] = ['renew', 'revoke', 'periodic', 'renewAuth'];

/**
 * Protocol 4: a `handle` whose `choose` is set runs the plugin's existence check first and handles the write as the
 * operation it picks (Vault's create or update), only when `choose` allows it. Older sessions never get `choose`:
 * they ignore unknown params, so they would handle every such write as an update whatever the caller may do.
 */
export const CHOOSE_PROTOCOL = 4;

/** `1, 2 and 3`: a list of versions as the error messages say it. */
export function versionList(versions: readonly number[] = PROTOCOL_VERSIONS): string {
  return versions.length < 2 ? versions.join('') : `${versions.slice(0, -1).join(', ')} and ${versions[versions.length - 1]}`;
}

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

/** The two operations a write can become through Vault's existence check. */
export type WriteOperation = 'create' | 'update';

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
  /**
   * Protocol 3: what the plugin needs to judge a renewal of the issued token (Vault's `Auth.InternalData`). The host
   * keeps it encrypted with the token, never shows it to a client, and passes it back to `renewAuth`.
   */
  internal?: Record<string, unknown>;
}

/**
 * Protocol 3: the token the host asks an auth plugin to renew (Vault's `req.Auth` in a framework `AuthRenew`): what
 * the plugin's login returned for it, and where the token stands now.
 */
export interface AuthRenewInfo {
  /** The login's path relative to the mount (`login/alice`), as Vault routes the renewal to the login's path. */
  path: string;
  /** The policies the login returned, as the plugin gave them (before the host added `default`). */
  policies: string[];
  metadata: Record<string, string>;
  /** The login's `auth.internal` ({} when it gave none). */
  internal: Record<string, unknown>;
  displayName: string;
  /** RFC 3339, when the token was issued. */
  issueTime: string;
  /** The token's current TTL, seconds (the last one granted). */
  ttl: number;
}

/**
 * Protocol 3: a secret under a lease (Vault's logical.Secret). The host keeps `internal` encrypted, never shows it to
 * a client, and passes it back to the plugin's `renew` and `revoke` for this lease.
 */
export interface PluginSecret {
  /** The plugin's name for this kind of secret (Vault's framework.Secret Type, e.g. `creds`). */
  type: string;
  /** What the plugin needs to renew or revoke it (a database username, a cloud key id). */
  internal: Record<string, unknown>;
  /** Seconds; 0 or absent = the mount's default_lease_ttl (else the system's). */
  ttl?: number;
  /** Seconds from issue; 0 or absent = the mount's max_lease_ttl (else the system's). */
  maxTtl?: number;
  /** Default true. */
  renewable?: boolean;
}

/** Protocol 3: the lease the host asks a plugin to renew or revoke. */
export interface LeaseInfo {
  /** Vault's lease_id: `<mount path><request path>/<random>`. */
  id: string;
  /** The secret's `type`, as the plugin gave it. */
  type: string;
  internal: Record<string, unknown>;
  /** RFC 3339, when the secret was issued. */
  issueTime: string;
  /** The lease's current TTL, seconds. */
  ttl: number;
}

export interface PluginResponse {
  data?: Record<string, unknown> | null;
  /** Protocol 3, secret plugins only: the response is a secret under a lease (never with `auth` or `raw`). */
  secret?: PluginSecret;
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
  /**
   * Protocol 4 adds `choose`, sent only with an `update`: the operations the caller's ACL allows (`create`,
   * `update`, at least one). The plugin runs its existence check (as `exists` would) to pick the operation, then
   * handles the request as that operation if `choose` has it, and says which it picked in `operation`; if `choose`
   * does not have it, it runs nothing and answers `{ response: null, operation, denied: true }`.
   */
  handle: {
    params: { mount: string; request: PluginRequest; choose?: WriteOperation[] };
    result: { response: PluginResponse | null; operation?: WriteOperation; denied?: boolean };
  };
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
  /**
   * Protocol 3: extend a lease. `increment` is what the client asked for (seconds, 0 = unspecified). The result's
   * `ttl` (0/absent = the secret's own TTL) is capped by the host at the lease's max TTL; a plugin refuses a renewal
   * with an error (kind `invalid-request` or `permission-denied`). `internal`, when given, replaces the lease's.
   * A plugin without it answers -32601: its leases are not renewable.
   */
  renew: {
    params: { mount: string; lease: LeaseInfo; increment: number };
    result: { ttl?: number; internal?: Record<string, unknown>; warnings?: string[] };
  };
  /**
   * Protocol 3: end a lease (drop the database role, delete the key). Must be idempotent: after a crash the host may
   * ask again for a lease already revoked. An error makes the host retry later, with backoff.
   */
  revoke: { params: { mount: string; lease: LeaseInfo }; result: Record<string, never> };
  /**
   * Protocol 3, optional: Vault's framework PeriodicFunc. The host calls it for each mount about once per tick
   * (`COFFER_PERIODIC_TICK_MS`), on one process in the whole cluster per mount and tick. Scheduled work (rotating a
   * password) goes here. A plugin without it answers -32601 and is not asked again.
   */
  periodic: { params: { mount: string }; result: Record<string, never> };
  /**
   * Protocol 3, optional, auth plugins: renew a token this plugin's login issued (Vault's framework `AuthRenew`).
   * `increment` is what the client asked for (seconds, 0 = unspecified). The result's `ttl` (0/absent = the token's
   * own) and `maxTtl` (0/absent = no cap of the plugin's) feed the host's TTL rules; a plugin refuses the renewal
   * with an error (the user deleted, their policies changed), and the token keeps its expiry. A plugin without it
   * answers -32601: its tokens renew by the host's rules alone, as before protocol 3.
   */
  renewAuth: {
    params: { mount: string; auth: AuthRenewInfo; increment: number };
    result: { ttl?: number; maxTtl?: number; warnings?: string[] };
  };
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
