import { randomBytes } from 'node:crypto';
import { CofferError } from '#contracts';
import type { CreateTokenParams, LoginGrant, TokenEntry } from './token-store.js';
import { calculateTtl, parseDurationSeconds } from './ttl.js';

/**
 * Vault's token rules, as pure functions of their inputs: which policies a token may get (the issuance rule, one for
 * every path that issues tokens), what a child token looks like, what TTL a login's token gets, and the token id
 * format. The store (token-store.ts) only loads what these need and stores what they decide.
 */

export const TOKEN_LENGTH = 24;
export const SERVICE_TOKEN_PREFIX = 'hvs.';
/** Policies Vault keeps for its own machinery; only that machinery may issue a token with them. */
export const NON_ASSIGNABLE_POLICIES: readonly string[] = ['response-wrapping', 'control-group'];
/** The policy of Vault's response-wrapping tokens. */
export const RESPONSE_WRAPPING_POLICY = 'response-wrapping';

export interface TokenLimits {
  /** Vault's `default_lease_ttl`, seconds. */
  defaultLeaseTtl: number;
  /** Vault's `max_lease_ttl`, seconds. */
  maxLeaseTtl: number;
}

/** Who is issuing a token, which decides what policies it may carry. */
export type Issuer =
  /** An auth method's login (any plugin, AppRole included): its `auth` block's policies plus `default`. */
  | { kind: 'login' }
  /** A token asking for a child (`auth/token/create*`), by Vault's handleCreateCommon. */
  | { kind: 'child'; parentPolicies: readonly string[]; sudo: boolean; noDefaultPolicy: boolean }
  /** Vault's response wrapping: the `response-wrapping` policy alone, nothing else. */
  | { kind: 'wrapping' };

/**
 * The issuance rule: the policies of a token, or Vault's refusal. Every path that issues a token goes through it,
 * so no auth plugin and no request can mint `root`, `response-wrapping` or `control-group` where Vault would not.
 */
export function issuancePolicies(requested: readonly string[], issuer: Issuer): string[] {
  if (issuer.kind === 'wrapping') return [RESPONSE_WRAPPING_POLICY];
  const policies =
    issuer.kind === 'login'
      ? sanitizePolicies(requested, true)
      : childPolicies(requested, issuer.parentPolicies, issuer.sudo, issuer.noDefaultPolicy);
  // Vault's core refuses before anything is stored: an auth method never hands out root (RegisterAuth).
  if (issuer.kind === 'login' && policies.includes('root')) throw invalid('auth methods cannot create root tokens');
  for (const policy of policies) {
    if (NON_ASSIGNABLE_POLICIES.includes(policy)) throw invalid(`cannot assign policy ${JSON.stringify(policy)}`);
  }
  if (issuer.kind === 'child' && policies.includes('root') && !issuer.parentPolicies.includes('root')) {
    throw invalid('root tokens may not be created without parent token being root');
  }
  return policies;
}

/** A token's entry as the rules decide it; the store adds the random accessor and the parent's. */
export type PlannedEntry = Omit<TokenEntry, 'accessor' | 'parentAccessor'>;

/**
 * A child of `from` (or an orphan), by Vault's rules (`handleCreateCommon`): policies by the issuance rule; the TTL
 * defaults to the default lease TTL (none for root tokens), never exceeds the max lease TTL or the explicit max TTL,
 * and, unless the token is an orphan, never outlives the parent (`parentExpiry`, ms).
 */
