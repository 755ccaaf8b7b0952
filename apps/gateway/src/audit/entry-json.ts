import {
  accessorOf,
  callerHashes,
  elideList,
  forgetSalt,
  hmacOf,
  isEmptyObject,
  RFC3339,
  secretOf,
  type AuditAuth,
  type AuditMount,
  type AuditRequestInput,
  type AuditResponseInput,
  type CallerHashes,
  type EntryOptions,
} from './entry.js';

/**
 * The same entries as `requestEntry` / `responseEntry` followed by `JSON.stringify`, written as JSON text directly:
 * the profile showed the object walk, the intermediate objects and the generic stringify as the largest share of
 * audit's cost on a kv read. The blocks both entries of a request carry (`auth` and `request`) are hashed and
 * written once, as `body`, and repeated in the response entry as text. Only for devices that hash (`log_raw` off)
 * and write JSON; the others take the generic path. `entry-json.test.ts` holds the two to the same bytes.
 */

const NONE: readonly string[] = [];

/** Omits what Go's `omitempty` omits (as `omitEmpty` does), else appends `"key":<json>`. Keys are fixed names. */
function put(parts: string[], key: string, v: unknown): void {
  if (v === undefined || v === '' || v === null) return;
  if (typeof v === 'object' && !Array.isArray(v) && isEmptyObject(v)) return;
  parts.push(`"${key}":${JSON.stringify(v)}`);
}

/**
 * `hashData`'s result as JSON text: every string leaf hashed (RFC 3339 times kept), numbers, booleans and map keys
 * kept; the top-level keys `clear` names written as they are.
 */
export function hashedJson(salt: string, value: unknown, clear: readonly string[], top: boolean): string {
  if (typeof value === 'string') return RFC3339.test(value) ? JSON.stringify(value) : `"${hmacOf(salt, value)}"`;
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return JSON.stringify(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + hashedJson(salt, value[i], NONE, false);
    return `${out}]`;
  }
  if (typeof value === 'object') {
    let out = '{';
    let first = true;
    for (const k of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[k];
      const json = top && clear.includes(k) ? (JSON.stringify(v) ?? 'null') : hashedJson(salt, v, NONE, false);
      out += `${first ? '' : ','}${JSON.stringify(k)}:${json}`;
      first = false;
    }
    return `${out}}`;
  }
  return JSON.stringify(String(value));
}

/**
 * `"mount_point":…,"mount_type":…,"mount_accessor":…` of a mount, which both entries of every request to it carry,
 * written once per `AuditMount` object: the broker keeps one per mount (`Mount` objects are replaced, not changed,
 * when a mount is tuned or moved), so this is made once per mount, not twice per request.
 */
const mountTexts = new WeakMap<AuditMount, string>();
function mountJson(m: AuditMount): string {
  let text = mountTexts.get(m);
  if (text === undefined) {
    const parts: string[] = [];
    put(parts, 'mount_point', m.point);
    put(parts, 'mount_type', m.type);
    put(parts, 'mount_accessor', m.accessor);
    text = parts.join(',');
    mountTexts.set(m, text);
  }
  return text;
}

/**
 * The caller's `"auth":{…}` as last written for the same hashed token: a client sends the same token request after
 * request. Reused only when every field it was written from is the same (policies and metadata compared by value),
 * so a token whose policies or metadata changed is written anew. Bounded like the hash cache it sits beside.
 */
interface WrittenAuth {
  accessor: string | undefined;
  from: AuditAuth;
  text: string | undefined;
}
const authTexts = new Map<string, Map<string, WrittenAuth>>();

