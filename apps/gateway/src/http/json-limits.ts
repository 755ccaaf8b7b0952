import { CofferError } from '#contracts';
import type { TcpListenerConfig } from '#config';

/**
 * Vault's listener JSON limits (`max_json_depth`, `max_json_string_value_length`, `max_json_object_entry_count`,
 * `max_json_array_element_count`), with Vault's defaults. Checked on the raw text before it is parsed, by a scan
 * that keeps no stack of its own (one counter per open container), so a hostile body can cost neither recursion
 * nor memory beyond its own size.
 */
export interface JsonLimits {
  maxDepth: number;
  maxStringValueLength: number;
  maxObjectEntryCount: number;
  maxArrayElementCount: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = {
  maxDepth: 500,
  maxStringValueLength: 1024 * 1024,
  maxObjectEntryCount: 10_000,
  maxArrayElementCount: 10_000,
};

/**
 * Throws a 400 when `text` goes past a limit. It does not validate JSON: what it cannot follow it leaves to
 * JSON.parse, which runs after it and says `error parsing JSON`. The stack it keeps is bounded by `maxDepth`.
 */
export function checkJsonLimits(text: string, limits: JsonLimits = DEFAULT_JSON_LIMITS): void {
  const open: { object: boolean; members: number }[] = [];
  /** What the next token is: an object key, a value, or neither (after a value, before `,`/`:`). */
  let expect: 'key' | 'value' | 'none' = 'value';
  const valueStarts = () => {
    const top = open[open.length - 1];
    if (top && !top.object && ++top.members > limits.maxArrayElementCount) {
      throw limit(`JSON array exceeded maximum element count of ${limits.maxArrayElementCount}`);
    }
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    switch (c) {
      case '{':
      case '[':
        valueStarts();
        if (open.length >= limits.maxDepth) throw limit(`JSON input exceeded maximum nesting depth of ${limits.maxDepth}`);
        open.push({ object: c === '{', members: 0 });
        expect = c === '{' ? 'key' : 'value';
        break;
      case '}':
      case ']':
        open.pop();
        expect = 'none';
        break;
      case ':':
        expect = 'value';
        break;
      case ',':
        expect = open[open.length - 1]?.object ? 'key' : 'value';
        break;
      case '"': {
        const start = i;
        for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
        const top = open[open.length - 1];
        if (expect === 'key' && top?.object) {
          if (++top.members > limits.maxObjectEntryCount) throw limit(`JSON object exceeded maximum entry count of ${limits.maxObjectEntryCount}`);
        } else if (expect === 'value') {
          valueStarts();
          if (i - start - 1 > limits.maxStringValueLength) throw limit(`JSON string value exceeded maximum length of ${limits.maxStringValueLength}`);
        }
        expect = 'none';
        break;
      }
      case ' ':
      case '\t':
      case '\n':
      case '\r':
        break;
      default:
        // The first character of a number, true, false or null; the rest of it finds expect at 'none'.
        if (expect === 'value') {
          valueStarts();
          expect = 'none';
        }
    }
  }
}

function limit(message: string): CofferError {
  return new JsonLimitError(message);
}

/** The limits of a configured listener: Vault's default for each one not set. */
export function jsonLimitsOf(listener: Partial<TcpListenerConfig> | undefined): JsonLimits {
  return {
    maxDepth: listener?.maxJsonDepth ?? DEFAULT_JSON_LIMITS.maxDepth,
    maxStringValueLength: listener?.maxJsonStringValueLength ?? DEFAULT_JSON_LIMITS.maxStringValueLength,
    maxObjectEntryCount: listener?.maxJsonObjectEntryCount ?? DEFAULT_JSON_LIMITS.maxObjectEntryCount,
    maxArrayElementCount: listener?.maxJsonArrayElementCount ?? DEFAULT_JSON_LIMITS.maxArrayElementCount,
  };
}

/** A request refused for a JSON limit: the parse stage logs it at warn (an attack, or a client to fix), not as a fault. */
export class JsonLimitError extends CofferError {
  constructor(message: string) {
    super('invalid-request', message);
  }
}
