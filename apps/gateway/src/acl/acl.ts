import { CofferError } from '#contracts';
import { ROOT_POLICY_NAME } from './builtin.js';
import { type AclOperation, bitsOf, DENY, namesOf, OPERATIONS, SUDO } from './capabilities.js';
import type { PathRule, Policy } from './policy.js';

export interface AclResult {
  readonly allowed: boolean;
  /** The matched rule grants `sudo`: what root-protected paths need on top of the operation's own capability. */
  readonly rootPrivs: boolean;
}

/** What Vault holds a request against besides its path and operation. */
export interface AclRequest {
  /** The request body (or query, for reads); only read, create, update, patch and recover look at it. */
  data?: Readonly<Record<string, unknown>>;
  /** Seconds the client asked its response to be wrapped for (`X-Vault-Wrap-TTL`); absent: not wrapped. */
  wrapTtl?: number;
}

/** Everything the policies say about one path pattern, merged across policies as Vault merges them. */
interface Permissions {
  bits: number;
  minWrapTtl: number;
  maxWrapTtl: number;
  allowed: Map<string, unknown[]> | null;
  denied: Map<string, unknown[]> | null;
  required: string[];
}

/** A glob with `+` segments; `pattern` has the trailing `*` stripped, `parts` is it split on `/`. */
interface SegmentRule {
  pattern: string;
  parts: string[];
  isPrefix: boolean;
  /** Position of the first `+` in the pattern as written (Vault takes the raw index). */
  firstWildcard: number;
  wildcards: number;
  permissions: Permissions;
}

type Ranked = Pick<SegmentRule, 'pattern' | 'isPrefix' | 'firstWildcard' | 'wildcards'>;

// The four possible answers, shared and frozen: a check allocates no result.
const result = (allowed: boolean, rootPrivs: boolean): AclResult => Object.freeze({ allowed, rootPrivs });
const RESULTS = [result(false, false), result(true, false), result(false, true), result(true, true)] as const;
const ROOT = RESULTS[3];
const DENIED = RESULTS[0];
const HELP = RESULTS[1];

/**
 * A token's policies compiled once into lookup tables: exact paths in a map; `*` prefixes in a map, probed by
 * length (longest first) among the lengths that can match the path's first segment; `+` patterns bucketed by
 * first segment and pre-sorted by Vault's priority, so the first that matches is the best one. `check` and
 * `capabilities` only look things up, and allocate next to nothing.
 */
export class Acl {
  readonly isRoot: boolean;
  private readonly exact = new Map<string, Permissions>();
  private readonly prefixes = new Map<string, Permissions>();
  /** Lengths (longest first) of the prefixes that contain a `/`, by their first segment. */
  private readonly prefixLengthsByFirst = new Map<string, number[]>();
  /** Lengths of the prefixes with no `/` (`*`, `sec*`): shorter than any of the above, so probed after them. */
  private readonly shortPrefixLengths: number[];
  /** `+` patterns by their first segment (a literal), and those starting with `+`; each list best-first. */
  private readonly segmentsByFirst = new Map<string, SegmentRule[]>();
  private readonly segmentsAnyFirst: SegmentRule[] = [];

  constructor(policies: readonly Policy[]) {
    this.isRoot = policies.some((p) => p.name === ROOT_POLICY_NAME);
    // Vault refuses to build this: a root token carries `root` alone, so anything else means a bug upstream.
    if (this.isRoot && policies.length !== 1) {
      throw new CofferError('internal', 'other policies present along with root');
    }

    const segments = new Map<string, SegmentRule>();
    for (const policy of policies) {
      for (const rule of policy.paths) {
        if (!rule.templated) this.add(rule, segments);
      }
    }
    const longestFirst = (lengths: Iterable<number>) => [...new Set(lengths)].sort((a, b) => b - a);
    const short: number[] = [];
    for (const prefix of this.prefixes.keys()) {
      const slash = prefix.indexOf('/');
      if (slash < 0) short.push(prefix.length);
      else {
        const first = prefix.slice(0, slash);
        const lengths = this.prefixLengthsByFirst.get(first) ?? [];
        this.prefixLengthsByFirst.set(first, longestFirst([...lengths, prefix.length]));
      }
    }
    this.shortPrefixLengths = longestFirst(short);
    for (const rule of [...segments.values()].sort((a, b) => priority(b, a))) {
      const first = rule.parts[0]!;
      if (first === '+') this.segmentsAnyFirst.push(rule);
      else this.segmentsByFirst.set(first, [...(this.segmentsByFirst.get(first) ?? []), rule]);
    }
  }

