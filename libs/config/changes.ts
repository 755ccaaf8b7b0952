import { isDeepStrictEqual } from 'node:util';
import { fieldsOf, NATS_BUS, POSTGRESQL, SETTINGS, TCP_LISTENER, type KeyTable } from './schema.js';
import type { CofferConfig } from './types.js';

/** What a reload found different on disk, by key as written in the config (`log_level`, `listener.tcp[0].address`). */
export interface ConfigChanges {
  /** Now in effect. */
  reloaded: string[];
  /** Changed on disk but still running with the old value until a restart. */
  needsRestart: string[];
}

/**
 * Splits the differences between the running config and the one on disk into what can change now and what needs
 * a restart, and builds the config the server actually runs with afterwards: the running one with only the
 * reloadable values taken from disk. Listeners are paired by address, the one thing that identifies a socket.
 */
export function compareConfigs(running: CofferConfig, onDisk: CofferConfig): { applied: CofferConfig; changes: ConfigChanges } {
  const applied = structuredClone(running);
  applied.sources = [...onDisk.sources];
  const changes: ConfigChanges = { reloaded: [], needsRestart: [] };

  compareFields(SETTINGS, running, onDisk, applied, '', changes);
  if (running.storage && onDisk.storage && applied.storage) {
    compareFields(POSTGRESQL.keys, running.storage, onDisk.storage, applied.storage, 'storage.postgresql.', changes);
  } else if (running.storage || onDisk.storage) {
    changes.needsRestart.push('storage');
  }
  if (running.bus && onDisk.bus && applied.bus) {
    compareFields(NATS_BUS.keys, running.bus, onDisk.bus, applied.bus, 'bus.nats.', changes);
  } else if (running.bus || onDisk.bus) {
    changes.needsRestart.push('bus');
  }
  compareListeners(running, onDisk, applied, changes);
  return { applied, changes };
}

function compareListeners(running: CofferConfig, onDisk: CofferConfig, applied: CofferConfig, changes: ConfigChanges): void {
  const moved = new Set<string>();
  running.listeners.forEach((listener, index) => {
    const next = onDisk.listeners.find((other) => other.address === listener.address);
    if (next) compareFields(TCP_LISTENER.keys, listener, next, applied.listeners[index]!, `listener.tcp[${index}].`, changes);
    else moved.add(`listener.tcp[${index}].address`);
  });
  onDisk.listeners.forEach((listener, index) => {
    if (!running.listeners.some((other) => other.address === listener.address)) moved.add(`listener.tcp[${index}].address`);
  });
  changes.needsRestart.push(...moved);
}

function compareFields<T>(
  table: KeyTable<T>,
  running: T,
  onDisk: T,
  applied: T,
  prefix: string,
  changes: ConfigChanges,
): void {
  for (const [key, spec] of fieldsOf(table)) {
    if (isDeepStrictEqual(running[spec.field], onDisk[spec.field])) continue;
    if (spec.reloadable) {
      applied[spec.field] = structuredClone(onDisk[spec.field]);
      changes.reloaded.push(prefix + key);
    } else {
      changes.needsRestart.push(prefix + key);
    }
  }
}
