import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

/**
 * Vault's audit entry format, as pure functions: what a request and a response look like in the log, and which of
 * their strings are replaced by `hmac-sha256:<hex>` (the device's salt is the key). No I/O here: the broker hands
 * in what it knows about the request, these functions hand back the object a device writes as one JSON line.
 */

/** `hmac-sha256:` and the hex HMAC-SHA256 of the value, keyed by the salt's bytes (Vault's GetIdentifiedHMAC). */
export function hmacOf(salt: string, value: string): string {
  return `hmac-sha256:${createHmac('sha256', keyOf(salt)).update(value).digest('hex')}`;
}

/**
 * Each salt's key object, made once: handing createHmac the salt string makes it convert and import the key on every
 * call, which the profile showed on every entry. Few salts ever exist (one per device); a full map is dropped.
 */
const keys = new Map<string, KeyObject>();
function keyOf(salt: string): KeyObject {
  let key = keys.get(salt);
  if (!key) {
    if (keys.size >= 64) keys.clear();
    key = createSecretKey(Buffer.from(salt, 'utf8'));
    keys.set(salt, key);
  }
  return key;
}

/**
 * The caller's token and accessor hashed once per device, not on every entry: a client sends the same token
 * request after request, and these two HMACs were most of an entry's hashing for a kv read. Keyed by salt and
 * value, bounded (a full map is dropped and refilled), and holding nothing the gateway does not already hold.
 */
const callerCache = new Map<string, Map<string, string>>();
export function cachedHmacOf(salt: string, value: string): string {
  let bySalt = callerCache.get(salt);
  if (!bySalt) {
    if (callerCache.size >= 64) callerCache.clear();
    bySalt = new Map();
    callerCache.set(salt, bySalt);
  }
  let hash = bySalt.get(value);
  if (hash === undefined) {
    if (bySalt.size >= 4096) bySalt.clear();
    hash = hmacOf(salt, value);
    bySalt.set(value, hash);
  }
  return hash;
}

/** Drops what was cached for a salt (its key, its callers' hashes): the broker calls it when a device goes away. */
export function forgetSalt(salt: string): void {
  keys.delete(salt);
  callerCache.delete(salt);
}

/** The device options that shape an entry (strings in the API, parsed once when the device is built). */
export interface EntryOptions {
  /** Write values in clear. Off by default; nothing in Coffer's tests turns it on. */
  logRaw: boolean;
  /** Hash token accessors too (Vault's default). */
  hmacAccessor: boolean;
  /** A list response's `keys` / `key_info` become their counts. */
  elideListResponses: boolean;
}

/** What the gateway knows about the caller once the token was looked up. */
export interface AuditAuth {
  clientToken: string;
  accessor: string;
  displayName: string;
  policies: string[];
  metadata: Record<string, string> | null;
  entityId: string;
  tokenType: string;
  tokenTtl: number;
  tokenIssueTime: string;
}

export interface AuditMount {
  point: string;
  type: string;
  accessor: string;
  nonHmacRequestKeys: readonly string[];
  nonHmacResponseKeys: readonly string[];
}

/** A request as audit sees it: the operation, path and data after parsing, and what routing found. */
export interface AuditRequestInput {
  id: string;
  operation: string;
  path: string;
  data: Record<string, unknown>;
  /** The token sent, even when it turned out invalid: it is hashed like any other. */
  clientToken?: string;
  remoteAddress: string;
  remotePort?: number;
  auth?: AuditAuth;
  mount?: AuditMount;
  /** An error the request met before it ran (refused, sealed, bad input). */
  error?: string;
}

