import { goQuote, parseGoDuration } from '../duration/index.js';
import { weakBool } from '../vault-rules/index.js';

/**
 * Field conversion with the behaviour of Vault's `sdk/framework` (FieldData.getPrimitive): the same weak typing
 * (a number is accepted for a string, "true" for a bool, "90" or "1h30m" for a duration) and error texts close to
 * what Go's mapstructure and parseutil print, because clients and tests compare those texts.
 */

export const FIELD_TYPES = ['string', 'int', 'bool', 'duration', 'map', 'list', 'comma-list'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/** What a handler receives for each field type. */
export interface FieldTypeValues {
  string: string;
  int: number;
  bool: boolean;
  /** Whole seconds, never negative. */
  duration: number;
  map: Record<string, unknown>;
  list: string[];
  'comma-list': string[];
}

export interface FieldSpec<T extends FieldType = FieldType> {
  type: T;
  description?: string;
  /** Converted like an input value, so a duration default may be '1h'. */
  default?: unknown;
  /** Checked on create, update and patch (the operations that carry a body). Vault only documents it. */
  required?: boolean;
}

/** A conversion failure; the message is the part after `error converting input ... for field "x": `. */
export class FieldConversionError extends Error {}

export function isFieldType(value: unknown): value is FieldType {
  return typeof value === 'string' && (FIELD_TYPES as readonly string[]).includes(value);
}

export function zeroValue(type: FieldType): FieldTypeValues[FieldType] {
  switch (type) {
    case 'string':
      return '';
    case 'int':
    case 'duration':
      return 0;
    case 'bool':
      return false;
    case 'map':
      return {};
    case 'list':
    case 'comma-list':
      return [];
  }
}

/** Converts one input value; throws FieldConversionError with Vault's wording. */
export function convertField(type: FieldType, value: unknown): FieldTypeValues[FieldType] {
  switch (type) {
    case 'string':
      return toStringWeak(value, '');
    case 'int':
      return toInt(value);
    case 'bool':
      return toBool(value);
    case 'duration':
      return toDurationSeconds(value);
    case 'map':
      return toMap(value, '');
    case 'list':
      if (value === '') return [];
      return toStringSlice(value).map((s) => s.trim());
    case 'comma-list':
      if (typeof value === 'number') value = String(value);
      if (value === '') return [];
      if (typeof value === 'string') return value.split(',').map((s) => s.trim());
      return toStringSlice(value).map((s) => s.trim());
  }
}

/** The full text Vault puts in its 400 for a field that does not convert. */
export function conversionErrorMessage(field: string, value: unknown, err: FieldConversionError): string {
  return `error converting input ${goValue(value)} for field ${goQuote(field)}: ${err.message}`;
}

function toStringWeak(value: unknown, name: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  // mapstructure's weak decoding turns a bool into "1" or "0", not "true".
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (value === null || value === undefined) return '';
  throw unconvertible(name, 'string', value);
}

function toInt(value: unknown): number {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') {
    // Vault decodes JSON numbers as json.Number, so 1.5 fails as text "1.5" does.
    if (!Number.isInteger(value)) throw new FieldConversionError(`error decoding json.Number into : ${parseIntError(String(value))}`);
    if (!Number.isSafeInteger(value)) throw new FieldConversionError(`error decoding json.Number into : ${rangeError(String(value))}`);
    return value;
  }
  if (typeof value === 'string') {
    if (value === '') return 0;
    if (!/^[+-]?\d+$/.test(value)) throw new FieldConversionError(`cannot parse '' as int: ${parseIntError(value)}`);
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new FieldConversionError(`cannot parse '' as int: ${rangeError(value)}`);
    return n;
  }
  if (value === null || value === undefined) return 0;
  throw unconvertible('', 'int', value);
}

function toBool(value: unknown): boolean {
  // Weak decoding as libs/vault-rules does it; absent is false, and the errors are the framework's.
  const fail = (_expected: string, bad: unknown) =>
    typeof bad === 'string'
      ? new FieldConversionError(`cannot parse '' as bool: strconv.ParseBool: parsing ${goQuote(bad)}: invalid syntax`)
      : unconvertible('', 'bool', bad);
  return weakBool(value, fail) ?? false;
}

/** parseutil.ParseDurationSecond: integer seconds, `<n>d` days, or a Go duration ("1h30m"); truncated to seconds. */
function toDurationSeconds(value: unknown): number {
  let seconds: number;
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') value = String(value);
  if (typeof value !== 'string') throw new FieldConversionError('could not parse duration from input');
  if (value === '') return 0;
  if (/^[+-]?\d+$/.test(value)) {
    seconds = Number(value);
  } else if (value.endsWith('d')) {
    const days = value.slice(0, -1);
    if (!/^[+-]?\d+$/.test(days)) throw new FieldConversionError(parseIntError(days));
    seconds = Number(days) * 86_400;
  } else {
    try {
      seconds = Math.trunc(parseGoDuration(value) / 1e9);
    } catch (err) {
      throw new FieldConversionError((err as Error).message);
    }
  }
  if (!Number.isSafeInteger(seconds)) throw new FieldConversionError(rangeError(value));
  if (seconds < 0) throw new FieldConversionError(`cannot provide negative value '${seconds}'`);
  return seconds === 0 ? 0 : seconds; // no -0
}

function toMap(value: unknown, name: string): Record<string, unknown> {
  if (isPlainObject(value)) return { ...value };
  if (value === null || value === undefined) return {};
  // Weak decoding merges a list of maps into one map (and an empty list is an empty map).
  if (Array.isArray(value)) {
    const merged: Record<string, unknown> = {};
    value.forEach((item, i) => Object.assign(merged, toMap(item, `${name}[${i}]`)));
    return merged;
  }
  throw new FieldConversionError(`'${name}' expected a map, got '${goKind(value)}'`);
}

function toStringSlice(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.map((item, i) => toStringWeak(item, `[${i}]`));
  if (isPlainObject(value)) throw new FieldConversionError(`'' source data must be an array or slice, got map`);
  // Weak decoding lifts a single value into a one-element list.
  return [toStringWeak(value, '')];
}

function unconvertible(name: string, target: string, value: unknown): FieldConversionError {
  return new FieldConversionError(
    `'${name}' expected type '${target}', got unconvertible type '${goType(value)}', value: '${goValue(value)}'`,
  );
}

function parseIntError(text: string): string {
  return `strconv.ParseInt: parsing ${goQuote(text)}: invalid syntax`;
}

function rangeError(text: string): string {
  return `strconv.ParseInt: parsing ${goQuote(text)}: value out of range`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Go's type name of a decoded JSON value, as mapstructure prints it. */
function goType(value: unknown): string {
  if (Array.isArray(value)) return '[]interface {}';
  if (isPlainObject(value)) return 'map[string]interface {}';
  if (typeof value === 'number') return 'json.Number';
  if (typeof value === 'boolean') return 'bool';
  return 'string';
}

function goKind(value: unknown): string {
  if (Array.isArray(value)) return 'slice';
  if (isPlainObject(value)) return 'map';
  if (typeof value === 'boolean') return 'bool';
  return 'string'; // json.Number is a string kind in Go
}

/** A value as Go's `%v` prints a decoded JSON value: `[a b]`, `map[k:v]` (keys sorted), `<nil>`. */
export function goValue(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(goValue).join(' ')}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value).sort();
    return `map[${keys.map((k) => `${k}:${goValue(value[k])}`).join(' ')}]`;
  }
  return String(value);
}

export { goQuote };
