import type { EventOf, MountEnabledV1 } from '../contracts/index.js';
import type { Projection, StoredEvent } from '../event-store/index.js';

export type Mount = Omit<MountEnabledV1, 'v'>;
export type MountTableName = Mount['table'];

/** Both mount tables, keyed by path (always ending in `/`; auth paths without their `auth/` prefix). */
export interface MountTableState {
  secret: Record<string, Mount>;
  auth: Record<string, Mount>;
}

/**
 * Updates the state it is handed rather than copying it (replay of a long stream stays linear); it does no I/O and
 * depends only on (state, event), so replay and live catch-up give the same table.
 */
export const mountTableProjection: Projection<MountTableState> = {
  stream: 'mount-table',
  initial: () => ({ secret: {}, auth: {} }),
  fold(state, event: StoredEvent) {
    const e = event as unknown as EventOf<'mount-table'>;
    switch (e.type) {
      case 'MountEnabled': {
        const { v: _v, ...mount } = e.data;
        state[mount.table][mount.path] = mount;
        return state;
      }
      case 'MountDisabled':
        delete state[e.data.table][e.data.path];
        return state;
      case 'MountTuned': {
        const mount = state[e.data.table][e.data.path];
        if (!mount) return state;
        state[e.data.table][e.data.path] = {
          ...mount,
          description: e.data.description ?? mount.description,
          config: { ...mount.config, ...e.data.config },
          options: e.data.options === undefined ? mount.options : e.data.options,
        };
        return state;
      }
      case 'MountMoved': {
        const mount = state[e.data.table][e.data.from];
        if (!mount) return state;
        delete state[e.data.table][e.data.from];
        state[e.data.table][e.data.to] = { ...mount, path: e.data.to };
        return state;
      }
      default:
        return state;
    }
  },
};

/**
 * The mount serving a request path: the longest mount path that prefixes it. Mount paths end in `/`, so the only
 * candidates are the request path's own prefixes that end at a `/`; they are looked up longest first, one hash
 * lookup per path segment, so the cost follows the request's depth and not the table's size (a scan of every mount
 * cost ~12 ms per lookup at 10,000 mounts, on every request: docs/performance.md, "Scale on paper").
 */
export function findMount(table: Record<string, Mount>, requestPath: string): Mount | undefined {
  const withSlash = requestPath.endsWith('/') ? requestPath : `${requestPath}/`;
  // `slash` is the index of the `/` that ends the candidate; it moves left one segment at a time
  for (let slash = withSlash.length - 1; slash >= 0; slash = slash === 0 ? -1 : withSlash.lastIndexOf('/', slash - 1)) {
    const prefix = withSlash.slice(0, slash + 1);
    // own properties only: a request path must never match something inherited from Object.prototype
    if (Object.hasOwn(table, prefix)) return table[prefix];
  }
  return undefined;
}
