/**
 * A validator for the small subset of JSON Schema (draft 2020-12) that the protocol's schemas use, and the reference
 * for what the schemas mean. The wire runs compiled functions (compiled.ts: ajv standalone code generated at build
 * time, which imports nothing at run time); this interpreter words the problem when one of them refuses a message,
 * and stays dependency-free, since the plugin side is bundled into every plugin executable.
 *
 * Supported keywords: type (one or a list; "integer" included), enum, const, properties, required,
 * additionalProperties (boolean or schema), items, minItems, maxItems, minLength, maxLength, pattern, minimum,
 * maximum, maxProperties, anyOf, allOf, not, contentEncoding ("base64", asserted, not just annotated), and
 * errorMessage (after ajv-errors' keyword, narrower: the text reported when this schema's anyOf, allOf or not
 * fails, instead of the generic one; other keywords keep their precise messages).
 * Unknown keywords are ignored, as the standard says; `$schema`, `$id`, `title`, `description` are annotations.
 *
 * Lengths count UTF-16 code units, not code points (a documented difference from the standard; every limit in
 * the protocol is far from where it matters).
 */

export type JsonType = 'null' | 'boolean' | 'object' | 'array' | 'number' | 'integer' | 'string';

export interface JsonSchema {
  $schema?: string;
  $id?: string;
  title?: string;
  description?: string;
  type?: JsonType | readonly JsonType[];
  enum?: readonly unknown[];
  const?: unknown;
  properties?: Readonly<Record<string, JsonSchema>>;
  required?: readonly string[];
  additionalProperties?: boolean | JsonSchema;
  maxProperties?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  anyOf?: readonly JsonSchema[];
  allOf?: readonly JsonSchema[];
  not?: JsonSchema;
  contentEncoding?: 'base64';
  errorMessage?: string;
}

const patternCache = new Map<string, RegExp>();

function regex(pattern: string): RegExp {
  let re = patternCache.get(pattern);
  if (!re) {
    re = new RegExp(pattern, 'u');
    patternCache.set(pattern, re);
  }
  return re;
}

function typeOf(value: unknown): JsonType | 'undefined' {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'boolean':
      return 'boolean';
    case 'number':
      return 'number';
    case 'string':
      return 'string';
    case 'object':
      return 'object';
    default:
      return 'undefined';
  }
}

function hasType(value: unknown, type: JsonType): boolean {
  const actual = typeOf(value);
  if (type === 'integer') return actual === 'number' && Number.isInteger(value);
  // NaN and Infinity cannot come out of JSON.parse, but a schema may check values built in code.
  if (type === 'number') return actual === 'number' && Number.isFinite(value as number);
  return actual === type;
}

/**
 * A strict base64 check that runs in linear time without a backtracking stack: a grouped regular expression
 * overflows V8's regexp stack on multi-megabyte values (measured: 24 MiB throws "Maximum call stack size exceeded").
 */
export function isStrictBase64(value: string): boolean {
  return value.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(value);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual((a as never)[k], (b as never)[k]));
}

function describe(value: unknown): string {
  const t = typeOf(value);
  return t === 'undefined' ? 'nothing' : t;
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;
}

/**
 * Checks `value` against `schema`. Returns null when it conforms, else one message naming the first place that
 * does not ("response.auth.policies[0]: must be string"). `at` names the value in the message.
 */
export function validate(schema: JsonSchema, value: unknown, at = ''): string | null {
  const fail = (message: string) => `${at || 'value'}: ${message}`;
  const failCombined = (message: string) => fail(schema.errorMessage ?? message);

  if (schema.type !== undefined) {
    const types = (typeof schema.type === 'string' ? [schema.type] : schema.type) as readonly JsonType[];
    if (!types.some((t) => hasType(value, t))) return fail(`must be ${types.join(' or ')}, not ${describe(value)}`);
  }
  if (schema.const !== undefined && !deepEqual(schema.const, value)) return fail(`must be ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.some((e) => deepEqual(e, value))) {
    return fail(`must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  }

  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      return fail(schema.minLength === 1 ? 'must not be empty' : `must be at least ${schema.minLength} characters long`);
    }
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return fail(`must be at most ${schema.maxLength} characters long`);
    if (schema.pattern !== undefined && !regex(schema.pattern).test(value)) return fail(`must match ${schema.pattern}`);
    if (schema.contentEncoding === 'base64' && !isStrictBase64(value)) return fail('must be standard base64 with padding');
  }

  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) return fail(`must be >= ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) return fail(`must be <= ${schema.maximum}`);
  }

  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) return fail(`must have at least ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) return fail(`must have at most ${schema.maxItems} items`);
    if (schema.items) {
      for (let i = 0; i < value.length; i++) {
        const err = validate(schema.items, value[i], join(at, i));
        if (err) return err;
      }
    }
  }

  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    // JSON's view of an object built in code: a property set to undefined is not sent, so it is absent.
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
    if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) {
      return fail(`must have at most ${schema.maxProperties} properties`);
    }
    for (const key of schema.required ?? []) {
      if (!Object.prototype.hasOwnProperty.call(obj, key) || obj[key] === undefined) return fail(`must have property ${JSON.stringify(key)}`);
    }
    for (const key of keys) {
      const own = schema.properties && Object.prototype.hasOwnProperty.call(schema.properties, key) ? schema.properties[key] : undefined;
      if (own) {
        const err = validate(own, obj[key], join(at, key));
        if (err) return err;
      } else if (schema.additionalProperties === false) {
        return fail(`must not have property ${JSON.stringify(key)}`);
      } else if (typeof schema.additionalProperties === 'object') {
        const err = validate(schema.additionalProperties, obj[key], join(at, key));
        if (err) return err;
      }
    }
  }

  if (schema.allOf) {
    for (const sub of schema.allOf) {
      const err = validate(sub, value, at);
      if (err) return schema.errorMessage ? failCombined('') : err;
    }
  }
  if (schema.anyOf) {
    const errors = schema.anyOf.map((sub) => validate(sub, value, at));
    if (!errors.includes(null)) {
      // When only one alternative is of the value's type ("null or a response object"), its own complaint is the
      // useful one: it says which field of the response is wrong.
      const sameType = schema.anyOf.flatMap((sub, i) => (sub.type !== undefined && validate({ type: sub.type }, value) === null ? [i] : []));
      if (sameType.length === 1) return errors[sameType[0]!]!;
      return failCombined('does not match any allowed shape');
    }
  }
  if (schema.not && validate(schema.not, value, at) === null) return failCombined('matches a shape that is not allowed');
  return null;
}