function authJson(salt: string, options: EntryOptions, auth: AuditAuth, hashes: CallerHashes): string | undefined {
  const key = hashes.token;
  if (key === undefined || key === '') return writeAuth(salt, options, auth, hashes);
  let bySalt = authTexts.get(salt);
  if (!bySalt) {
    if (authTexts.size >= 64) authTexts.clear();
    bySalt = new Map();
    authTexts.set(salt, bySalt);
  }
  const known = bySalt.get(key);
  if (known && known.accessor === hashes.accessor && sameAuth(known.from, auth)) return known.text;
  if (bySalt.size >= 4096) bySalt.clear();
  const text = writeAuth(salt, options, auth, hashes);
  // Not the token itself: the text was written from its hash, the key.
  bySalt.set(key, { accessor: hashes.accessor, from: { ...auth, clientToken: '', policies: [...auth.policies], metadata: auth.metadata && { ...auth.metadata } }, text });
  return text;
}

/** Drops every text and hash cached for a device's salt, once the device is disabled or its gateway sealed. */
export function forgetDevice(salt: string): void {
  authTexts.delete(salt);
  forgetSalt(salt);
}

function writeAuth(salt: string, options: EntryOptions, auth: AuditAuth, hashes: CallerHashes): string | undefined {
  const a: string[] = [];
  put(a, 'client_token', hashes.token ?? secretOf(salt, options, auth.clientToken));
  put(a, 'accessor', hashes.accessor);
  put(a, 'display_name', auth.displayName);
  put(a, 'policies', auth.policies);
  put(a, 'token_policies', auth.policies);
  put(a, 'metadata', auth.metadata ?? undefined);
  put(a, 'entity_id', auth.entityId);
  put(a, 'token_type', auth.tokenType);
  put(a, 'token_ttl', auth.tokenTtl);
  put(a, 'token_issue_time', auth.tokenIssueTime);
  return a.length === 0 ? undefined : `"auth":{${a.join(',')}}`;
}

function sameAuth(a: AuditAuth, b: AuditAuth): boolean {
  return (
    a.displayName === b.displayName &&
    a.entityId === b.entityId &&
    a.tokenType === b.tokenType &&
    Object.is(a.tokenTtl, b.tokenTtl) &&
    a.tokenIssueTime === b.tokenIssueTime &&
    sameList(a.policies, b.policies) &&
    sameMap(a.metadata, b.metadata)
  );
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Same keys in the same order (the order they are written in) and the same values. */
function sameMap(a: Record<string, string> | null, b: Record<string, string> | null): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i] || a[ka[i]] !== b[kb[i]]) return false;
  return true;
}

/** A value `hashData` would turn into nothing `omitEmpty` keeps: null, or an object without keys. */
function hashesToNothing(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  return typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0;
}

/**
 * `,"key":<json>` after `acc`, or `"key":<json>` alone, as `put` writes it, for the request block's scalar fields:
 * one string built by concatenation instead of a field array joined, which the profile showed on every entry.
 */
function add(acc: string, key: string, v: string | number | undefined): string {
  if (v === undefined || v === '' || v === null) return acc;
  return more(acc, `"${key}":${JSON.stringify(v)}`);
}

/**
 * An entry's `time`, made once per millisecond: both entries of a request, and the entries of the requests served
 * in the same turn, mostly share it, and `toISOString` was a visible share of writing an entry.
 */
let isoMs = Number.NaN;
let isoText = '';
function isoOf(time: Date): string {
  const ms = time.getTime();
  if (ms !== isoMs) {
    // An invalid date throws here, as `toISOString` does on the generic path.
    isoText = time.toISOString();
    isoMs = ms;
  }
  return isoText;
}

/**
 * `"auth":{…},"request":{…}` of a request's entries for one device: the caller's hashed token and accessor (cached
 * per salt), the hashed data. Both entries of the request repeat it.
 */
