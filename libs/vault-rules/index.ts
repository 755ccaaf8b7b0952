/**
 * Vault's and Go's small parsing rules and wire texts, written once: Go's strconv.ParseBool words, Vault's
 * sanitizePath for mount paths, mapstructure's weak decoding of request data, and go-multierror's error text.
 * No I/O and no imports, so the config, the plugin SDK (bundled into every plugin) and the services can all use it.
 */

/** The spellings Go's strconv.ParseBool accepts as true (what Vault's parseutil.ParseBool uses). */
export const GO_TRUE_WORDS: ReadonlySet<string> = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
/** The spellings Go's strconv.ParseBool accepts as false. */
export const GO_FALSE_WORDS: ReadonlySet<string> = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go's strconv.ParseBool: true, false, or undefined for anything else (Go's "invalid syntax"). */
export function parseGoBool(text: string): boolean | undefined {
  if (GO_TRUE_WORDS.has(text)) return true;
  if (GO_FALSE_WORDS.has(text)) return false;
  return undefined;
}

/** Vault's sanitizePath for mount paths: no leading slashes, exactly one trailing slash. */
export function sanitizeMountPath(path: string): string {
  let p = String(path ?? '').replace(/^\/+/, '');
  if (!p.endsWith('/')) p += '/';
  return p;
}

/** go-multierror's text, which Vault answers for errors its framework collects: `1 error occurred:\n\t* …\n\n`. */
export function multiErrorText(errors: readonly string[]): string {
  const head = errors.length === 1 ? '1 error occurred:' : `${errors.length} errors occurred:`;
  return `${head}\n${errors.map((e) => `\t* ${e}`).join('\n')}\n\n`;
}

/** Whether a message is already go-multierror's text (so it is not wrapped twice). */
export function isMultiErrorText(message: string): boolean {
  return /^\d+ errors? occurred:\n/.test(message);
}

/**
 * mapstructure.WeakDecode, as Vault decodes request data into typed fields: numbers and booleans become strings and
 * back. Each decoder answers undefined for an absent value and calls `fail(expected, value)` for one it cannot
 * convert, so the caller words the error as its Vault endpoint does.
 */
/** `element` names the part that failed inside a list or map (`[0]`, `[key]`), empty for the value itself. */
export type DecodeFailure = (expected: string, value: unknown, element?: string) => Error;

export function weakString(value: unknown, fail: DecodeFailure, element = ''): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  throw fail('string', value, element);
}

export function weakBool(value: unknown, fail: DecodeFailure): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') {
    if (value === '') return false;
    const parsed = parseGoBool(value);
    if (parsed !== undefined) return parsed;
  }
  throw fail('bool', value);
}

export function weakInt(value: unknown, fail: DecodeFailure): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return Math.trunc(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    if (value === '') return 0;
    if (/^[+-]?\d+$/.test(value)) return Number(value);
  }
  throw fail('int', value);
}

/** A list, or a comma-separated string (what form posts and hand-written curl calls send). */
export function weakStringSlice(value: unknown, fail: DecodeFailure): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value === '' ? [] : value.split(',');
  if (Array.isArray(value)) return value.map((item, i) => weakString(item, fail, `[${i}]`) ?? '');
  throw fail('[]string', value);
}

export function weakStringMap(value: unknown, fail: DecodeFailure): Record<string, string> | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw fail('map[string]string', value);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, weakString(v, fail, `[${k}]`) ?? '']));
}

/** Go's name for the type of a decoded JSON value, as mapstructure's weak decoder prints it in its errors. */
export function goTypeName(value: unknown): string {
  if (Array.isArray(value)) return '[]interface {}';
  if (value === null) return 'nil';
  if (typeof value === 'object') return 'map[string]interface {}';
  return typeof value;
}
