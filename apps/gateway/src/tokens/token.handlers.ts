import { CofferError } from '#contracts';
import { goTypeName, weakBool, weakInt, weakString, weakStringMap, weakStringSlice, type DecodeFailure } from '#vault-rules';
import type { Operation, VaultRequest, VaultResponse } from '../vault-http.js';
import type { CallerToken, CreateTokenParams, TokenEntry, TokenStore } from './token-store.js';

/** What the gateway knows that the token store does not: the caller's ACL, and which policies exist. */
export interface TokenHandlerOptions {
  /**
   * Whether the caller holds `sudo` on `path` (Vault's SudoPrivilege): it gates custom ids, `no_parent`, periodic
   * tokens, policies outside the caller's own, and revoke-orphan. Without it only root tokens count as sudo.
   */
  hasSudo?: (caller: CallerToken, path: string) => boolean | Promise<boolean>;
  /** For Vault's `Policy "x" does not exist` warnings on create; no warnings without it. Never asked about `root`. */
  policyExists?: (name: string) => boolean | Promise<boolean>;
}

export type TokenHandler = (
  req: VaultRequest,
  caller: CallerToken,
  store: TokenStore,
  opts?: TokenHandlerOptions,
) => Promise<VaultResponse>;

/** `auth/token/create`: a child of the caller (or an orphan with `no_parent` and sudo). */
export const create: TokenHandler = (req, caller, store, opts = {}) =>
  issue(req, caller, store, opts, 'auth/token/create', false);

/** `auth/token/create-orphan`: an orphan; the ACL on this path is the gate, not sudo. */
export const createOrphan: TokenHandler = (req, caller, store, opts = {}) =>
  issue(req, caller, store, opts, 'auth/token/create-orphan', true);

/** `auth/token/lookup` (GET with `?token=` or POST with a body): without a token, the caller's own. */
export const lookup: TokenHandler = async (req, caller, store) => {
  const token = stringField(req, 'token') || caller.token;
  const entry = token === caller.token ? caller : await store.lookup(token);
  if (!entry) throw new CofferError('permission-denied', 'bad token');
  return { kind: 'envelope', data: lookupData(entry, token, store.now()) };
};

/** `auth/token/lookup-self`. The caller's entry is used as is: on its last use the token is already gone. */
export const lookupSelf: TokenHandler = async (_req, caller, store) => ({
  kind: 'envelope',
  data: lookupData(caller, caller.token, store.now()),
});

/** `auth/token/lookup-accessor`: as lookup, with `id` blanked, since an accessor must not reveal its token. */
export const lookupAccessor: TokenHandler = async (req, caller, store) => {
  const accessor = stringField(req, 'accessor');
  if (!accessor) throw invalid('missing accessor');
  const entry = accessor === caller.accessor ? caller : await store.lookupByAccessor(accessor);
  if (!entry) throw invalid('invalid accessor');
  return { kind: 'envelope', data: lookupData(entry, '', store.now()) };
};

/** `auth/token/renew`: `token`, optional `increment`. */
export const renew: TokenHandler = async (req, _caller, store) => {
  const token = stringField(req, 'token');
  if (!token) throw invalid('missing token ID');
  const renewed = await store.renew(token, durationField(req, 'increment'));
  if (!renewed) throw invalid('token not found');
  return renewedResponse(token, renewed.entry, renewed.warnings);
};

/** `auth/token/renew-self`: optional `increment`. */
export const renewSelf: TokenHandler = async (req, caller, store) => {
  const renewed = await store.renew(caller.token, durationField(req, 'increment'));
  if (!renewed) throw invalid('token not found');
  return renewedResponse(caller.token, renewed.entry, renewed.warnings);
};

/** `auth/token/renew-accessor`: as renew, with `client_token` blanked. */
export const renewAccessor: TokenHandler = async (req, _caller, store) => {
  const accessor = stringField(req, 'accessor');
  if (!accessor) throw invalid('missing accessor');
  const renewed = await store.renewByAccessor(accessor, durationField(req, 'increment'));
  if (!renewed) throw invalid('invalid accessor');
  return renewedResponse('', renewed.entry, renewed.warnings);
};

/** `auth/token/revoke`: the token and all its descendants. An unknown token is not an error (204), as in Vault. */
export const revoke: TokenHandler = async (req, _caller, store) => {
  const token = stringField(req, 'token');
  if (!token) throw invalid('missing token ID');
  await store.revoke(token);
  return { kind: 'empty' };
};

/** `auth/token/revoke-self`. */
export const revokeSelf: TokenHandler = async (_req, caller, store) => {
  await store.revoke(caller.token);
  return { kind: 'empty' };
};

