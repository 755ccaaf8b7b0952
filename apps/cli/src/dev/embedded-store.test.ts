import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { connectWithRetry, createDataSource, EventStore, runMigrations } from '#event-store';
import { checkEventStoreBehaviour, recordingLogger } from '../../../../libs/event-store/testing.js';
import { startEmbeddedStore, type EmbeddedStore } from './embedded-store.js';

/** What `coffer server -dev` does with the embedded store: one pooled connection, migrated. */
async function openEvents(embedded: EmbeddedStore) {
  const { logger } = recordingLogger();
  const dataSource = createDataSource({ url: embedded.url, poolSize: 1, applicationName: 'coffer-dev', logger });
  await connectWithRetry(dataSource, { attempts: 3, initialDelayMs: 50, logger });
  const applied = await runMigrations(dataSource);
  return { dataSource, store: new EventStore(dataSource), applied };
}

test('in memory: migrations run and the event store behaves as on Postgres', async (t) => {
  const started = performance.now();
  const embedded = await startEmbeddedStore();
  const startMs = performance.now() - started;
  try {
    assert.match(embedded.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    const { dataSource, store, applied } = await openEvents(embedded);
    try {
      const readyMs = performance.now() - started;
      assert.deepEqual(applied, ['CreateCofferEvents1795910400000']);
      assert.deepEqual(await runMigrations(dataSource), [], 'migrations are idempotent here too');
      await checkEventStoreBehaviour(store);
      t.diagnostic(`embedded store in memory: started in ${startMs.toFixed(0)} ms, migrated in ${readyMs.toFixed(0)} ms`);
    } finally {
      await dataSource.destroy();
    }
    await replaceConnectionAndQuery(embedded.url);
  } finally {
    await embedded.close();
  }
});

test('with a dataDir: events survive close and reopen', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'coffer-embedded-'));
  try {
    let started = performance.now();
    const first = await startEmbeddedStore({ dataDir });
    const createMs = performance.now() - started;
    const opened = await openEvents(first);
    await opened.store.append('mount-table', 0, [
      { type: 'MountEnabled', data: { path: 'kv/' } },
      { type: 'MountEnabled', data: { path: 'secret/' } },
    ]);
    await opened.dataSource.destroy();
    await first.close();

    started = performance.now();
    const second = await startEmbeddedStore({ dataDir });
    const reopenMs = performance.now() - started;
    const reopened = await openEvents(second);
    try {
      assert.deepEqual(reopened.applied, [], 'the schema persisted with the events');
      assert.equal(await reopened.store.version('mount-table'), 2);
      assert.deepEqual(
        (await reopened.store.read('mount-table')).map((event) => event.data),
        [{ path: 'kv/' }, { path: 'secret/' }],
      );
      await assert.rejects(reopened.store.append('mount-table', 1, [{ type: 'MountDisabled', data: {} }]), {
        code: 'conflict',
      });
    } finally {
      await reopened.dataSource.destroy();
      await second.close();
    }
    t.diagnostic(`embedded store with dataDir: new ${createMs.toFixed(0)} ms, reopened ${reopenMs.toFixed(0)} ms`);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

/** A pool of one that drops its connection (as after a connection error) must be served again at once. */
async function replaceConnectionAndQuery(url: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    for (let round = 0; round < 5; round++) {
      const client = await pool.connect();
      client.release(true);
      assert.deepEqual((await pool.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    }
  } finally {
    await pool.end();
  }
}