  /** Whether `operation` on `path` is allowed, and whether the matched rule carries sudo. */
  check(path: string, operation: AclOperation, request: AclRequest = {}): AclResult {
    if (this.isRoot) return ROOT;
    const rule = OPERATIONS[operation];
    if (rule === undefined) return DENIED;
    if ('always' in rule) return HELP;

    const isList = operation === 'list';
    const permissions = this.lookup(requestPath(path, isList), isList);
    if (permissions === undefined) return DENIED;

    const allowed =
      (permissions.bits & rule.capability) !== 0 &&
      wrappingAllows(permissions, request.wrapTtl) &&
      (!rule.parameters || parametersAllow(permissions, request.data));
    return RESULTS[(allowed ? 1 : 0) | ((permissions.bits & SUDO) !== 0 ? 2 : 0)]!;
  }

  /**
   * Vault's `sys/capabilities` answer for `path`, sorted: `["root"]` for root, `["deny"]` for an explicit deny or
   * no match. Looked up as a list would be (Vault does the same, to get its trailing-slash fallbacks).
   */
  capabilities(path: string): string[] {
    if (this.isRoot) return ['root'];
    const bits = this.lookup(stripLeadingSlashes(path), true)?.bits ?? 0;
    if ((bits & DENY) !== 0 || bits === 0) return ['deny'];
    return namesOf(bits).sort();
  }

  private add(rule: PathRule, segments: Map<string, SegmentRule>): void {
    const incoming = permissionsOf(rule);
    const hasSegmentWildcards = rule.path === '+' || rule.path.includes('/+') || rule.path.startsWith('+/');
    const isPrefix = rule.path.endsWith('*');
    const pattern = isPrefix ? rule.path.slice(0, -1) : rule.path;

    if (!hasSegmentWildcards) {
      const table = isPrefix ? this.prefixes : this.exact;
      const existing = table.get(pattern);
      table.set(pattern, existing === undefined ? incoming : merge(existing, incoming));
      return;
    }
    // Keyed by the path as written, trailing `*` included (as Vault keys them): `a/+/b` and `a/+/b*` stay two rules.
    const existing = segments.get(rule.path);
    if (existing !== undefined) {
      existing.permissions = merge(existing.permissions, incoming);
      return;
    }
    const parts = pattern.split('/');
    segments.set(rule.path, {
      pattern,
      parts,
      isPrefix,
      firstWildcard: rule.path.indexOf('+'),
      wildcards: parts.filter((p) => p === '+').length,
      permissions: incoming,
    });
  }

  /** Vault's order: exact, then (lists) exact without the trailing slash, then globs (lists: trimmed path first). */
  private lookup(path: string, isList: boolean): Permissions | undefined {
    const exact = this.exact.get(path) ?? (isList ? this.exact.get(trimOneSlash(path)) : undefined);
    if (exact !== undefined) return exact;
    if (isList && path.endsWith('/')) {
      const trimmed = this.nonExact(path.slice(0, -1));
      if (trimmed !== undefined) return trimmed;
    }
    return this.nonExact(path);
  }

  /** The highest-priority glob matching `path`: the longest `*` prefix against the best `+` pattern. */
  private nonExact(path: string): Permissions | undefined {
    const slash = path.indexOf('/');
    const first = slash < 0 ? path : path.slice(0, slash);
    const byFirst = this.prefixLengthsByFirst.get(first);
    const prefix = this.longestPrefix(path, byFirst) ?? this.longestPrefix(path, this.shortPrefixLengths);
    const segment = this.bestSegment(path, first);
    if (segment === undefined) return prefix === undefined ? undefined : this.prefixes.get(prefix);
    if (prefix === undefined) return segment.permissions;
    const asRanked: Ranked = { pattern: prefix, isPrefix: true, firstWildcard: prefix.length, wildcards: 0 };
    return priority(segment, asRanked) > 0 ? segment.permissions : this.prefixes.get(prefix);
  }

