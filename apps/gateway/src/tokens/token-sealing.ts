import type { Barrier } from '#barrier';
import type { TokenEntry } from './token-store.js';

/**
 * How a token row is keyed and sealed: a row is found by `hmac('id:' + token)` or `hmac('accessor:' + accessor)`,
 * never by the token itself, and its entry is encrypted under the barrier bound to its row.
 */
export function idHmacOf(barrier: Barrier, token: string): string {
  return barrier.hmac(`id:${token}`);
}

export function accessorHmacOf(barrier: Barrier, accessor: string): string {
  return barrier.hmac(`accessor:${accessor}`);
}

/** Binds the ciphertext to its row: a blob copied onto another token's row does not decrypt. */
function aadOf(idHmac: string): string {
  return `token:${idHmac}`;
}

export function sealEntry(barrier: Barrier, idHmac: string, entry: TokenEntry): Buffer {
  return barrier.encrypt(Buffer.from(JSON.stringify(entry), 'utf8'), aadOf(idHmac));
}

export function openEntry(barrier: Barrier, idHmac: string, data: Buffer): TokenEntry {
  return JSON.parse(barrier.decrypt(data, aadOf(idHmac)).toString('utf8')) as TokenEntry;
}
