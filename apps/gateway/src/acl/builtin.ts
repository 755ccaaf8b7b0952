import { CofferError } from '#contracts';
import type { Policy } from './policy.js';

export const ROOT_POLICY_NAME = 'root';
export const DEFAULT_POLICY_NAME = 'default';

/**
 * Names Vault never lets anyone write or delete: `root` has no text at all, and the two internal ones back response
 * wrapping and control groups, which must keep working whatever an operator does.
 */
const IMMUTABLE_POLICY_NAMES: ReadonlySet<string> = new Set([ROOT_POLICY_NAME, 'response-wrapping', 'control-group']);


export const RESPONSE_WRAPPING_POLICY_NAME = 'response-wrapping';

/** Vault's built-in policy of response-wrapping tokens: they may unwrap themselves, nothing else. */
export const RESPONSE_WRAPPING_POLICY_TEXT = `
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}
`;

/** The root policy: no rules, recognised by name. An Acl holding it allows everything. */
export const ROOT_POLICY: Readonly<Policy> = Object.freeze({
  name: ROOT_POLICY_NAME,
  raw: '',
  paths: [],
  templated: false,
});

/** Vault stores names trimmed and lower-cased, so `Admin ` and `admin` are one policy. */
export function normalizePolicyName(name: string): string {
  const normalized = name.trim().toLowerCase();
  if (normalized === '') throw new CofferError('invalid-request', 'policy name must be provided in the URL');
  return normalized;
}

/** The normalized name, or Vault's refusal for the immutable ones (`cannot update "root" policy`). */
export function assertPolicyWritable(name: string): string {
  const normalized = normalizePolicyName(name);
  if (IMMUTABLE_POLICY_NAMES.has(normalized)) {
    throw new CofferError('invalid-request', `cannot update ${JSON.stringify(normalized)} policy`);
  }
  return normalized;
}

/** The normalized name, or Vault's refusal. Vault words the `default` case without quotes, and so do we. */
export function assertPolicyDeletable(name: string): string {
  const normalized = normalizePolicyName(name);
  if (IMMUTABLE_POLICY_NAMES.has(normalized)) {
    throw new CofferError('invalid-request', `cannot delete ${JSON.stringify(normalized)} policy`);
  }
  if (normalized === DEFAULT_POLICY_NAME) throw new CofferError('invalid-request', 'cannot delete default policy');
  return normalized;
}

/**
 * Vault's built-in `default` policy (as a 1.15 dev server prints it), attached to every token unless excluded.
 * Written once at first start; operators may edit it afterwards. The two identity paths are templated and resolve
 * only for tokens with an entity, which Coffer does not have yet: the Acl skips them.
 */
export const DEFAULT_POLICY_TEXT = `
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own entity by id or name
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
  capabilities = ["read"]
}


# Allow a token to look up its resultant ACL from all policies. This is useful
# for UIs. It is an internal path because the format may change at any time
# based on how the internal ACL features and capabilities change.
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body; old path for
# old clients, new path for newer
path "sys/renew" {
    capabilities = ["update"]
}
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given
# response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token. This is a convenience to
# avoid client token swapping since this is also part of the response wrapping
# policy.
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Allow checking the status of a Control Group request if the user has the
# accessor
path "sys/control-group/request" {
    capabilities = ["update"]
}

# Allow a token to make requests to the Authorization Endpoint for OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
`;