  private longestPrefix(path: string, lengths: number[] | undefined): string | undefined {
    for (const length of lengths ?? []) {
      if (length > path.length) continue;
      const candidate = path.slice(0, length);
      if (this.prefixes.has(candidate)) return candidate;
    }
    return undefined;
  }

  private bestSegment(path: string, first: string): SegmentRule | undefined {
    const a = this.segmentsByFirst.get(first)?.find((rule) => segmentsMatch(rule, path));
    const b = this.segmentsAnyFirst.find((rule) => segmentsMatch(rule, path));
    return a === undefined || b === undefined ? (a ?? b) : priority(a, b) > 0 ? a : b;
  }
}

/**
 * Vault's priority between two glob matches (docs, concepts/policies), positive when `a` wins: the later first
 * wildcard, then not ending in `*`, then fewer `+` segments, then the longer pattern, then the greater string.
 */
function priority(a: Ranked, b: Ranked): number {
  return (
    a.firstWildcard - b.firstWildcard ||
    Number(b.isPrefix) - Number(a.isPrefix) ||
    b.wildcards - a.wildcards ||
    a.pattern.length - b.pattern.length ||
    (a.pattern === b.pattern ? 0 : a.pattern > b.pattern ? 1 : -1)
  );
}

/**
 * Vault's segment match (as on `path.split('/')`), walked in place: `+` takes any one segment, a literal must equal
 * its segment, a trailing `*` globs the rest of the last segment and everything after it; without `*` the segment
 * counts must be equal.
 */
function segmentsMatch(rule: SegmentRule, path: string): boolean {
  const { parts, isPrefix } = rule;
  let start = 0;
  for (let i = 0; i < parts.length; i++) {
    if (start > path.length) return false; // the path has fewer segments
    const slash = path.indexOf('/', start);
    const end = slash < 0 ? path.length : slash;
    const want = parts[i]!;
    if (want !== '+') {
      const fits = path.startsWith(want, start) && start + want.length <= end;
      const whole = fits && start + want.length === end;
      if (!whole && !(fits && isPrefix && i === parts.length - 1)) return false;
    }
    start = end + 1;
  }
  return isPrefix || start > path.length;
}

function stripLeadingSlashes(path: string): string {
  let i = 0;
  while (path.charCodeAt(i) === 47 /* / */) i++;
  return i === 0 ? path : path.slice(i);
}

/** Vault's HTTP layer makes every list path end in `/` before the ACL sees it; doing it here too is harmless. */
function requestPath(path: string, isList: boolean): string {
  const p = stripLeadingSlashes(path);
  return isList && !p.endsWith('/') ? `${p}/` : p;
}

function trimOneSlash(path: string): string {
  return path.endsWith('/') ? path.slice(0, -1) : path;
}

function permissionsOf(rule: PathRule): Permissions {
  return {
    bits: bitsOf(rule.capabilities),
    minWrapTtl: rule.minWrappingTtl ?? 0,
    maxWrapTtl: rule.maxWrappingTtl ?? 0,
    allowed: parameterMap(rule.allowedParameters),
    denied: parameterMap(rule.deniedParameters),
    required: [...(rule.requiredParameters ?? [])],
  };
}

function parameterMap(parameters: Record<string, unknown[]> | undefined): Map<string, unknown[]> | null {
  return parameters ? new Map(Object.entries(parameters).map(([name, values]) => [name, [...values]])) : null;
}

/**
 * Two rules on the same pattern (vault/acl.go NewACL): an existing deny stays; an incoming deny replaces everything;
 * otherwise capabilities are a union, wrapping TTL bounds keep the smaller value, parameters combine.
 */
function merge(existing: Permissions, incoming: Permissions): Permissions {
  if ((existing.bits & DENY) !== 0) return existing;
  if ((incoming.bits & DENY) !== 0) return { ...existing, bits: DENY, allowed: null, denied: null };
  return {
    bits: existing.bits | incoming.bits,
    minWrapTtl: smallerBound(existing.minWrapTtl, incoming.minWrapTtl),
    maxWrapTtl: smallerBound(existing.maxWrapTtl, incoming.maxWrapTtl),
    allowed: mergeParameters(existing.allowed, incoming.allowed),
    denied: mergeParameters(existing.denied, incoming.denied),
    required: [...new Set([...existing.required, ...incoming.required])],
  };
}