/** `auth/token/revoke-accessor`. An unknown accessor answers 200 with Vault's warning rather than an error. */
export const revokeAccessor: TokenHandler = async (req, _caller, store) => {
  const accessor = stringField(req, 'accessor');
  if (!accessor) throw invalid('missing accessor');
  const revoked = await store.revokeByAccessor(accessor);
  if (revoked === 0) return { kind: 'envelope', data: null, warnings: ['No token found with this accessor'] };
  return { kind: 'empty' };
};

/** `auth/token/revoke-orphan`: the token alone, its children become orphans. Sudo only, checked here as in Vault. */
export const revokeOrphan: TokenHandler = async (req, caller, store, opts = {}) => {
  const token = stringField(req, 'token');
  if (!token) throw invalid('missing token ID');
  if (!(await hasSudo(opts, caller, req.path))) throw invalid('root or sudo privileges required to revoke and orphan');
  if (!(await store.revokeOrphan(token))) throw invalid('token to revoke not found');
  return { kind: 'empty' };
};

export interface TokenRoute {
  /** Matches `VaultRequest.path` exactly; the ACL is checked on that same path, as Vault does. */
  pattern: RegExp;
  name: string;
  operations: Partial<Record<Operation, TokenHandler>>;
}

/**
 * The token store's paths, for the router. Vault anchors each pattern at both ends, so `auth/token/lookup/x` is
 * not a lookup. POST/PUT arrive as `update`; `lookup` and `lookup-self` also answer GET (`read`).
 */
export const TOKEN_ROUTES: readonly TokenRoute[] = [
  { pattern: /^auth\/token\/create$/, name: 'create', operations: { update: create } },
  { pattern: /^auth\/token\/create-orphan$/, name: 'create-orphan', operations: { update: createOrphan } },
  { pattern: /^auth\/token\/lookup$/, name: 'lookup', operations: { read: lookup, update: lookup } },
  { pattern: /^auth\/token\/lookup-self$/, name: 'lookup-self', operations: { read: lookupSelf, update: lookupSelf } },
  { pattern: /^auth\/token\/lookup-accessor$/, name: 'lookup-accessor', operations: { update: lookupAccessor } },
  { pattern: /^auth\/token\/renew$/, name: 'renew', operations: { update: renew } },
  { pattern: /^auth\/token\/renew-self$/, name: 'renew-self', operations: { update: renewSelf } },
  { pattern: /^auth\/token\/renew-accessor$/, name: 'renew-accessor', operations: { update: renewAccessor } },
  { pattern: /^auth\/token\/revoke$/, name: 'revoke', operations: { update: revoke } },
  { pattern: /^auth\/token\/revoke-self$/, name: 'revoke-self', operations: { update: revokeSelf } },
  { pattern: /^auth\/token\/revoke-accessor$/, name: 'revoke-accessor', operations: { update: revokeAccessor } },
  { pattern: /^auth\/token\/revoke-orphan$/, name: 'revoke-orphan', operations: { update: revokeOrphan } },
];

/** The token rules of Vault's built-in `default` policy: every token may look up, renew and revoke itself. */
export const DEFAULT_POLICY_TOKEN_RULES: readonly { path: string; capabilities: readonly string[] }[] = [
  { path: 'auth/token/lookup-self', capabilities: ['read'] },
  { path: 'auth/token/renew-self', capabilities: ['update'] },
  { path: 'auth/token/revoke-self', capabilities: ['update'] },
];

/** The same rules as HCL, to splice into the `default` policy text. */
export const DEFAULT_POLICY_TOKEN_HCL = DEFAULT_POLICY_TOKEN_RULES.map(
  (rule) => `path "${rule.path}" {\n    capabilities = [${rule.capabilities.map((c) => `"${c}"`).join(', ')}]\n}`,
).join('\n\n');