export function planChildToken(
  params: CreateTokenParams,
  from: TokenEntry,
  parentExpiry: number | null,
  nowMs: number,
  limits: TokenLimits,
): { token?: string; entry: PlannedEntry; warnings: string[] } {
  const now = Math.floor(nowMs / 1000);
  const sudo = params.parentHasSudo === true || isRootPolicy(from.policies);

  switch (params.type ?? '') {
    case '':
    case 'service':
      break;
    case 'batch':
      throw invalid('batch tokens are not supported');
    default:
      throw invalid("invalid 'token_type' value");
  }
  const numUses = params.numUses ?? 0;
  if (!Number.isInteger(numUses)) throw invalid('num_uses must be an integer');
  if (numUses < 0) throw invalid('number of uses cannot be negative');
  if (params.entityAlias) throw invalid("'entity_alias' is only allowed in combination with token role");

  let displayName = 'token';
  if (params.displayName) {
    displayName = `token-${params.displayName}`.replace(/[^a-zA-Z0-9-]/g, '-');
    if (displayName.endsWith('-')) displayName = displayName.slice(0, -1);
  }

  let token: string | undefined;
  if (params.id) {
    if (!sudo) throw invalid('root or sudo privileges required to specify token id');
    token = checkCustomId(params.id);
  }

  const policies = issuancePolicies(params.policies ?? [], { kind: 'child', parentPolicies: from.policies, sudo, noDefaultPolicy: params.noDefaultPolicy === true });

  let orphan = params.orphan === true;
  if (params.noParent) {
    if (!sudo) throw invalid('root or sudo privileges required to create orphan token');
    orphan = true;
  }

  let explicitMaxTtl = 0;
  const explicit = parseDurationSeconds(params.explicitMaxTtl);
  if (explicit !== undefined) {
    if (explicit < 0) throw invalid('explicit_max_ttl must be positive');
    explicitMaxTtl = explicit;
  }
  let period = 0;
  const periodGiven = parseDurationSeconds(params.period);
  if (periodGiven !== undefined) {
    if (periodGiven < 0) throw invalid('period must be positive');
    if (periodGiven > 0) {
      if (!sudo) throw invalid('root or sudo privileges required to create periodic token');
      period = periodGiven;
    }
  }
  let ttl = 0;
  const ttlGiven = parseDurationSeconds(params.ttl === '' || params.ttl === undefined ? params.lease : params.ttl);
  if (ttlGiven !== undefined) {
    if (ttlGiven < 0) throw invalid(params.ttl === undefined || params.ttl === '' ? 'lease must be positive' : 'ttl must be positive');
    ttl = ttlGiven;
  }

  const warnings: string[] = [];
  // Root tokens without a TTL are the only tokens that never expire, as in Vault.
  if (period > 0 || ttl > 0 || !policies.includes('root')) {
    const computed = calculateTtl({
      increment: 0,
      backendTtl: ttl,
      period,
      explicitMaxTtl,
      start: now,
      now,
      defaultLeaseTtl: limits.defaultLeaseTtl,
      maxLeaseTtl: limits.maxLeaseTtl,
    });
    ttl = computed.ttl;
    warnings.push(...computed.warnings);
  }
  if (ttl === 0 && explicitMaxTtl > 0) ttl = explicitMaxTtl;
  let renewable = params.renewable ?? true;
  if (ttl === 0) {
    if (from.expireTime !== null) throw invalid('expiring root tokens cannot create non-expiring root tokens');
    renewable = false;
  }

  let expiresAt = ttl === 0 ? null : nowMs + ttl * 1000;
  // Vault revokes children with their parent; capping the child keeps that true without timers or ancestor walks.
  if (!orphan && parentExpiry !== null && expiresAt !== null && expiresAt > parentExpiry) {
    expiresAt = parentExpiry;
    ttl = Math.max(0, Math.floor((parentExpiry - nowMs) / 1000));
  }

  const entry: PlannedEntry = {
    policies,
    path: params.path ?? 'auth/token/create',
    meta: params.meta ? { ...params.meta } : null,
    displayName,
    numUses,
    creationTime: now,
    creationTtl: ttl,
    explicitMaxTtl,
    period,
    ttl,
    renewable,
    expireTime: expiresAt === null ? null : new Date(expiresAt).toISOString(),
    issueTime: new Date(nowMs).toISOString(),
    lastRenewalTime: null,
    orphan,
    type: 'service',
    entityId: '',
  };
  return { token, entry, warnings };
}

/**
 * A login's token (Vault's `core.RegisterAuth`): an orphan with the method's policies under the issuance rule, its
 * TTL the method's (else the mount's default, else the server's), capped by the method's, the mount's and the
 * server's max TTL.
 */
