import type { EventOf, PluginRegisteredV1 } from '../contracts/index.js';
import type { Projection, StoredEvent } from '../event-store/index.js';
import { loadBuiltins } from './builtins.js';

/** A registered plugin (an event's fields), or a builtin (`builtin: true`, run from the build's own bundles). */
export type CatalogEntry = Omit<PluginRegisteredV1, 'v'> & { builtin?: true };

/**
 * The plugin catalog as folded from its stream: entries keyed `<type>/<name>/<version>` (version "" = unversioned),
 * and this build's builtins keyed `<type>/<name>`, which the stream never holds.
 */
export interface CatalogState {
  entries: Record<string, CatalogEntry>;
  builtins?: Record<string, CatalogEntry>;
}

export function catalogKey(type: string, name: string, version: string): string {
  return `${type}/${name}/${version}`;
}

/**
 * The fold updates the state it is handed instead of copying it: it still does no I/O and depends on nothing but
 * (state, event), but copying the catalog per event would make replay quadratic in the stream's length.
 */
export const catalogProjection: Projection<CatalogState> = {
  stream: 'plugin-catalog',
  initial: () => ({ entries: {}, builtins: loadBuiltins() }),
  fold(state, event: StoredEvent) {
    const e = event as unknown as EventOf<'plugin-catalog'>;
    switch (e.type) {
      case 'PluginRegistered': {
        const { v: _v, ...entry } = e.data;
        state.entries[catalogKey(entry.type, entry.name, entry.version)] = entry;
        return state;
      }
      case 'PluginDeregistered': {
        delete state.entries[catalogKey(e.data.type, e.data.name, e.data.version)];
        return state;
      }
      default:
        // An event type from a newer Coffer: skipping it keeps older instances serving during a rolling upgrade.
        return state;
    }
  },
};

/**
 * The entry a mount runs: an exact version when one is pinned (a builtin's `+builtin` version names the builtin),
 * else the unversioned entry, else the newest registered version, else the builtin: a registered plugin of the same
 * name and type shadows the builtin, as in Vault.
 */
export function selectPlugin(state: CatalogState, type: 'secret' | 'auth', name: string, version = ''): CatalogEntry | undefined {
  const builtin = state.builtins?.[`${type}/${name}`];
  if (version) {
    const v = version.startsWith('v') ? version : `v${version}`;
    return state.entries[catalogKey(type, name, v)] ?? (builtin?.version === v ? builtin : undefined);
  }
  const unversioned = state.entries[catalogKey(type, name, '')];
  if (unversioned) return unversioned;
  const versions = Object.values(state.entries).filter((e) => e.type === type && e.name === name);
  return versions.sort((a, b) => compareVersions(b.version, a.version))[0] ?? builtin;
}

/** Every entry a listing shows: the registered ones and the builtins, by type, name and version. */
export function catalogListing(state: CatalogState): CatalogEntry[] {
  return [...Object.values(state.entries), ...Object.values(state.builtins ?? {})].sort(
    (a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name) || a.version.localeCompare(b.version),
  );
}

function compareVersions(a: string, b: string): number {
  const parse = (v: string) => v.replace(/^v/, '').split(/[+-]/)[0].split('.').map((n) => Number(n) || 0);
  const [x, y] = [parse(a), parse(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return a.localeCompare(b);
}
