import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MountEnabledV1 } from '#contracts';
import type { StoredEvent } from '#event-store';
import { MIGRATION_ID_KEY, mountManagerProjection } from './mount-manager.projection.js';

let version = 0;
function stored(type: string, data: unknown, metadata: Record<string, unknown> = {}): StoredEvent {
  version++;
  return { position: version, stream: 'mount-table', version, type, data, metadata, recordedAt: new Date(0) };
}

function enabled(table: 'secret' | 'auth', path: string): MountEnabledV1 {
  return {
    v: 1,
    table,
    path,
    type: 'p',
    pluginName: 'p',
    uuid: `u-${path}`,
    accessor: `p_${path}`,
    description: '',
    config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, forceNoCache: false, pluginVersion: '' },
    options: null,
    local: false,
    sealWrap: false,
  };
}

describe('mount-manager projection', () => {
  test('folds the mount table as the shared fold does, and records remounts by migration id', () => {
    let state = mountManagerProjection.initial();
    for (const e of [
      stored('MountEnabled', enabled('secret', 'a/')),
      stored('MountEnabled', enabled('auth', 'userpass/')),
      stored('MountMoved', { v: 1, table: 'secret', from: 'a/', to: 'b/' }, { [MIGRATION_ID_KEY]: 'm1' }),
      stored('MountMoved', { v: 1, table: 'auth', from: 'userpass/', to: 'up/' }, { [MIGRATION_ID_KEY]: 'm2' }),
      stored('MountMoved', { v: 1, table: 'secret', from: 'gone/', to: 'c/' }, { [MIGRATION_ID_KEY]: 'm3' }),
      stored('MountMoved', { v: 1, table: 'secret', from: 'b/', to: 'd/' }),
    ]) {
      state = mountManagerProjection.fold(state, e);
    }
    assert.deepEqual(Object.keys(state.table.secret), ['d/']);
    assert.equal(state.table.secret['d/'].uuid, 'u-a/', 'the uuid, and so the storage, moves with the mount');
    assert.deepEqual(Object.keys(state.table.auth), ['up/']);
    assert.deepEqual(state.migrations, {
      m1: { migrationId: 'm1', sourceMount: 'a/', targetMount: 'b/', status: 'success' },
      m2: { migrationId: 'm2', sourceMount: 'auth/userpass/', targetMount: 'auth/up/', status: 'success' },
    });
  });

  test('skips event types it does not know', () => {
    const state = mountManagerProjection.fold(mountManagerProjection.initial(), stored('MountFrobbed', {}));
    assert.deepEqual(state, { table: { secret: {}, auth: {} }, migrations: {} });
  });
});
