import { CofferError } from '#contracts';
import { goQuote, humanDuration, parseGoDuration } from '#duration';

/**
 * Vault's `parseutil.ParseDurationSecond`, in whole seconds: a number is seconds, a string of digits is seconds,
 * `<n>d` is days, anything else is a Go duration ("1h30m", "90s", "1.5h"). Absent or "" is `undefined`, so callers
 * can tell "not given" from 0. The messages are Go's, because Vault passes them through to the client.
 */
export function parseDurationSeconds(input: unknown): number | undefined {
  if (input === undefined || input === null || input === '') return undefined;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw invalid('could not parse duration from input');
    return Math.trunc(input);
  }
  if (typeof input !== 'string') throw invalid('could not parse duration from input');
  if (/^[+-]?\d+$/.test(input)) return checkedInt(input, input);
  if (input.endsWith('d')) {
    const days = input.slice(0, -1);
    if (!/^[+-]?\d+$/.test(days)) throw invalid(`strconv.ParseInt: parsing ${goQuote(days)}: invalid syntax`);
    return checkedInt(days, days) * 86_400;
  }
  try {
    return Math.trunc(parseGoDuration(input) / 1e9);
  } catch (err) {
    throw invalid((err as Error).message);
  }
}


/** Go's time.Duration holds about 292 years; Vault rejects what does not fit, so Coffer does too. */
const MAX_SECONDS = 9_223_372_036;

function checkedInt(text: string, original: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || Math.abs(value) > MAX_SECONDS) {
    throw invalid(`strconv.ParseInt: parsing ${goQuote(original)}: value out of range`);
  }
  return value;
}

export interface TtlInputs {
  /** Requested by a renewal; 0 when none. */
  increment: number;
  /** The TTL the token asked for (at creation) or was last granted (at renewal); 0 when none. */
  backendTtl: number;
  period: number;
  explicitMaxTtl: number;
  /** When the token was issued, unix seconds: the max TTL counts from there. */
  start: number;
  /** Unix seconds. */
  now: number;
  defaultLeaseTtl: number;
  maxLeaseTtl: number;
}

/**
 * Vault's framework.CalculateTTL, in seconds. A periodic token gets its period each time (bounded only by an explicit
 * max TTL); any other gets the increment, else its own TTL, else the default, never past issue + max TTL. The
 * warnings are Vault's, word for word, because clients show them.
 */
export function calculateTtl(inputs: TtlInputs): { ttl: number; warnings: string[] } {
  const { increment, backendTtl, explicitMaxTtl, start, now, defaultLeaseTtl } = inputs;
  let { period } = inputs;
  const warnings: string[] = [];
  let maxTtl = inputs.maxLeaseTtl;
  if (explicitMaxTtl > 0 && explicitMaxTtl < maxTtl) maxTtl = explicitMaxTtl;
  if (maxTtl <= 0) throw new CofferError('internal', 'max TTL must be greater than zero');

  let ttl: number;
  let maxValidTime: number | undefined;
  if (period > 0) {
    if (period > maxTtl) {
      warnings.push(
        `period of "${humanDuration(period)}" exceeded the effective max_ttl of "${humanDuration(maxTtl)}"; period value is capped accordingly`,
      );
      period = maxTtl;
    }
    ttl = period;
    if (explicitMaxTtl > 0) maxValidTime = start + explicitMaxTtl;
  } else {
    ttl = increment > 0 ? increment : backendTtl > 0 ? backendTtl : defaultLeaseTtl;
    maxValidTime = start + maxTtl;
  }

  if (maxValidTime !== undefined) {
    const maxValidTtl = maxValidTime - now;
    if (maxValidTtl <= 0) throw invalid('past the max TTL, cannot renew');
    if (maxValidTtl < ttl) {
      warnings.push(
        `TTL of "${humanDuration(ttl)}" exceeded the effective max_ttl of "${humanDuration(maxValidTtl)}"; TTL value is capped accordingly`,
      );
      ttl = maxValidTtl;
    }
  }
  return { ttl, warnings };
}


function invalid(message: string): CofferError {
  return new CofferError('invalid-request', message);
}
