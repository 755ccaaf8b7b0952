import { ConfigError } from './errors.js';
import { readValue, type DeclaredBlock, type Fragment } from './fragment.js';
import {
  DEFAULT_LEASE_TTL,
  fieldsOf,
  NATS_BUS,
  POSTGRESQL,
  SETTINGS,
  TCP_LISTENER,
  type BlockType,
  type KeySpec,
  type KeyTable,
  type Settings,
} from './schema.js';
import type { CofferConfig, TcpListenerConfig } from './types.js';

export type Environment = Readonly<Record<string, string | undefined>>;

/** Where each value came from, so an error about the merged config can still name a file. */
type Origins<T> = Partial<Record<keyof T, string>>;

/**
 * Folds the files in order (later values win, listeners add up, a later storage or bus block replaces an earlier
 * one), lets the environment override, fills defaults, and checks what only the whole config can show.
 */
export function assembleConfig(fragments: readonly Fragment[], env: Environment): CofferConfig {
  const settings: Partial<Settings> = {};
  const origins: Origins<Settings> = {};
  for (const fragment of fragments) {
    for (const field of Object.keys(fragment.settings) as (keyof Settings)[]) {
      copyField(fragment.settings, settings, field);
      origins[field] = fragment.source;
    }
  }
  overrideFromEnvironment(SETTINGS, settings, origins, env, '');
  defaultLeaseFollowsMaximum(settings, origins);

  const declaredStorage = fragments.findLast((fragment) => fragment.storage)?.storage;
  const storage = declaredStorage && { ...declaredStorage, fields: { ...declaredStorage.fields } };
  if (storage) overrideFromEnvironment(POSTGRESQL.keys, storage.fields, {}, env, `${storage.key}.`);
  // The bus block takes its environment overrides as storage does: compose gives each container its role's bus
  // files (seed, membership key, CA, inbox) as $COFFER_NATS_* beside a shared config.d that names only the URL.
  const declaredBus = fragments.findLast((fragment) => fragment.bus)?.bus;
  const bus = declaredBus && { ...declaredBus, fields: { ...declaredBus.fields } };
  if (bus) overrideFromEnvironment(NATS_BUS.keys, bus.fields, {}, env, `${bus.key}.`);
  const listeners = fragments.flatMap((fragment) => fragment.listeners);

  const config: CofferConfig = {
    ...complete(SETTINGS, settings, (field) => origins[field] ?? 'config', ''),
    ...(storage && { storage: { type: 'postgresql' as const, ...completeBlock(POSTGRESQL, storage) } }),
    ...(bus && { bus: { type: 'nats' as const, ...completeBlock(NATS_BUS, bus) } }),
    listeners: listeners.length > 0 ? listeners.map(completeListener) : [defaultListener()],
    sources: fragments.map((fragment) => fragment.source),
  };
  checkLeaseTtls(config, origins);
  checkListenersDistinct(listeners, config.listeners);
  return config;
}

// No file asked for TLS and there is no certificate to serve, so the listener a bare config gets is plain HTTP on
// loopback, as Vault's dev server does.
function defaultListener(): TcpListenerConfig {
  return completeListener({ type: 'tcp', fields: { tlsDisable: true }, source: 'defaults', key: 'listener.tcp' });
}

function completeListener(declared: DeclaredBlock<Omit<TcpListenerConfig, 'type'>>): TcpListenerConfig {
  return { type: 'tcp', ...completeBlock(TCP_LISTENER, declared) };
}

function completeBlock<T>(blockType: BlockType<T>, declared: DeclaredBlock<T>): T {
  const fields = complete(blockType.keys, declared.fields, () => declared.source, `${declared.key}.`);
  for (const rule of blockType.rules) {
    const broken = rule(fields);
    if (broken) {
      const name = `${declared.key}.${broken.key}`;
      throw new ConfigError(declared.source, name, `"${name}" ${broken.problem}`);
    }
  }
  return fields;
}

/** Fills fallbacks and refuses a missing required key; `sourceOf` says which file to blame. */
function complete<T>(table: KeyTable<T>, given: Partial<T>, sourceOf: (field: keyof T) => string, prefix: string): T {
  const fields: Partial<T> = { ...given };
  for (const [key, spec] of fieldsOf(table)) {
    if (fields[spec.field] === undefined && spec.fallback !== undefined) {
      fields[spec.field] = structuredClone(spec.fallback) as T[typeof spec.field];
    }
    if (fields[spec.field] === undefined && spec.required) {
      const name = prefix + key;
      throw new ConfigError(sourceOf(spec.field), name, `"${name}" is required${environmentHint(spec)}`);
    }
  }
  return fields as T;
}

function overrideFromEnvironment<T>(
  table: KeyTable<T>,
  fields: Partial<T>,
  origins: Origins<T>,
  env: Environment,
  prefix: string,
): void {
  for (const [key, spec] of fieldsOf(table)) {
    const variable = spec.env?.find((name) => (env[name] ?? '') !== '');
    if (variable === undefined) continue;
    const source = `$${variable}`;
    fields[spec.field] = readValue(env[variable], spec.kind, { source, name: prefix + key, secret: spec.redact !== undefined });
    origins[spec.field] = source;
  }
}

function copyField<T, K extends keyof T>(from: Partial<T>, to: Partial<T>, field: K): void {
  to[field] = from[field];
}

function environmentHint<T>(spec: KeySpec<T>): string {
  return spec.env ? ` (or set $${spec.env[0]})` : '';
}

/**
 * Vault refuses `max_lease_ttl = "1h"` alone, because its unset default (768h) is then longer than the maximum.
 * An operator who lowers the maximum means leases to be shorter, so an unset default follows it down instead.
 */
function defaultLeaseFollowsMaximum(settings: Partial<Settings>, origins: Origins<Settings>): void {
  const { defaultLeaseTtl, maxLeaseTtl } = settings;
  if (defaultLeaseTtl !== undefined || maxLeaseTtl === undefined || maxLeaseTtl >= DEFAULT_LEASE_TTL) return;
  settings.defaultLeaseTtl = maxLeaseTtl;
  origins.defaultLeaseTtl = origins.maxLeaseTtl;
}

/** Vault refuses a default lease longer than the maximum; so do we, naming the file that set the default. */
function checkLeaseTtls(config: CofferConfig, origins: Origins<Settings>): void {
  if (config.defaultLeaseTtl <= config.maxLeaseTtl) return;
  const maxFrom = origins.maxLeaseTtl ? `set in ${origins.maxLeaseTtl}` : 'the default';
  throw new ConfigError(
    origins.defaultLeaseTtl ?? origins.maxLeaseTtl ?? 'config',
    'default_lease_ttl',
    `"default_lease_ttl" (${config.defaultLeaseTtl}s) must not be longer than "max_lease_ttl" (${config.maxLeaseTtl}s, ${maxFrom})`,
  );
}

/** Two listeners on one address would fail at bind time, after other services started; say so now. */
function checkListenersDistinct(declared: readonly DeclaredBlock<unknown>[], listeners: readonly TcpListenerConfig[]): void {
  listeners.forEach((listener, index) => {
    const first = listeners.findIndex((other) => other.address === listener.address);
    if (first === index) return;
    const name = `${declared[index]!.key}.address`;
    throw new ConfigError(
      declared[index]!.source,
      name,
      `"${name}" ${listener.address} is already used by another listener (in ${declared[first]!.source})`,
    );
  });
}
