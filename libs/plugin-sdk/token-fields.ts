import { PluginError, type PluginAuth } from '#plugin-protocol';
import { invalidCidrs } from './cidr.js';
import type { FieldSpec } from './fields.js';
import type { Request } from './types.js';

/**
 * Vault's `sdk/helper/tokenutil` for auth plugins: the `token_*` fields every Vault auth method accepts on its roles
 * or users, their checks and texts, how they read back, and the auth block a login builds from them. A plugin
 * spreads `TOKEN_FIELDS` into a path's fields, keeps a `TokenParams` in its entry and calls `parseTokenFields` on
 * writes, `tokenData` on reads and `tokenAuth` at login.
 */

export interface TokenParams {
  token_bound_cidrs: string[];
  /** Seconds; 0 = none. */
  token_explicit_max_ttl: number;
  token_max_ttl: number;
  token_no_default_policy: boolean;
  /** 0 = unlimited. */
  token_num_uses: number;
  token_period: number;
  token_policies: string[];
  /** "default" or "service" (Coffer has no batch tokens). */
  token_type: string;
  token_ttl: number;
}

export function emptyTokenParams(): TokenParams {
  return {
    token_bound_cidrs: [],
    token_explicit_max_ttl: 0,
    token_max_ttl: 0,
    token_no_default_policy: false,
    token_num_uses: 0,
    token_period: 0,
    token_policies: [],
    token_type: 'default',
    token_ttl: 0,
  };
}

export const TOKEN_FIELDS = {
  token_bound_cidrs: { type: 'comma-list', description: 'CIDR blocks (or IPs) the issued tokens may be used from.' },
  token_explicit_max_ttl: { type: 'duration', description: 'A hard cap on the life of the issued tokens, renewals included.' },
  token_max_ttl: { type: 'duration', description: 'The maximum lifetime of the issued tokens.' },
  token_no_default_policy: { type: 'bool', description: "If true, the 'default' policy is not added to the issued tokens." },
  token_num_uses: { type: 'int', description: 'How many times an issued token may be used; 0 means unlimited.' },
  token_period: { type: 'duration', description: 'If set, issued tokens are periodic with this renewal period.' },
  token_policies: { type: 'comma-list', description: 'Policies of the issued tokens (a list or a comma-separated string).' },
  token_type: { type: 'string', description: 'The type of token to issue: "service" or "default".' },
  token_ttl: { type: 'duration', description: 'The initial TTL of the issued tokens; 0 means the mount default.' },
} as const satisfies Record<keyof TokenParams, FieldSpec>;

/** Vault's policyutil.ParsePolicies: trimmed, lower case, no blanks, unique, sorted. */
export function parsePolicies(policies: readonly string[]): string[] {
  return [...new Set(policies.map((p) => p.trim().toLowerCase()).filter((p) => p !== ''))].sort();
}

const invalid = (message: string) => new PluginError('invalid-request', message);

/**
 * Vault's `TokenParams.ParseTokenFields`: each `token_*` field given in the request replaces the current value, then
 * the whole is checked. Returns warnings (Vault's `default-service` adjustment). Throws Vault's texts.
 */
export function parseTokenFields(req: Request, params: TokenParams): string[] {
  const warnings: string[] = [];
  const d = req.data as Partial<TokenParams>;
  if (req.has('token_bound_cidrs')) {
    const bad = invalidCidrs(d.token_bound_cidrs ?? []);
    if (bad.length) throw invalid(`invalid CIDR block or IP address: ${JSON.stringify(bad[0])}`);
    params.token_bound_cidrs = (d.token_bound_cidrs ?? []).map((c) => c.trim());
  }
  if (req.has('token_explicit_max_ttl')) params.token_explicit_max_ttl = d.token_explicit_max_ttl ?? 0;
  if (req.has('token_max_ttl')) params.token_max_ttl = d.token_max_ttl ?? 0;
  if (req.has('token_no_default_policy')) params.token_no_default_policy = d.token_no_default_policy === true;
  if (req.has('token_period')) params.token_period = d.token_period ?? 0;
  if (req.has('token_policies')) params.token_policies = parsePolicies(d.token_policies ?? []);
  if (req.has('token_type')) {
    const raw = String(d.token_type ?? '');
    switch (raw) {
      case '':
      case 'default':
        params.token_type = 'default';
        break;
      case 'service':
        params.token_type = 'service';
        break;
      case 'default-service':
        params.token_type = 'service';
        warnings.push('default-service has no useful meaning; adjusting to service');
        break;
      case 'batch':
      case 'default-batch':
        throw invalid('batch tokens are not supported');
      default:
        throw invalid(`invalid 'token_type' value ${JSON.stringify(raw)}`);
    }
  }
  if (req.has('token_ttl')) params.token_ttl = d.token_ttl ?? 0;
  if (params.token_ttl > 0 && params.token_max_ttl > 0 && params.token_ttl > params.token_max_ttl) {
    throw invalid("'token_ttl' cannot be greater than 'token_max_ttl'");
  }
  if (req.has('token_num_uses')) params.token_num_uses = d.token_num_uses ?? 0;
  if (params.token_num_uses < 0) throw invalid("'token_num_uses' cannot be negative");
  return warnings;
}

/**
 * Vault's tokenutil.UpgradeValue for a deprecated field (`policies` for `token_policies`, `ttl` for `token_ttl`...):
 * the old name is used only when the new one is absent; the returned value is what the entry keeps under the old
 * name (shown back on reads as Vault does), or undefined to clear it.
 */
export function upgradeField<T>(req: Request, oldName: string, newName: string, current: T | undefined, apply: (value: T) => void): T | undefined {
  const data = req.data as Record<string, unknown>;
  if (!req.has(newName)) {
    if (!req.has(oldName)) return current;
    const value = data[oldName] as T;
    apply(value);
    return value;
  }
  return req.has(oldName) ? (data[newName] as T) : undefined;
}

/** Vault's PopulateTokenData: the `token_*` fields as a read shows them. */
export function tokenData(params: TokenParams): Record<string, unknown> {
  return {
    token_bound_cidrs: [...params.token_bound_cidrs],
    token_explicit_max_ttl: params.token_explicit_max_ttl,
    token_max_ttl: params.token_max_ttl,
    token_no_default_policy: params.token_no_default_policy,
    token_num_uses: params.token_num_uses,
    token_period: params.token_period,
    token_policies: [...params.token_policies],
    token_type: params.token_type,
    token_ttl: params.token_ttl,
  };
}

/**
 * Vault's PopulateTokenAuth, as far as the protocol's auth block goes: policies, TTL, max TTL (the explicit max TTL
 * caps it, since the host has no separate one for logins), use count, bound CIDRs; always renewable.
 */
export function tokenAuth(params: TokenParams): PluginAuth {
  const caps = [params.token_max_ttl, params.token_explicit_max_ttl].filter((t) => t > 0);
  const auth: PluginAuth = { policies: [...params.token_policies], renewable: true };
  if (params.token_ttl > 0) auth.ttl = params.token_ttl;
  if (caps.length) auth.maxTtl = Math.min(...caps);
  if (params.token_num_uses > 0) auth.numUses = params.token_num_uses;
  if (params.token_bound_cidrs.length) auth.boundCidrs = [...params.token_bound_cidrs];
  return auth;
}
