import type { FastifyRequest } from 'fastify';
import { CofferError, type ErrorCode, type Operation as LogicalOperation } from '#contracts';
import { parseGoBool } from '#vault-rules';
import { checkJsonLimits, DEFAULT_JSON_LIMITS, type JsonLimits } from './http/json-limits.js';
import type { LeaseGrant, LeaseView } from './leases/lease-manager.js';
import type { LoginGrant } from './tokens/token-store.js';
import { parseDurationSeconds } from './tokens/ttl.js';

/** Vault's logical operations (libs/contracts), plus HEAD; the HTTP verb and `?list=true` decide which one a request is. */
export type Operation = LogicalOperation | 'head';

/** A request as the gateway's handlers see it, already decoded from HTTP. */
export interface VaultRequest {
  id: string;
  operation: Operation;
  /** Path after `/v1/`, percent-decoded, without leading slash (trailing slash kept: it matters for lists). */
  path: string;
  data: Record<string, unknown>;
  query: URLSearchParams;
  token?: string;
  headers: FastifyRequest['headers'];
  /** The client's port, for the audit log (its address is `remoteAddress` below). */
  remotePort?: number;
  /** The caller's token accessor once authenticated: events record it as their actor. */
  callerAccessor?: string;
  /** Seconds the client asked the response to be wrapped for (`X-Vault-Wrap-TTL`); absent: not wrapped. */
  wrapTtl?: number;
  /**
   * The client's IP address from the socket (no proxy header is trusted), IPv4-mapped IPv6 unwrapped; "" if the
   * socket did not say. Bound-CIDR checks (tokens, AppRole) compare against it; the audit log records it.
   */
  remoteAddress?: string;
}

/** `::ffff:127.0.0.1` → `127.0.0.1`: a dual-stack listener reports IPv4 clients that way, CIDRs are written plainly. */
export function clientAddress(raw: string | undefined): string {
  if (!raw) return '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(raw);
  return mapped ? mapped[1] : raw;
}

/** What a handler answers: a Vault envelope, a raw body, or nothing (204). */
export type VaultResponse =
  | {
      kind: 'envelope';
      status?: number;
      data: unknown;
      warnings?: string[];
      auth?: unknown;
      topLevel?: boolean;
      mountType?: string;
      /** A plugin's secret, still to become a lease: the lease stage records it (and sets `lease`). */
      leaseGrant?: LeaseGrant;
      /** Vault's lease_id, lease_duration and renewable. */
      lease?: LeaseView;
      /** An auth method's login, still to become a token: the response stage issues it (and sets `auth`). */
      login?: LoginGrant;
      /** Vault's `wrap_info`, set by the wrapping stage (then data and auth are null). */
      wrapInfo?: Record<string, unknown>;
      /** Wrap this response for so many seconds even without `X-Vault-Wrap-TTL` (sys/wrapping/wrap). */
      wrapByDefault?: number;
    }
  | { kind: 'raw'; status: number; contentType: string; body: Buffer }
  | { kind: 'json'; status: number; body: unknown }
  | { kind: 'empty'; status?: number };

const STATUS: Record<ErrorCode, number> = {
  'invalid-request': 400,
  'permission-denied': 403,
  'unsupported-path': 404,
  'not-found': 404,
  'unsupported-operation': 405,
  conflict: 400,
  'payload-too-large': 413,
  'unsupported-media-type': 415,
  sealed: 503,
  unavailable: 503,
  'plugin-failed': 500,
  internal: 500,
};

/** The one place where an error code becomes an HTTP status. */
export function statusOf(code: ErrorCode): number {
  return STATUS[code];
}

