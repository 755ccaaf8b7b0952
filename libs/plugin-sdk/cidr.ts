import { BlockList, isIP } from 'node:net';

/**
 * CIDR helpers in the manner of Vault's `sdk/helper/cidrutil`, for plugins that bind credentials to client
 * addresses (AppRole's `secret_id_bound_cidrs`, `token_bound_cidrs`). A bare IP counts as its single-address block
 * (`/32` or `/128`), as Vault's `parseutil.ParseAddrs` reads it.
 */

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** `10.0.0.0/8` or `10.1.2.3` → a block; undefined when it is neither a valid CIDR nor an IP. */
export function parseCidr(text: string): Cidr | undefined {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const address = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const digits = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits)) return undefined;
    prefix = Number(digits);
    if (prefix > max) return undefined;
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** The entries that are not valid CIDR blocks or IPs (empty: the list is valid). */
export function invalidCidrs(list: readonly string[]): string[] {
  return list.filter((entry) => parseCidr(entry) === undefined);
}

/**
 * Whether `address` lies in one of `cidrs`. An empty or unknown address is never inside (a check that cannot be made
 * fails closed); invalid blocks match nothing.
 */
export function ipInCidrs(address: string, cidrs: readonly string[]): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const blocks = new BlockList();
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    if (cidr) blocks.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return blocks.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Whether every block of `inner` lies within some block of `outer` (Vault's cidrutil.SubsetBlocks): a secret ID's
 * CIDRs must stay within its role's. A block is inside another when its prefix is no shorter and one of its addresses
 * is inside: prefixes nest, so then all of it is.
 */
export function cidrsWithin(inner: readonly string[], outer: readonly string[]): boolean {
  return inner.every((text) => {
    const cidr = parseCidr(text);
    if (!cidr) return false;
    return outer.some((o) => {
      const block = parseCidr(o);
      return !!block && block.family === cidr.family && block.prefix <= cidr.prefix && ipInCidrs(cidr.address, [`${block.address}/${block.prefix}`]);
    });
  });
}
