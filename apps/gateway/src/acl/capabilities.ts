/**
 * Vault's capabilities as bits, so a path's permissions are one number and merging policies is an OR. The order is
 * Vault's (vault/policy.go), which keeps the bit values recognisable when comparing with Vault's own dumps.
 */
export const CAPABILITIES = [
  'deny',
  'create',
  'read',
  'update',
  'delete',
  'list',
  'sudo',
  'patch',
  'subscribe',
  'recover',
] as const;

export type Capability = (typeof CAPABILITIES)[number];

export const CAPABILITY_BIT: Readonly<Record<Capability, number>> = Object.freeze(
  Object.fromEntries(CAPABILITIES.map((name, i) => [name, 1 << i])) as Record<Capability, number>,
);

export const DENY = CAPABILITY_BIT.deny;
export const SUDO = CAPABILITY_BIT.sudo;

const KNOWN: ReadonlySet<string> = new Set(CAPABILITIES);

export function isCapability(value: string): value is Capability {
  return KNOWN.has(value);
}

export function bitsOf(capabilities: Iterable<Capability>): number {
  let bits = 0;
  for (const c of capabilities) bits |= CAPABILITY_BIT[c];
  return bits;
}

/** The names set in `bits`, `deny` excluded (callers decide what an explicit deny means for them). */
export function namesOf(bits: number): Capability[] {
  return CAPABILITIES.filter((c) => c !== 'deny' && (bits & CAPABILITY_BIT[c]) !== 0);
}

/**
 * The deprecated `policy = "..."` shorthand, expanded as Vault expands it. `deny` comes first so that it wins before
 * any other listed capability is even validated, which is what Vault's replace-then-validate order amounts to.
 */
export const LEGACY_POLICY: ReadonlyMap<string, readonly Capability[]> = new Map([
  ['deny', ['deny']],
  ['read', ['read', 'list']],
  ['write', ['create', 'read', 'update', 'delete', 'list']],
  ['sudo', ['create', 'read', 'update', 'delete', 'list', 'sudo']],
]);

/**
 * What each operation the gateway can ask about needs. `capability: 0` means no capability grants it; `always`
 * means the ACL answers yes without looking at the path (Vault's `help`: any valid token may read path help).
 * `parameters` marks the operations whose request data (body, or query for reads and lists) is held against
 * allowed/denied/required parameters.
 */
export interface OperationRule {
  readonly capability: number;
  readonly parameters: boolean;
  readonly always?: true;
}

export const OPERATIONS = Object.freeze({
  read: { capability: CAPABILITY_BIT.read, parameters: true },
  // Vault skips parameters for lists; Coffer checks them, since a list's query is request data a plugin reads.
  list: { capability: CAPABILITY_BIT.list, parameters: true },
  create: { capability: CAPABILITY_BIT.create, parameters: true },
  update: { capability: CAPABILITY_BIT.update, parameters: true },
  patch: { capability: CAPABILITY_BIT.patch, parameters: true },
  delete: { capability: CAPABILITY_BIT.delete, parameters: false },
  recover: { capability: CAPABILITY_BIT.recover, parameters: true },
  // Vault's ACL has no case for HEAD: only root gets past it.
  head: { capability: 0, parameters: false },
  help: { capability: 0, parameters: false, always: true },
} satisfies Record<string, OperationRule>);

export type AclOperation = keyof typeof OPERATIONS;
