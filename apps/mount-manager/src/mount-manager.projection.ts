import type { EventOf, RemountStatus } from '#contracts';
import type { Projection, StoredEvent } from '#event-store';
import { mountTableProjection, type MountTableState } from '#mount-table';
import { displayPath } from './mount-rules.js';

/** The mount table, plus the remounts it has seen, keyed by migration id. */
export interface MountManagerState {
  table: MountTableState;
  migrations: Record<string, RemountStatus>;
}

/** Where a `MountMoved` event carries its migration id: metadata, which is stored in the clear and is not secret. */
export const MIGRATION_ID_KEY = 'migrationId';

/**
 * The shared mount-table fold, plus remount statuses read back from the stream. Keeping statuses in the stream rather
 * than in the memory of the instance that did the move lets any mount-manager instance (the status request goes to
 * the queue group, not to the instance that answered the remount) and any restarted one answer for every migration.
 * A move is one event, so every recorded migration has succeeded.
 */
export const mountManagerProjection: Projection<MountManagerState> = {
  stream: mountTableProjection.stream,
  initial: () => ({ table: mountTableProjection.initial(), migrations: {} }),
  fold(state, event: StoredEvent) {
    const e = event as unknown as EventOf<'mount-table'>;
    if (e.type === 'MountMoved') {
      const id = event.metadata?.[MIGRATION_ID_KEY];
      if (typeof id === 'string' && state.table[e.data.table]?.[e.data.from]) {
        state.migrations[id] = {
          migrationId: id,
          sourceMount: displayPath(e.data.table, e.data.from),
          targetMount: displayPath(e.data.table, e.data.to),
          status: 'success',
        };
      }
    }
    state.table = mountTableProjection.fold(state.table, event);
    return state;
  },
};
