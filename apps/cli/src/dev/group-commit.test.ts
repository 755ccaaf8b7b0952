import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { DataSource } from 'typeorm';
import { Keyring, KeyringBarrier } from '#barrier';
import { connectWithRetry, createDataSource, qualifiedTable, runMigrations } from '#event-store';
import { recordingLogger } from '../../../../libs/event-store/testing.js';
import { PluginStorage, STORAGE_TABLE } from '../../../plugin-runner/src/plugin-storage.js';
import { startEmbeddedStore, type EmbeddedStore } from './embedded-store.js';

/**
 * The plugin storage's group commit on what the dev server runs it on: the embedded store, one pooled connection,
 * migrated. Which transaction wrote a row is its `xmin`: rows of one batch share it.
 */
describe('group commit of plugin storage writes on the embedded store', () => {
  let embedded: EmbeddedStore;
  let dataSource: DataSource;
  let table: string;
  const barrier = new KeyringBarrier(Keyring.create());
  const storage = (readCache = false) =>
    new PluginStorage(dataSource, {
      readCache,
      barrier: () => barrier,
      mountTtls: () => ({ defaultLeaseTtl: 0, maxLeaseTtl: 0 }),
      system: { defaultLeaseTtl: 3600, maxLeaseTtl: 3600 },
      groupCommit: true,
    });
  const writers = (mount: string) =>
    dataSource.query(`SELECT key, xmin::text AS xid FROM ${table} WHERE mount_uuid = $1 ORDER BY key`, [mount]) as Promise<{ key: string; xid: string }[]>;

  before(async () => {
    embedded = await startEmbeddedStore();
    const { logger } = recordingLogger();
    dataSource = createDataSource({ url: embedded.url, poolSize: 1, applicationName: 'coffer-dev', logger });
    await connectWithRetry(dataSource, { attempts: 3, initialDelayMs: 50, logger });
    await runMigrations(dataSource);
    table = qualifiedTable(dataSource, STORAGE_TABLE);
    // A write the store refuses, to see what its batch neighbours get: any value put under a key ending in "poison".
    await dataSource.query(`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.key LIKE '%poison' THEN RAISE EXCEPTION 'poisoned write'; END IF; RETURN NEW; END $$`);
    await dataSource.query(`CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION refuse_poison()`);
  });
  after(async () => {
    await dataSource?.destroy();
    await embedded?.close();
  });

  test('the writes of one turn commit in one transaction, and every caller is answered with its own outcome', async () => {
    const s = storage();
    const mount = randomUUID();
    const keys = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    await Promise.all(keys.map((key) => s.put(mount, key, Buffer.from(`value of ${key}`))));
    const rows = await writers(mount);
    assert.deepEqual(
      rows.map((r) => r.key),
      keys,
    );
    assert.equal(new Set(rows.map((r) => r.xid)).size, 1, 'one transaction wrote all twenty');
    for (const key of keys) assert.equal((await s.get(mount, key))?.toString(), `value of ${key}`);

    // Deletes and puts of one turn, in order: the last word on a key is the one that stays.
    await Promise.all([s.delete(mount, 'k00'), s.put(mount, 'k01', Buffer.from('first')), s.put(mount, 'k01', Buffer.from('second')), s.delete(mount, 'k02')]);
    assert.equal(await s.get(mount, 'k00'), null);
    assert.equal((await s.get(mount, 'k01'))?.toString(), 'second');
    assert.equal(await s.get(mount, 'k02'), null);
  });

  test('writes that arrive while a batch runs go into the next one, not into none', async () => {
    const s = storage();
    const mount = randomUUID();
    const first = Array.from({ length: 5 }, (_, i) => s.put(mount, `a${i}`, Buffer.from('1')));
    // Next turn: the first batch has begun and holds the one connection.
    await new Promise((resolve) => setImmediate(resolve));
    const second = Array.from({ length: 5 }, (_, i) => s.put(mount, `b${i}`, Buffer.from('2')));
    await Promise.all([...first, ...second]);
    const rows = await writers(mount);
    assert.equal(rows.length, 10);
    const xids = (prefix: string) => new Set(rows.filter((r) => r.key.startsWith(prefix)).map((r) => r.xid));
    assert.equal(xids('a').size, 1);
    assert.equal(xids('b').size, 1);
    assert.notDeepEqual([...xids('a')], [...xids('b')], 'two batches, two transactions');
  });

  test('a failing write fails alone: its batch neighbours are written and answered', async () => {
    const s = storage();
    const mount = randomUUID();
    const results = await Promise.allSettled([
      s.put(mount, 'before', Buffer.from('b')),
      s.put(mount, 'poison', Buffer.from('x')),
      s.txn(mount, [{ key: 'txn', exists: false }], [{ op: 'put', key: 'txn', value: Buffer.from('t') }]),
      s.put(mount, 'after', Buffer.from('a')),
      s.txn(mount, [], [{ op: 'put', key: 'also-poison', value: Buffer.from('x') }, { op: 'put', key: 'never', value: Buffer.from('n') }]),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected'],
    );
    assert.match(String((results[1] as PromiseRejectedResult).reason), /poisoned write/);
    assert.deepEqual((results[2] as PromiseFulfilledResult<unknown>).value, { ok: true });
    const rows = await writers(mount);
    assert.deepEqual(
      rows.map((r) => r.key),
      ['after', 'before', 'txn'],
      'a failed txn wrote none of its puts; every other write is there',
    );
    assert.equal((await s.get(mount, 'after'))?.toString(), 'a');
  });

  test('concurrent compare-and-swaps in one batch: exactly one of those that read the same version wins', async () => {
    const s = storage();
    const mount = randomUUID();
    await s.put(mount, 'counter', Buffer.from('0'));
    for (let round = 1; round <= 5; round++) {
      const seen = (await s.get(mount, 'counter'))!;
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          s.txn(mount, [{ key: 'counter', value: seen }], [{ op: 'put', key: 'counter', value: Buffer.from(`${round}:${i}`) }]),
        ),
      );
      const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
      assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(results)}`);
      assert.deepEqual(results[winners[0] === 0 ? 1 : 0], { ok: false, failed: 0 });
      assert.equal((await s.get(mount, 'counter'))?.toString(), `${round}:${winners[0]}`);
    }
    // Create-only (exists: false) from many writers at once: one creates, the others see it there.
    const created = await Promise.all(
      Array.from({ length: 8 }, (_, i) => s.txn(mount, [{ key: 'once', exists: false }], [{ op: 'put', key: 'once', value: Buffer.from(String(i)) }])),
    );
    assert.equal(created.filter((r) => r.ok).length, 1);
  });

  test('with the read cache: a committed write is what the next read and existence check answer, unless another write followed it', async () => {
    const s = storage(true);
    const mount = randomUUID();
    await s.put(mount, 'k', Buffer.from('kept'));
    // Behind the storage's back: it is the only writer on the dev server, so what it wrote is what it answers.
    await dataSource.query(`DELETE FROM ${table} WHERE mount_uuid = $1`, [mount]);
    assert.equal(await s.exists(mount, 'k'), true, 'answered from what the put left, without a query');
    assert.equal((await s.get(mount, 'k'))?.toString(), 'kept');

    // Writes of one batch on one key: the last one's value is kept, whichever kind it is.
    await Promise.all([s.put(mount, 'a', Buffer.from('1')), s.txn(mount, [], [{ op: 'put', key: 'a', value: Buffer.from('from txn') }])]);
    assert.equal((await s.get(mount, 'a'))?.toString(), 'from txn');
    await Promise.all([s.put(mount, 'b', Buffer.from('1')), s.put(mount, 'b', Buffer.from('2')), s.delete(mount, 'c'), s.put(mount, 'c', Buffer.from('3'))]);
    assert.equal((await s.get(mount, 'b'))?.toString(), '2');
    assert.equal((await s.get(mount, 'c'))?.toString(), '3');
    await s.delete(mount, 'c');
    assert.equal(await s.exists(mount, 'c'), false);

    // A write that failed keeps nothing, and the read goes to the table.
    await assert.rejects(s.put(mount, 'poison', Buffer.from('x')), /poisoned write/);
    assert.equal(await s.get(mount, 'poison'), null);

    // A bulk delete drops what was kept.
    await s.put(mount, 'scope/x', Buffer.from('x'));
    assert.equal(await s.deletePrefixes(mount, ['scope/']), 1);
    assert.equal(await s.exists(mount, 'scope/x'), false);
  });
});
