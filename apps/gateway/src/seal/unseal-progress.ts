import { randomUUID } from 'node:crypto';

/**
 * The unseal shares given so far, the same on every gateway: each share a gateway receives is broadcast to every
 * gateway (`UNSEAL_PROGRESS_SUBJECT`), and a seal, an unseal or a reset anywhere empties every gateway's copy. So a
 * load balancer may send each share to a different gateway, `sys/seal-status` shows the same progress everywhere
 * (once the broadcast has arrived: milliseconds), and no stale share survives to count towards the next unseal.
 *
 * A share crosses the bus sealed under the cluster's membership key (BarrierLink.sealForMembers), so only members
 * read it; without bus-config (no membership key) it is plain base64 and the bus must be private (docs/security.md).
 */
export const UNSEAL_PROGRESS_SUBJECT = 'coffer.gateway.unseal-progress';

/**
 * On the wire. `nonce` names one unseal attempt; two attempts begun at once on two gateways merge into one. `from` is
 * the sending gateway's instance (it counted the share already). A reset with a nonce ends that attempt only (a
 * failed combination); without one, whatever attempt is under way (`reset: true`).
 */
export type UnsealProgressMessage =
  | { kind: 'share'; nonce: string; share: string; from: string }
  | { kind: 'reset'; nonce?: string; from: string };

export function isUnsealProgressMessage(m: unknown): m is UnsealProgressMessage {
  if (!m || typeof m !== 'object') return false;
  const o = m as Record<string, unknown>;
  if (typeof o.from !== 'string') return false;
  if (o.kind === 'reset') return o.nonce === undefined || typeof o.nonce === 'string';
  return o.kind === 'share' && typeof o.nonce === 'string' && typeof o.share === 'string' && o.share.length <= 1024;
}

export class UnsealProgress {
  private nonceValue?: string;
  private shares: Buffer[] = [];

  get nonce(): string {
    return this.nonceValue ?? '';
  }

  get count(): number {
    return this.shares.length;
  }

  /** The nonce a new share is sent with: this attempt's, or a new one. */
  current(): string {
    return (this.nonceValue ??= randomUUID());
  }

  /**
   * Adds a share (a copy: the caller's buffer is the caller's to wipe); false when it is already counted. Of two
   * nonces the smaller wins, so gateways that began the same unseal at the same moment agree on one.
   */
  add(share: Buffer, nonce: string): boolean {
    if (!this.nonceValue || nonce < this.nonceValue) this.nonceValue = nonce;
    if (this.shares.some((s) => s.equals(share))) return false;
    this.shares.push(Buffer.from(share));
    return true;
  }

  /** The shares, handed over (and forgotten here): the caller combines and wipes them. */
  take(): Buffer[] {
    const taken = this.shares;
    this.shares = [];
    this.nonceValue = undefined;
    return taken;
  }

  clear(): void {
    for (const s of this.take()) s.fill(0);
  }
}