/** 0 means unset, so it never wins. */
function smallerBound(a: number, b: number): number {
  return b > 0 && (a === 0 || b < a) ? b : a;
}

/** An empty value list (any value) absorbs a concrete one; two concrete lists concatenate. */
function mergeParameters(existing: Map<string, unknown[]> | null, incoming: Map<string, unknown[]> | null) {
  if (incoming === null || incoming.size === 0) return existing;
  const out = new Map(existing ?? []);
  for (const [name, values] of incoming) {
    const current = out.get(name);
    out.set(name, values.length === 0 || current?.length === 0 ? [] : [...values, ...(current ?? [])]);
  }
  return out;
}

function wrappingAllows(p: Permissions, wrapTtl: number | undefined): boolean {
  if (p.maxWrapTtl > 0 && (wrapTtl === undefined || wrapTtl > p.maxWrapTtl)) return false;
  if (p.minWrapTtl > 0 && (wrapTtl === undefined || wrapTtl < p.minWrapTtl)) return false;
  // Merging can leave min above max even though each rule was checked on its own.
  return !(p.minWrapTtl > 0 && p.maxWrapTtl > 0 && p.maxWrapTtl < p.minWrapTtl);
}

/** Vault's parameter rules (vault/acl.go AllowOperation), in its order. */
function parametersAllow(p: Permissions, data: Readonly<Record<string, unknown>> | undefined): boolean {
  const body = data ?? {};
  if (!p.required.every((name) => Object.hasOwn(body, name.toLowerCase()))) return false;
  const entries = Object.entries(body);
  if (entries.length === 0) return true;

  if (p.denied !== null && p.denied.size > 0) {
    if (p.denied.has('*')) return false;
    for (const [name, value] of entries) {
      const list = p.denied.get(name.toLowerCase());
      if (list !== undefined && inDeniedList(value, list)) return false;
    }
  }

  if (p.allowed === null || p.allowed.size === 0) return true;
  const allowedAll = p.allowed.has('*');
  if (allowedAll && p.allowed.size === 1) return true;
  return entries.every(([name, value]) => {
    const list = p.allowed!.get(name.toLowerCase());
    return list === undefined ? allowedAll : inAllowedList(value, list);
  });
}

/** Each element of an array, or of a comma-separated string, must be allowed (Vault's non-legacy matching). */
function inAllowedList(value: unknown, list: unknown[]): boolean {
  if (list.length === 0 || inList(value, list)) return true;
  const items = Array.isArray(value) ? value : typeof value === 'string' ? commaList(value) : undefined;
  return items !== undefined && items.every((v) => inList(v, list));
}

/** Any element of an array, or of a comma-separated string, being denied denies the lot. */
function inDeniedList(value: unknown, list: unknown[]): boolean {
  if (list.length === 0 || inList(value, list)) return true;
  const items = Array.isArray(value) ? value : typeof value === 'string' ? commaList(value) : [];
  return items.some((v) => inList(v, list));
}

function commaList(value: string): string[] {
  return value === '' ? [] : value.split(',').map((s) => s.trim());
}

function inList(value: unknown, list: unknown[]): boolean {
  return list.some((el) =>
    el === null || value === null || el === undefined || value === undefined
      ? el == value
      : typeof el === 'string'
        ? typeof value === 'string' && globMatch(el, value)
        : deepEqual(el, value),
  );
}

/** Vault's GlobbedStringsMatch: a leading and/or trailing `*` on the allowed value. */
function globMatch(pattern: string, value: string): boolean {
  if (pattern.length < 2) return value === pattern;
  const head = pattern.startsWith('*');
  const tail = pattern.endsWith('*');
  if (head && tail) return value.includes(pattern.slice(1, -1));
  if (head) return value.endsWith(pattern.slice(1));
  if (tail) return value.startsWith(pattern.slice(0, -1));
  return value === pattern;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length && keys.every((k) => Object.hasOwn(y, k) && deepEqual(x[k], y[k]));
}