export function entryBody(salt: string, options: EntryOptions, r: AuditRequestInput): string {
  const hashes = callerHashes(salt, options, r);
  const auth = r.auth;
  const authText = auth ? authJson(salt, options, auth, hashes) : undefined;
  let q = add('', 'id', r.id);
  q = add(q, 'operation', r.operation);
  const mountText = r.mount ? mountJson(r.mount) : '';
  if (mountText !== '') q = more(q, mountText);
  q = add(q, 'client_token', hashes.token);
  q = add(q, 'client_token_accessor', hashes.accessor);
  q = more(q, '"namespace":{"id":"root"}');
  q = add(q, 'path', r.path);
  const data = r.data as unknown;
  if (data !== null && typeof data === 'object' && Object.keys(data).length > 0) {
    q = more(q, `"data":${hashedJson(salt, data, r.mount?.nonHmacRequestKeys ?? NONE, true)}`);
  }
  q = add(q, 'remote_address', r.remoteAddress);
  q = add(q, 'remote_port', r.remotePort);
  // `q` is never empty (the namespace is always there), so the request block always is.
  return authText === undefined ? `"request":{${q}}` : `${authText},"request":{${q}}`;
}

/** The request entry as one JSON text, around the `body` of `entryBody` for the same request and device. */
export function requestEntryJson(body: string, r: AuditRequestInput, time: Date): string {
  const error = r.error ? `,"error":${JSON.stringify(r.error)}` : '';
  return `{"time":"${isoOf(time)}","type":"request",${body}${error}}`;
}

/** The response entry as one JSON text: the request's `body` again, then what it answered or the error. */
export function responseEntryJson(
  salt: string,
  options: EntryOptions,
  body: string,
  r: AuditRequestInput,
  response: AuditResponseInput,
  time: Date,
): string {
  let p = r.mount ? mountJson(r.mount) : '';
  const issued = response.auth;
  if (issued) {
    const a: string[] = [];
    put(a, 'client_token', secretOf(salt, options, issued.clientToken));
    put(a, 'accessor', accessorOf(salt, options, issued.accessor));
    put(a, 'policies', issued.policies);
    put(a, 'token_policies', issued.tokenPolicies ?? issued.policies);
    put(a, 'metadata', issued.metadata ?? undefined);
    put(a, 'entity_id', issued.entityId);
    put(a, 'lease_duration', issued.leaseDuration);
    put(a, 'renewable', issued.renewable);
    if (a.length > 0) p = more(p, `"auth":{${a.join(',')}}`);
  }
  let data: unknown = response.data;
  if (options.elideListResponses && r.operation === 'list') data = elideList(data);
  if (!hashesToNothing(data)) p = more(p, `"data":${hashedJson(salt, data, r.mount?.nonHmacResponseKeys ?? NONE, true)}`);
  if (response.warnings?.length) p = more(p, `"warnings":${JSON.stringify(response.warnings)}`);
  const wrap = response.wrapInfo;
  if (wrap) {
    const w: string[] = [];
    put(w, 'token', secretOf(salt, options, wrap.token));
    put(w, 'accessor', accessorOf(salt, options, wrap.accessor));
    put(w, 'ttl', wrap.ttl);
    put(w, 'creation_time', wrap.creationTime);
    put(w, 'creation_path', wrap.creationPath);
    put(w, 'wrapped_accessor', accessorOf(salt, options, wrap.wrappedAccessor));
    if (w.length > 0) p = more(p, `"wrap_info":{${w.join(',')}}`);
  }
  const error = response.error ?? r.error;
  const tail = `${p === '' ? '' : `,"response":{${p}}`}${error ? `,"error":${JSON.stringify(error)}` : ''}`;
  return `{"time":"${isoOf(time)}","type":"response",${body}${tail}}`;
}

/** `acc` and a field already written, comma-separated. */
function more(acc: string, field: string): string {
  return acc === '' ? field : `${acc},${field}`;
}

/** Whether a device's entries can be written directly: it hashes (no `log_raw`) and writes JSON (not jsonx). */
export function writesJsonDirectly(options: EntryOptions, format: 'json' | 'jsonx'): boolean {
  return !options.logRaw && format === 'json';
}
