import { fieldsOf, NATS_BUS, POSTGRESQL, SETTINGS, TCP_LISTENER, type KeyTable } from './schema.js';
import type { CofferConfig } from './types.js';

/**
 * A copy of the config that is safe to log or print: every key the tables mark secret is redacted (the database
 * URL keeps all but its password; NATS passwords and tokens are replaced). The original is untouched.
 */
export function redactConfig(config: CofferConfig): CofferConfig {
  const copy = structuredClone(config);
  redactFields(SETTINGS, copy);
  if (copy.storage) redactFields(POSTGRESQL.keys, copy.storage);
  if (copy.bus) redactFields(NATS_BUS.keys, copy.bus);
  for (const listener of copy.listeners) redactFields(TCP_LISTENER.keys, listener);
  return copy;
}

function redactFields<T>(table: KeyTable<T>, fields: T): void {
  for (const [, spec] of fieldsOf(table)) {
    const value = fields[spec.field];
    if (spec.redact && value !== undefined) fields[spec.field] = spec.redact(value as Exclude<T[keyof T], undefined>) as T[keyof T];
  }
}
