import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CatalogEntry } from './projection.js';

/**
 * Coffer's builtin plugins: the bundles `scripts/build-plugins.mjs` builds (as Vault compiles its builtins in),
 * listed with their SHA-256 and their hello in `dist/builtin-plugins.json`, executed from `dist/plugins/`. They are
 * catalog entries nobody registered: never events, the same on every instance of the same build.
 */
export interface BuiltinManifest {
  plugins: { type: 'secret' | 'auth'; name: string; version: string; file: string; sha256: string }[];
}

/** Where this build's manifest and bundles are: dist/, found from this compiled file (dist/libs/plugin-catalog/). */
const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The directory the builtin bundles are executed from (the runner's confinement root for builtin entries). */
export function builtinPluginDirectory(): string {
  return process.env.COFFER_BUILTIN_PLUGIN_DIR ?? join(DIST, 'plugins');
}

/** A builtin's version: the plugin's own, marked `+builtin` as Vault marks its builtins (registrations may not). */
export function builtinVersion(version: string): string {
  const v = version === '' ? 'v0.0.0' : version.startsWith('v') ? version : `v${version}`;
  return v.includes('+') ? `${v}.builtin` : `${v}+builtin`;
}

/** The entries of a manifest, keyed `<type>/<name>`. */
export function builtinEntries(manifest: BuiltinManifest): Record<string, CatalogEntry> {
  const out: Record<string, CatalogEntry> = {};
  for (const p of manifest.plugins ?? []) {
    if ((p.type !== 'secret' && p.type !== 'auth') || typeof p.name !== 'string' || !/^[0-9a-f]{64}$/.test(p.sha256)) continue;
    out[`${p.type}/${p.name}`] = {
      type: p.type,
      name: p.name,
      version: builtinVersion(p.version ?? ''),
      sha256: p.sha256,
      command: p.file,
      args: [],
      env: [],
      builtin: true,
    };
  }
  return out;
}

let loaded: Record<string, CatalogEntry> | undefined;

/**
 * This build's builtins, read once. No manifest (a build that skipped the plugins): no builtins, and a mount of
 * `kv` fails as any unknown plugin does.
 */
export function loadBuiltins(): Record<string, CatalogEntry> {
  if (loaded) return loaded;
  const file = process.env.COFFER_BUILTIN_PLUGIN_MANIFEST ?? join(DIST, 'builtin-plugins.json');
  try {
    loaded = builtinEntries(JSON.parse(readFileSync(file, 'utf8')) as BuiltinManifest);
  } catch {
    loaded = {};
  }
  return loaded;
}
