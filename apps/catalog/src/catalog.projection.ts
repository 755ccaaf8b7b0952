import type { PluginRegisteredV1, EventOf } from '#contracts';
import type { Projection, StoredEvent } from '#event-store';

export type CatalogEntry = Omit<PluginRegisteredV1, 'v'>;

/** The plugin catalog as folded from its stream: entries keyed `<type>/<name>/<version>` (version "" = unversioned). */
export interface CatalogState {
  entries: Record<string, CatalogEntry>;
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
  initial: () => ({ entries: {} }),
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