/** Vault's verb mapping (http/logical.go): GET read (or list), POST/PUT update, DELETE, LIST, PATCH. */
export function operationOf(method: string, listVerb: boolean, query: URLSearchParams): Operation {
  if (listVerb) return 'list';
  switch (method) {
    case 'GET': {
      const list = query.get('list');
      if (list === null) return 'read';
      const parsed = parseBool(list);
      if (parsed === undefined) throw new CofferError('invalid-request', `invalid value for "list": ${JSON.stringify(list)}`);
      return parsed ? 'list' : 'read';
    }
    case 'HEAD':
      return 'head';
    case 'POST':
    case 'PUT':
      return 'update';
    case 'DELETE':
      return 'delete';
    case 'PATCH':
      return 'patch';
    default:
      throw new CofferError('unsupported-operation', '');
  }
}

/**
 * Vault reads a PATCH body as a JSON merge patch (RFC 7396) and says so: the media type (Go's mime.ParseMediaType,
 * parameters ignored) must be `application/merge-patch+json`.
 */
export function checkPatchContentType(header: string | undefined): void {
  const mediaType = (header ?? '').split(';')[0].trim().toLowerCase();
  if (mediaType === '') throw new CofferError('invalid-request', 'mime: no media type');
  if (!/^[^/\s]+\/[^/\s]+$/.test(mediaType)) throw new CofferError('invalid-request', 'mime: expected slash after first token');
  if (mediaType !== 'application/merge-patch+json') {
    throw new CofferError('unsupported-media-type', `PATCH requires Content-Type of application/merge-patch+json, provided ${mediaType}`);
  }
}

/** Go's strconv.ParseBool, which Vault uses for query flags (the words live in libs/vault-rules). */
export const parseBool = parseGoBool;

/**
 * The request body as Vault reads it: JSON object, or form fields when form-encoded and not starting with `{`/`[`.
 * Anything else is `error parsing JSON`, before any handler sees it.
 */
export function parseBody(raw: Buffer | undefined, contentType: string | undefined, limits: JsonLimits = DEFAULT_JSON_LIMITS): Record<string, unknown> {
  if (!raw || raw.length === 0) return {};
  const text = raw.toString('utf8');
  const trimmed = text.trimStart();
  if (contentType?.startsWith('application/x-www-form-urlencoded') && !/^[{[]/.test(trimmed)) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  // Vault's JSON limits first: a hostile body must cost neither JSON.parse's recursion nor anything after it.
  checkJsonLimits(text, limits);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CofferError('invalid-request', 'error parsing JSON');
  }
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new CofferError('invalid-request', 'error parsing JSON');
  return value as Record<string, unknown>;
}

/** Token from X-Vault-Token, else the first `Authorization: Bearer` (Vault's getTokenFromReq). */
export function tokenOf(headers: FastifyRequest['headers']): string | undefined {
  const direct = headers['x-vault-token'];
  if (typeof direct === 'string' && direct !== '') return direct;
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1];
  }
  return undefined;
}

/**
 * The logical path of a request, refusing what could escape its mount: `..` or `.` segments, NUL bytes, and
 * percent-encodings that do not decode. Vault cleans paths; Coffer refuses them, since a plugin must never see one.
 */
export function logicalPath(rawPath: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new CofferError('invalid-request', 'invalid request path');
  }
  if (decoded.includes('\0')) throw new CofferError('invalid-request', 'invalid request path');
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..' || s === '.')) throw new CofferError('invalid-request', 'invalid request path');
  return decoded.replace(/^\/+/, '').replace(/\/{2,}/g, '/');
}

/** Vault's `X-Vault-Wrap-TTL`: a duration or seconds; absent or 0 means no wrapping. */
export function wrapTtlOf(header: string | string[] | undefined): number | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  if (text === undefined || text.trim() === '') return undefined;
  let seconds: number | undefined;
  try {
    seconds = parseDurationSeconds(text.trim());
  } catch {
    throw new CofferError('invalid-request', 'error parsing X-Vault-Wrap-TTL header');
  }
  if (seconds === undefined || seconds < 0) throw new CofferError('invalid-request', 'requested wrap ttl cannot be negative');
  return seconds === 0 ? undefined : seconds;
}
