import { CofferError, type WireError, isErrorCode } from '../contracts/errors.js';
import type { Reply } from '../contracts/messages.js';

/**
 * What a service sees of the message bus. The same contract is honoured over NATS (distributed) and in process
 * (dev server): a request goes to one member of each queue group and to every plain subscriber, the first reply
 * wins; a publish reaches everyone and expects no reply. Payloads are JSON: nothing but plain data crosses.
 */
export interface Bus {
  readonly kind: 'nats' | 'in-process';
  /** Sends a request and waits for one reply. A remote error rejects with that CofferError; silence with `unavailable`. */
  request<T = unknown>(subject: string, data: unknown, options?: RequestOptions): Promise<T>;
  /** Fire and forget: a broadcast to every subscriber. */
  publish(subject: string, data: unknown): void;
  /**
   * Handles messages on a subject. When the sender expects a reply, the handler's result (or thrown error) is sent
   * back as a Reply envelope. With `queue`, only one member of the group gets each message.
   */
  subscribe(subject: string, handler: BusHandler, options?: { queue?: string }): Subscription;
  /** Resolves once everything published so far has reached the server (NATS) or been delivered (in process). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export type BusHandler = (data: unknown, subject: string) => unknown | Promise<unknown>;

export interface Subscription {
  unsubscribe(): void;
}

export interface RequestOptions {
  /** Milliseconds before the request fails with `unavailable`. */
  timeoutMs?: number;
  /**
   * Ask the responder to acknowledge at once and beat while it works (liveness.ts): past this many milliseconds of
   * silence the request fails with `ResponderLost`, telling "nobody took it" from "taken, then lost". NATS only; in
   * one process nothing can die separately, so the in-process bus ignores it.
   */
  livenessMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export function encodeReply(result: unknown): Reply<unknown> {
  return { ok: true, data: result === undefined ? null : result };
}

export function encodeFailure(err: unknown): Reply<never> {
  if (err instanceof CofferError) return { ok: false, error: err.toJSON() };
  if (isWireError(err)) return { ok: false, error: CofferError.from(err).toJSON() };
  return { ok: false, error: { code: 'internal', message: 'internal error' } };
}

/** Unwraps a reply envelope, refusing anything that is not one (a peer that lies is an error, not data). */
export function decodeReply<T>(subject: string, reply: unknown): T {
  if (reply && typeof reply === 'object' && 'ok' in reply) {
    const r = reply as Reply<T>;
    if (r.ok === true) return r.data;
    if (r.ok === false && isWireError(r.error)) throw CofferError.from(r.error);
  }
  throw new CofferError('internal', `malformed reply on ${subject}`);
}

export function isWireError(value: unknown): value is WireError {
  return (
    !!value &&
    typeof value === 'object' &&
    isErrorCode((value as WireError).code) &&
    typeof (value as WireError).message === 'string'
  );
}

export function noResponders(subject: string): CofferError {
  return new CofferError('unavailable', `no service is listening on ${subject}`);
}

export function timedOut(subject: string, ms: number): CofferError {
  return new CofferError('unavailable', `no answer on ${subject} within ${ms} ms`);
}