/** What the request got back. `data` is the envelope's data, or the body of a plain JSON answer (sys/init...). */
export interface AuditResponseInput {
  data?: unknown;
  warnings?: string[];
  /** A token issued by the request (login, token create). */
  auth?: { clientToken: string; accessor: string; policies: string[]; tokenPolicies?: string[]; metadata: Record<string, string> | null; leaseDuration: number; renewable: boolean; entityId?: string };
  /** A wrapped response: the client got this instead of the data (the wrapping token is a secret like any). */
  wrapInfo?: { token: string; accessor: string; ttl: number; creationTime: string; creationPath: string; wrappedAccessor: string };
  error?: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Vault leaves RFC 3339 times in clear, since they say nothing secret and a log reader needs them. */
export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Every string leaf of `value` hashed, map keys kept, numbers and booleans kept. `clear` names top-level keys whose
 * values stay as they are (a mount's audit_non_hmac_*_keys).
 */
export function hashData(salt: string, value: unknown, clear: readonly string[] = [], top = true): Json {
  if (typeof value === 'string') return RFC3339.test(value) ? value : hmacOf(salt, value);
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((v) => hashData(salt, v, [], false));
  if (typeof value === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const hashed = top && clear.includes(k) ? toJson(v) : hashData(salt, v, [], false);
      // A body's own `__proto__` key (JSON.parse makes it an ordinary key) is recorded like any other: assigning
      // it would set the copy's prototype instead and leave the key, and its value, out of the log.
      if (k === '__proto__') Object.defineProperty(out, k, { value: hashed, enumerable: true, writable: true, configurable: true });
      else out[k] = hashed;
    }
    return out;
  }
  return String(value);
}

function toJson(value: unknown): Json {
  return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as Json);
}

/** The device's view of a secret string: hashed, or in clear when the device logs raw. */
export function secretOf(salt: string, options: EntryOptions, value: string | undefined): string | undefined {
  if (value === undefined || value === '') return value;
  return options.logRaw ? value : hmacOf(salt, value);
}

export function accessorOf(salt: string, options: EntryOptions, value: string | undefined): string | undefined {
  if (value === undefined || value === '') return value;
  return options.hmacAccessor && !options.logRaw ? hmacOf(salt, value) : value;
}

/** The token and accessor of the caller, hashed once per entry (they appear in `auth` and in `request`). */
export interface CallerHashes {
  token?: string;
  accessor?: string;
}

export function callerHashes(salt: string, options: EntryOptions, r: AuditRequestInput): CallerHashes {
  const token = r.clientToken;
  const accessor = r.auth?.accessor;
  return {
    token: token === undefined || token === '' || options.logRaw ? token : cachedHmacOf(salt, token),
    accessor: accessor === undefined || accessor === '' || !options.hmacAccessor || options.logRaw ? accessor : cachedHmacOf(salt, accessor),
  };
}

function authBlock(auth: AuditAuth | undefined, hashes: CallerHashes, salt: string, options: EntryOptions): Record<string, unknown> | undefined {
  if (!auth) return undefined;
  return omitEmpty({
    // The token the request carried is the caller's: its hash is the request block's.
    client_token: hashes.token ?? secretOf(salt, options, auth.clientToken),
    accessor: hashes.accessor,
    display_name: auth.displayName,
    policies: auth.policies,
    token_policies: auth.policies,
    metadata: auth.metadata ?? undefined,
    entity_id: auth.entityId,
    token_type: auth.tokenType,
    token_ttl: auth.tokenTtl,
    token_issue_time: auth.tokenIssueTime,
  });
}

function requestBlock(salt: string, options: EntryOptions, r: AuditRequestInput, hashes: CallerHashes): Record<string, unknown> {
  const data = options.logRaw ? toJson(r.data) : hashData(salt, r.data, r.mount?.nonHmacRequestKeys ?? []);
  return omitEmpty({
    id: r.id,
    operation: r.operation,
    mount_point: r.mount?.point,
    mount_type: r.mount?.type,
    mount_accessor: r.mount?.accessor,
    client_token: hashes.token,
    client_token_accessor: hashes.accessor,
    namespace: { id: 'root' },
    path: r.path,
    data: data && typeof data === 'object' && Object.keys(data).length > 0 ? data : undefined,
    remote_address: r.remoteAddress,
    remote_port: r.remotePort,
  });
}

/** The request entry, written before the request runs (or, for a refused one, with the error that stopped it). */
export function requestEntry(salt: string, options: EntryOptions, r: AuditRequestInput, time: Date): Record<string, unknown> {
  const hashes = callerHashes(salt, options, r);
  return omitEmpty({
    time: time.toISOString(),
    type: 'request',
    auth: authBlock(r.auth, hashes, salt, options),
    request: requestBlock(salt, options, r, hashes),
    error: r.error,
  });
}

/**
 * The `auth` and `request` blocks of an entry already built for the same request and device, so that the response
 * entry does not hash the same token and data again.
 */
export interface BuiltBlocks {
  auth?: unknown;
  request: unknown;
}

