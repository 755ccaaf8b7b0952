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

/** The mount serving a request path: the longest mount path that prefixes it. */
export function findMount(table: Record<string, Mount>, requestPath: string): Mount | undefined {
  const withSlash = requestPath.endsWith('/') ? requestPath : `${requestPath}/`;
  let best: Mount | undefined;
  for (const [path, mount] of Object.entries(table)) {
    if (withSlash.startsWith(path) && (!best || path.length > best.path.length)) best = mount;
  }
  return best;
}
