import { BlockList, isIP } from 'node:net';

/**
 * Vault's `cidrutil.RemoteAddrIsOk` for a token's `bound_cidrs`: a token without bound CIDRs is usable from anywhere;
 * one with them only from an address inside one of them. An unknown address is outside (the check fails closed), and
 * a bare IP is its single-address block.
 */
export function remoteAddressAllowed(remoteAddress: string | undefined, boundCidrs: readonly string[] | undefined): boolean {
  if (!boundCidrs || boundCidrs.length === 0) return true;
  const family = isIP(remoteAddress ?? '');
  if (family === 0) return false;
  const blocks = new BlockList();
  for (const text of boundCidrs) {
    const [address, bits] = text.trim().split('/');
    const version = isIP(address ?? '');
    if (version === 0) continue;
    const max = version === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) continue;
    blocks.addSubnet(address!, prefix, version === 4 ? 'ipv4' : 'ipv6');
  }
  return blocks.check(remoteAddress!, family === 4 ? 'ipv4' : 'ipv6');
}