async function issue(
  req: VaultRequest,
  caller: CallerToken,
  store: TokenStore,
  opts: TokenHandlerOptions,
  path: string,
  orphan: boolean,
): Promise<VaultResponse> {
  const d = req.data ?? {};
  const params: CreateTokenParams = {
    id: weakString(d.id, decodeError('id')),
    policies: weakStringSlice(d.policies, decodeError('policies')),
    meta: weakStringMap(d.meta, decodeError('meta')),
    noParent: weakBool(d.no_parent, decodeError('no_parent')),
    noDefaultPolicy: weakBool(d.no_default_policy, decodeError('no_default_policy')),
    renewable: weakBool(d.renewable, decodeError('renewable')),
    ttl: weakString(d.ttl, decodeError('ttl')),
    lease: weakString(d.lease, decodeError('lease')),
    explicitMaxTtl: weakString(d.explicit_max_ttl, decodeError('explicit_max_ttl')),
    period: weakString(d.period, decodeError('period')),
    displayName: weakString(d.display_name, decodeError('display_name')),
    numUses: weakInt(d.num_uses, decodeError('num_uses')),
    type: weakString(d.type, decodeError('type')),
    entityAlias: weakString(d.entity_alias, decodeError('entity_alias')),
    orphan,
    parentHasSudo: await hasSudo(opts, caller, req.path),
    path,
  };
  const issued = await store.create(params, caller);
  const warnings = [...issued.warnings];
  if (opts.policyExists) {
    for (const policy of issued.entry.policies) {
      if (policy !== 'root' && !(await opts.policyExists(policy))) warnings.push(`Policy ${JSON.stringify(policy)} does not exist`);
    }
  }
  return { kind: 'envelope', data: null, auth: authOf(issued.token, issued.entry), warnings };
}

function renewedResponse(token: string, entry: TokenEntry, warnings: string[]): VaultResponse {
  return { kind: 'envelope', data: null, auth: authOf(token, entry), warnings };
}

/** Vault's HTTPAuth, fields in its order; `identity_policies` is omitted as Vault omits it when there are none. */
export function authOf(token: string, entry: TokenEntry): Record<string, unknown> {
  return {
    client_token: token,
    accessor: entry.accessor,
    policies: entry.policies,
    token_policies: entry.policies,
    metadata: entry.meta,
    lease_duration: entry.ttl,
    renewable: entry.renewable,
    entity_id: entry.entityId,
    token_type: entry.type,
    orphan: entry.orphan,
    mfa_requirement: null,
    num_uses: entry.numUses,
  };
}

/** Vault's lookup data. Go writes map keys sorted, so they are sorted here too. */
export function lookupData(entry: TokenEntry, id: string, nowMs: number): Record<string, unknown> {
  const expires = entry.expireTime === null ? null : Date.parse(entry.expireTime);
  // Vault: ExpireTime.Sub(now.Round(time.Second)), truncated to seconds.
  const ttl = expires === null ? 0 : Math.max(0, Math.trunc((expires - Math.round(nowMs / 1000) * 1000) / 1000));
  const data: Record<string, unknown> = {
    accessor: entry.accessor,
    creation_time: entry.creationTime,
    creation_ttl: entry.creationTtl,
    display_name: entry.displayName,
    entity_id: entry.entityId,
    expire_time: entry.expireTime,
    explicit_max_ttl: entry.explicitMaxTtl,
    id,
    issue_time: entry.issueTime,
    meta: entry.meta,
    num_uses: entry.numUses,
    orphan: entry.orphan,
    path: entry.path,
    policies: entry.policies,
    renewable: entry.renewable,
    ttl,
    type: entry.type,
  };
  if (entry.period > 0) data.period = entry.period;
  if (entry.lastRenewalTime !== null) {
    data.last_renewal_time = entry.lastRenewalTime;
    data.last_renewal = new Date(entry.lastRenewalTime * 1000).toISOString();
  }
  return Object.fromEntries(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function hasSudo(opts: TokenHandlerOptions, caller: CallerToken, path: string): Promise<boolean> {
  if (caller.policies.includes('root')) return true;
  return opts.hasSudo ? await opts.hasSudo(caller, path) : false;
}

/**
 * A field of the request data, and only of it: the parse stage puts a GET's query there and leaves a write's query
 * out, and the ACL has checked exactly this data. Reading the query here too would let `?token=` skip the ACL.
 */
function rawField(req: VaultRequest, name: string): unknown {
  return req.data && Object.hasOwn(req.data, name) ? req.data[name] : undefined;
}

function stringField(req: VaultRequest, name: string): string {
  return weakString(rawField(req, name), decodeError(name)) ?? '';
}

function durationField(req: VaultRequest, name: string): string | number | undefined {
  const value = rawField(req, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' || typeof value === 'string') return value;
  throw decodeError(name)('duration', value);
}

/**
 * Vault decodes request data "weakly" (mapstructure.WeakDecode, in libs/vault-rules); this is how the token store
 * words a value it cannot convert.
 */
function decodeError(name: string): DecodeFailure {
  return (expected, value, element = '') =>
    invalid(`Error decoding request: '${name}${element}' expected type '${expected}', got unconvertible type '${goTypeName(value)}'`);
}

function invalid(message: string): CofferError {
  return new CofferError('invalid-request', message);
}
