/**
 * The periodic scheduler's claim on real Postgres: several runners ticking at once make each mount's call once per
 * interval, and a plugin that answers -32601 is recorded (by SHA-256) and not asked again, even by a fresh runner.
 * The pool is a recorder here (the call to a real plugin process is in test/database-passwords.e2e.test.ts); what is
 * under test is the claim in `coffer_periodic`.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { DataSource } from 'typeorm';
import { createDataSource, qualifiedTable, runMigrations } from '#event-store';
import { startEmbeddedStore, type EmbeddedStore } from '../../cli/src/dev/embedded-store.js';
import type { Mount } from '#mount-table';
import { MethodNotImplemented } from '#plugin-protocol';
import { PeriodicScheduler } from './periodic.js';
import type { PoolTarget } from './plugin-pool.js';
import { openTestDb, type TestDb } from './testing.js';

const silent = { info: () => {}, warn: () => {} };
const mountOf = (uuid: string) => ({ uuid, path: `m-${uuid.slice(0, 4)}/`, table: 'secret' }) as unknown as Mount;

/** Postgres, and the dev server's embedded store (PGlite: one session, so the pool has one connection). */
const stores: { name: string; open(): Promise<{ dataSource: DataSource; close(): Promise<void> }> }[] = [
  {
    name: 'Postgres',
    async open() {
      const test: TestDb = await openTestDb();
      return { dataSource: test.dataSource, close: () => test.drop() };
    },
  },
  {
    name: "the dev server's embedded store",
    async open() {
      const embedded: EmbeddedStore = await startEmbeddedStore();
      const dataSource = createDataSource({ url: embedded.url, poolSize: 1, applicationName: 'coffer-dev' });
      await dataSource.initialize();
      await runMigrations(dataSource);
      return {
        dataSource,
        async close() {
          await dataSource.destroy();
          await embedded.close();
        },
      };
    },
  },
];

for (const store of stores) describe(`periodic scheduler on ${store.name}: one call per mount and interval across runners`, () => {
  let db: { dataSource: DataSource; close(): Promise<void> };
  before(async () => {
    db = await store.open();
  });
  after(async () => {
    await db?.close();
  });

  function runner(instance: string, mounts: Mount[], calls: string[], behaviour: (uuid: string) => Promise<void> = async () => {}, sha = 'sha-a') {
    return new PeriodicScheduler({
      dataSource: db.dataSource,
      mounts: () => mounts,
      target: (mount) => ({ mount: { id: mount.uuid } as PoolTarget['mount'], entry: { name: 'p', sha256: sha } as PoolTarget['entry'] }),
      pool: {
        call: (async (_target: PoolTarget, method: string, params: { mount: string }) => {
          calls.push(`${instance} ${method} ${params.mount}`);
          await behaviour(params.mount);
          return {};
        }) as never,
      },
      sealed: () => false,
      log: silent,
      instance,
      tickMs: 60_000,
      callTimeoutMs: 1_000,
    });
  }

  test('four runners ticking at once: every mount is called exactly once; the next tick within the interval calls none', async () => {
    const mounts = Array.from({ length: 6 }, () => mountOf(randomUUID()));
    const calls: string[] = [];
    const runners = ['r1', 'r2', 'r3', 'r4'].map((r) => runner(r, mounts, calls));
    const claimed = await Promise.all(runners.map((r) => r.tick()));
    await Promise.all(runners.map((r) => r.close()));
    assert.equal(claimed.reduce((a, b) => a + b, 0), mounts.length, `claims: ${claimed}`);
    const called = calls.map((c) => c.split(' ')[2]).sort();
    assert.deepEqual(called, mounts.map((m) => m.uuid).sort(), 'each mount once');
    const again = runners.map((r) => runner(`${r}-again`, mounts, calls));
    assert.deepEqual(await Promise.all(again.map((r) => r.tick())), [0, 0, 0, 0], 'not due again within the interval');
    const table = qualifiedTable(db.dataSource, 'coffer_periodic');
    const rows = await db.dataSource.query(`SELECT claimed_by, due_at > now() + interval '50 seconds' AS later FROM ${table} WHERE mount_uuid = ANY($1::uuid[])`, [
      mounts.map((m) => m.uuid),
    ]);
    assert.ok(rows.every((r: { claimed_by: string | null; later: boolean }) => r.claimed_by === null && r.later), 'released, due a tick later');
  });

  test('a plugin without periodic is recorded by its SHA-256 and never asked again; another build of it is asked', async () => {
    const mount = mountOf(randomUUID());
    const calls: string[] = [];
    const noPeriodic = async () => {
      throw new MethodNotImplemented('periodic', 'plugin p does not implement periodic');
    };
    const first = runner('r1', [mount], calls, noPeriodic);
    assert.equal(await first.tick(), 1);
    await first.close();
    const table = qualifiedTable(db.dataSource, 'coffer_periodic');
    // Make it due again: only the recorded SHA-256 keeps it from being asked.
    await db.dataSource.query(`UPDATE ${table} SET due_at = '-infinity' WHERE mount_uuid = $1`, [mount.uuid]);
    const fresh = runner('r2', [mount], calls, noPeriodic);
    assert.equal(await fresh.tick(), 0, 'a fresh runner does not ask the same build again');
    await fresh.close();
    const upgraded = runner('r3', [mount], calls, async () => {}, 'sha-b');
    assert.equal(await upgraded.tick(), 1, 'a new build is asked');
    await upgraded.close();
    assert.deepEqual(calls, [`r1 periodic ${mount.uuid}`, `r3 periodic ${mount.uuid}`]);
  });

  test('a call still running is not made again by another runner, even when the tick has passed', async () => {
    const mount = mountOf(randomUUID());
    const calls: string[] = [];
    let finish!: () => void;
    const slow = runner('r1', [mount], calls, () => new Promise<void>((r) => (finish = r)));
    assert.equal(await slow.tick(), 1);
    const table = qualifiedTable(db.dataSource, 'coffer_periodic');
    const [row] = await db.dataSource.query(`SELECT claimed_by FROM ${table} WHERE mount_uuid = $1`, [mount.uuid]);
    assert.equal(row.claimed_by, 'r1', 'held while the call runs');
    const other = runner('r2', [mount], calls);
    assert.equal(await other.tick(), 0);
    finish();
    await slow.close();
    await other.close();
    assert.deepEqual(calls, [`r1 periodic ${mount.uuid}`]);
  });
});
