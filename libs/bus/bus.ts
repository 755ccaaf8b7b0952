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
  /** Calls `observer` after every request this process makes, answered or not (sys/metrics); returns its removal. */
  observeRequests(observer: RequestObserver): () => void;
  /**
   * Calls `listener` each time the connection comes back after it was lost: broadcasts sent meanwhile were never
   * heard, so whatever they would have kept true must be assumed stale. Never called in process. Returns its removal.
   */
  onReconnect(listener: () => void): () => void;
}

/** How a request ended: answered, answered with an error, or no answer at all (nobody, timeout, responder lost). */
export type RequestOutcome = 'ok' | 'error' | 'unavailable';
export type RequestObserver = (subject: string, seconds: number, outcome: RequestOutcome) => void;

/** The observers of one bus, and the timing of a request for them. */
export class RequestObservers {
  private readonly observers = new Set<RequestObserver>();

  add(observer: RequestObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  async time<T>(subject: string, request: () => Promise<T>): Promise<T> {
    if (this.observers.size === 0) return request();
    const start = performance.now();
    let outcome: RequestOutcome = 'ok';
    try {
      return await request();
    } catch (err) {
      outcome = err instanceof CofferError && err.code !== 'unavailable' ? 'error' : 'unavailable';
      throw err;
    } finally {
      const seconds = (performance.now() - start) / 1000;
      for (const o of this.observers) {
        try {
          o(subject, seconds, outcome);
        } catch {
          // a metric must never fail a request
        }
      }
    }
  }
}

/**
 * The kind of a subject for a metric label: `<service>.<verb>` of `coffer.<service>.<verb>…` (the contracts' words,
 * a bounded set), never an id a subject may carry further on.
 */
export function subjectKind(subject: string): string {
  const tokens = subject.split('.');
  return tokens[0] === 'coffer' ? tokens.slice(1, 3).join('.') : 'other';
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