export function planLoginToken(login: LoginGrant, nowMs: number, limits: TokenLimits): PlannedEntry {
  const policies = issuancePolicies(login.policies, { kind: 'login' });
  const maxTtl = Math.min(...[login.maxTtl, login.mountMaxTtl, limits.maxLeaseTtl].filter((t): t is number => !!t && t > 0));
  const wanted = login.ttl && login.ttl > 0 ? login.ttl : login.mountDefaultTtl && login.mountDefaultTtl > 0 ? login.mountDefaultTtl : limits.defaultLeaseTtl;
  const ttl = Number.isFinite(maxTtl) ? Math.min(wanted, maxTtl) : wanted;
  return orphanEntry(nowMs, {
    policies,
    path: login.path,
    meta: login.meta && Object.keys(login.meta).length ? login.meta : null,
    displayName: login.displayName,
    numUses: login.numUses ?? 0,
    ttl,
    renewable: login.renewable ?? true,
    ...(login.boundCidrs?.length ? { boundCidrs: [...login.boundCidrs] } : {}),
    ...(login.origin ? { login: { ...login.origin, policies: [...login.policies] } } : {}),
  });
}

/** A token no other token asked for (root, logins): everything but these fields follows from the clock. */
export function orphanEntry(
  nowMs: number,
  f: Pick<TokenEntry, 'policies' | 'path' | 'meta' | 'displayName' | 'numUses' | 'ttl' | 'renewable' | 'boundCidrs' | 'login'>,
): PlannedEntry {
  return {
    ...f,
    creationTime: Math.floor(nowMs / 1000),
    creationTtl: f.ttl,
    explicitMaxTtl: 0,
    period: 0,
    expireTime: f.ttl > 0 ? new Date(nowMs + f.ttl * 1000).toISOString() : null,
    issueTime: new Date(nowMs).toISOString(),
    lastRenewalTime: null,
    orphan: true,
    type: 'service',
    entityId: '',
  };
}

/** Vault's policy rules for a child without a role (`handleCreateCommon`). */
function childPolicies(wanted: readonly string[], parentPolicies: readonly string[], sudo: boolean, noDefaultPolicy: boolean): string[] {
  let requested = [...wanted];
  let addDefault = false;
  if (requested.length === 0) {
    // Inheriting: `default` only if the parent has it.
    requested = sanitizePolicies(parentPolicies, false);
  } else if (!sudo) {
    const parent = sanitizePolicies(parentPolicies, false);
    if (!sanitizePolicies(requested, false).every((p) => parent.includes(p))) {
      throw invalid('child policies must be subset of parent');
    }
    addDefault = !noDefaultPolicy && parentPolicies.includes('default');
  } else {
    addDefault = !noDefaultPolicy;
  }
  let policies = sanitizePolicies(requested, addDefault);
  if (noDefaultPolicy) policies = policies.filter((p) => p !== 'default');
  return policies;
}

/** Vault's policyutil.SanitizePolicies: trimmed, lower case, no blanks, `root` swallows the rest, sorted, unique. */
export function sanitizePolicies(policies: readonly string[], addDefault: boolean): string[] {
  const list = policies.map((p) => p.trim().toLowerCase()).filter((p) => p !== '');
  if (list.includes('root')) return ['root'];
  if (addDefault && !list.includes('default')) list.push('default');
  return [...new Set(list)].sort();
}

export function isRootPolicy(policies: readonly string[]): boolean {
  return policies.includes('root');
}

/** Vault's rules for a chosen id; the `hvs.` prefix is reserved so a chosen id never passes for a generated one. */
export function checkCustomId(id: string): string {
  if (id.startsWith(SERVICE_TOKEN_PREFIX)) throw invalid("custom token ID cannot have the 'hvs.' prefix");
  if (id.startsWith('s.')) throw invalid("custom token ID cannot have the 's.' prefix");
  if (id.includes('.')) throw invalid("custom token ID cannot have a '.' in the value");
  return id;
}

export function newTokenId(): string {
  return SERVICE_TOKEN_PREFIX + randomBase62(TOKEN_LENGTH);
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Uniform base62 from the CSPRNG: bytes of 248 and above are dropped, so `% 62` has no bias. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

function invalid(message: string): CofferError {
  return new CofferError('invalid-request', message);
}
