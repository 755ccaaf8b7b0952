/**
 * Durations as Vault reads them, in one place: Go's `time.ParseDuration` and Vault's `parseutil.ParseDurationSecond`
 * (integer seconds, `<n>d` days, or a Go duration). The messages are Go's, because Vault passes them to clients;
 * each caller wraps `DurationError` in its own error type.
 */
export class DurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DurationError';
  }
}

const NANOSECONDS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5, as Go accepts
  μs: 1e3, // U+03BC, as Go accepts
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's `%q` for the strings that appear here (ASCII printable plus escapes). */
export function goQuote(text: string): string {
  return JSON.stringify(text).replace(/\\u007f/gi, '\\x7f');
}

/** Go's time.ParseDuration, in nanoseconds (a float: precision beyond 2^53 ns does not matter here). */
export function parseGoDuration(text: string): number {
  const invalid = () => new DurationError(`time: invalid duration ${goQuote(text)}`);
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw invalid();
  let total = 0;
  while (rest !== '') {
    const [whole, intPart = '', fracPart] = /^(\d*)(?:\.(\d*))?/.exec(rest)!;
    if (intPart === '' && (fracPart === undefined || fracPart === '')) throw invalid();
    rest = rest.slice(whole.length);
    const unit = /^[^\d.]*/.exec(rest)![0];
    if (unit === '') throw new DurationError(`time: missing unit in duration ${goQuote(text)}`);
    const scale = NANOSECONDS[unit];
    if (scale === undefined) throw new DurationError(`time: unknown unit ${goQuote(unit)} in duration ${goQuote(text)}`);
    rest = rest.slice(unit.length);
    total += Number(`${intPart || '0'}.${fracPart || '0'}`) * scale;
  }
  if (!Number.isFinite(total)) throw invalid();
  return sign * total;
}

/**
 * Vault's parseutil.ParseDurationSecond, truncated to whole seconds: a number or a string of digits is seconds,
 * `<n>d` is days, anything else a Go duration ("1h30m", "90s", "1.5h"). Negative values are returned as such:
 * whether they are allowed is the caller's rule.
 */
export function parseDurationSeconds(input: number | string): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new DurationError('could not parse duration from input');
    return Math.trunc(input);
  }
  const value = input.trim();
  if (/^[+-]?\d+$/.test(value)) return checkedInteger(value);
  if (value.endsWith('d')) {
    const days = value.slice(0, -1);
    if (!/^[+-]?\d+$/.test(days)) throw new DurationError(`strconv.ParseInt: parsing ${goQuote(days)}: invalid syntax`);
    return checkedInteger(days) * 86_400;
  }
  const seconds = Math.trunc(parseGoDuration(value) / 1e9);
  if (!Number.isSafeInteger(seconds)) throw new DurationError(`time: invalid duration ${goQuote(value)}`);
  return seconds === 0 ? 0 : seconds;
}

function checkedInteger(digits: string): number {
  const n = Number(digits);
  if (!Number.isSafeInteger(n)) throw new DurationError(`strconv.ParseInt: parsing ${goQuote(digits)}: value out of range`);
  return n;
}

/** Vault's humanDuration: Go's Duration.String() without the trailing zero units ("1h", "10m", "1m30s"). */
export function humanDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  if (seconds === 0) return '0s';
  const negative = seconds < 0;
  let rest = Math.abs(Math.trunc(seconds));
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  let text = h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
  if (text.endsWith('m0s')) text = text.slice(0, -2);
  const i = text.indexOf('h0m');
  if (i > 0) text = text.slice(0, i + 1) + text.slice(i + 3);
  return (negative ? '-' : '') + text;
}