/** The response entry: the request again, then what it answered or the error it failed with. */
export function responseEntry(
  salt: string,
  options: EntryOptions,
  r: AuditRequestInput,
  response: AuditResponseInput,
  time: Date,
  built?: BuiltBlocks,
): Record<string, unknown> {
  const hashes = built ? {} : callerHashes(salt, options, r);
  let data: unknown = response.data;
  if (options.elideListResponses && r.operation === 'list') data = elideList(data);
  const hashed = data === undefined || data === null ? undefined : options.logRaw ? toJson(data) : hashData(salt, data, r.mount?.nonHmacResponseKeys ?? []);
  const issued = response.auth;
  return omitEmpty({
    time: time.toISOString(),
    type: 'response',
    auth: built ? built.auth : authBlock(r.auth, hashes, salt, options),
    request: built ? built.request : requestBlock(salt, options, r, hashes),
    response: omitEmpty({
      mount_point: r.mount?.point,
      mount_type: r.mount?.type,
      mount_accessor: r.mount?.accessor,
      auth: issued
        ? omitEmpty({
            client_token: secretOf(salt, options, issued.clientToken),
            accessor: accessorOf(salt, options, issued.accessor),
            policies: issued.policies,
            token_policies: issued.tokenPolicies ?? issued.policies,
            metadata: issued.metadata ?? undefined,
            entity_id: issued.entityId,
            lease_duration: issued.leaseDuration,
            renewable: issued.renewable,
          })
        : undefined,
      data: hashed,
      warnings: response.warnings?.length ? response.warnings : undefined,
      // Vault's HashWrapInfo: the token always, the accessors as hmac_accessor says.
      wrap_info: response.wrapInfo
        ? omitEmpty({
            token: secretOf(salt, options, response.wrapInfo.token),
            accessor: accessorOf(salt, options, response.wrapInfo.accessor),
            ttl: response.wrapInfo.ttl,
            creation_time: response.wrapInfo.creationTime,
            creation_path: response.wrapInfo.creationPath,
            wrapped_accessor: accessorOf(salt, options, response.wrapInfo.wrappedAccessor),
          })
        : undefined,
    }),
    error: response.error ?? r.error,
  });
}

/** Vault's elide_list_responses: `keys` and `key_info` become how many there were. */
export function elideList(data: unknown): unknown {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return data;
  const out: Record<string, unknown> = { ...(data as Record<string, unknown>) };
  if (Array.isArray(out.keys)) out.keys = out.keys.length;
  if (out.key_info && typeof out.key_info === 'object') out.key_info = Object.keys(out.key_info).length;
  return out;
}

/** Vault's entries omit empty fields (Go's `omitempty`): no `"error": ""`, no `"auth": {}`. */
function omitEmpty<T extends Record<string, unknown>>(o: T): T {
  // for-in, not Object.entries: two entries a request, and the pairs' arrays were a visible share of their cost.
  const out: Record<string, unknown> = {};
  for (const k in o) {
    const v = o[k];
    if (v === undefined || v === '' || v === null) continue;
    if (typeof v === 'object' && !Array.isArray(v) && isEmptyObject(v)) continue;
    out[k] = v;
  }
  return out as T;
}

export function isEmptyObject(v: object): boolean {
  for (const _ in v) return false;
  return true;
}

/**
 * Vault's `format = "jsonx"`: the same entry as XML, each object an `<object>`, each key a `<string name=...>`,
 * `<number>`, `<boolean>`, `<array>` or `<null>` (JSONx, IBM's convention, which Vault's jsonx library writes).
 */
export function toJsonx(value: unknown): string {
  return `<?xml version="1.0" encoding="UTF-8"?>${jsonxNode(value, undefined)}`;
}

function jsonxNode(value: unknown, name: string | undefined): string {
  const attr = name === undefined ? '' : ` name="${escapeXml(name)}"`;
  if (value === null || value === undefined) return `<json:null${attr}/>`;
  if (typeof value === 'string') return `<json:string${attr}>${escapeXml(value)}</json:string>`;
  if (typeof value === 'number') return `<json:number${attr}>${value}</json:number>`;
  if (typeof value === 'boolean') return `<json:boolean${attr}>${value}</json:boolean>`;
  if (Array.isArray(value)) return `<json:array${attr}>${value.map((v) => jsonxNode(v, undefined)).join('')}</json:array>`;
  const inner = Object.entries(value as Record<string, unknown>).map(([k, v]) => jsonxNode(v, k)).join('');
  const ns = name === undefined ? ' xmlns:json="http://www.ibm.com/xmlns/prod/2009/jsonx"' : '';
  return `<json:object${attr}${ns}>${inner}</json:object>`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
