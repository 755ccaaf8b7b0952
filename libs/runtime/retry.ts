import type { Logger } from 'pino';

export interface RetryOptions {
  /** What is being attempted, for the log ("connect to Postgres"). */
  what: string;
  log: Logger;
  /** Give up after this many attempts; infinite by default, since a service is useless without its dependencies. */
  attempts?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
}

/** Retries with capped exponential backoff, logging every failure so an operator sees why a service waits. */
export async function retry<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  let delay = o.initialDelayMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (o.signal?.aborted || (o.attempts !== undefined && attempt >= o.attempts)) throw err;
      o.log.warn({ attempt, retryInMs: delay, err: (err as Error)?.message }, `${o.what} failed; retrying`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, o.maxDelayMs ?? 5_000);
    }
  }
}
