import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueryFailedError } from 'typeorm';
import { jsonCodec, type EventCodec, type EventContext } from './codec.js';
import { EventStore, type NewEvent } from './event-store.js';
import { checkEventStoreBehaviour, isConflict, openTestStore, uniqueName, type TestStore } from './testing.js';

describe('EventStore on Postgres', () => {
  let db: TestStore;
  before(async () => {
    db = await openTestStore();
  });
  after(() => db.drop());

  test('appends, reads and refuses stale or racing appends', () => checkEventStoreBehaviour(db.store));

  test('of many appends racing with the same expected version, exactly one wins each round', async () => {
    const stream = uniqueName('race');
    for (let version = 0; version < 10; version++) {
      const outcomes = await Promise.allSettled(
        ['a', 'b', 'c'].map((by) => db.store.append(stream, version, [{ type: 'PolicyWritten', data: { by } }])),
      );
      assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 1);
      for (const outcome of outcomes) if (outcome.status === 'rejected') assert.ok(isConflict(outcome.reason));
    }
    assert.deepEqual(
      (await db.store.read(stream)).map((event) => event.version),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
  });

  test('an append that passes the version check but loses on commit gets a conflict', async () => {
    const stream = uniqueName('race');
    // Another writer holds version 1, uncommitted: the check sees version 0, the insert waits on the unique index.
    const rival = db.dataSource.createQueryRunner();
    await rival.startTransaction();
    await rival.query(`INSERT INTO ${db.eventsTable} (stream, version, type, data) VALUES ($1, 1, 'PolicyWritten', $2)`, [
      stream,
      jsonCodec.encode({ stream, version: 1, type: 'PolicyWritten' }, { by: 'rival' }),
    ]);
    const appending = assert.rejects(
      db.store.append(stream, 0, [{ type: 'PolicyWritten', data: { by: 'us' } }]),
      (error: unknown) => {
        assert.ok(isConflict(error));
        assert.match((error as Error).message, /moved past version 0/);
        return true;
      },
    );
    await untilAStatementWaitsForALock(db);
    await rival.commitTransaction();
    await rival.release();
    await appending;
    assert.deepEqual((await db.store.read(stream)).map((event) => event.data), [{ by: 'rival' }]);
  });

  test('10,000 events appended in batches read back complete and in order', async (t) => {
    const stream = uniqueName('bulk');
    const batches = 20;
    const batchSize = 500;
    const started = performance.now();
    for (let batch = 0; batch < batches; batch++) {
      const events = Array.from({ length: batchSize }, (_, i) => ({
        type: 'SecretWritten',
        data: { n: batch * batchSize + i + 1 },
      }));
      const appended = await db.store.append(stream, batch * batchSize, events);
      assert.equal(appended.toVersion, (batch + 1) * batchSize);
    }
    const appendMs = performance.now() - started;

    const readStarted = performance.now();
    const events = await db.store.read(stream);
    const readMs = performance.now() - readStarted;
    assert.equal(events.length, batches * batchSize);
    events.forEach((event, index) => {
      assert.equal(event.version, index + 1);
      assert.deepEqual(event.data, { n: index + 1 });
    });

    const all = (await db.store.readAll()).filter((event) => event.stream === stream);
    assert.equal(all.length, batches * batchSize);
    all.forEach((event, index) => {
      assert.equal(event.version, index + 1);
      if (index > 0) assert.ok(event.position > all[index - 1].position);
    });
    t.diagnostic(`10k events: append ${appendMs.toFixed(0)} ms in ${batches} batches, read ${readMs.toFixed(0)} ms`);
  });

  test('reads page by page, honouring afterVersion and limit across page boundaries', async () => {
    const store = new EventStore(db.dataSource, jsonCodec, { pageSize: 3 });
    const stream = uniqueName('paged');
    await store.append(stream, 0, numbered(10));
    const versions = async (afterVersion: number, limit?: number) =>
      (await store.read(stream, { afterVersion, limit })).map((event) => event.version);
    assert.deepEqual(await versions(0), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(await versions(2, 5), [3, 4, 5, 6, 7]);
    assert.deepEqual(await versions(3, 3), [4, 5, 6]);
    assert.deepEqual(await versions(9, 5), [10]);
    assert.deepEqual(await versions(10), []);
    const pages = [];
    for await (const page of store.readPages(stream, { afterVersion: 1 })) pages.push(page.map((e) => e.version));
    assert.deepEqual(pages, [[2, 3, 4], [5, 6, 7], [8, 9, 10]]);

    const first = (await store.read(stream, { limit: 1 }))[0];
    const next = await store.readAll({ afterPosition: first.position, limit: 4 });
    assert.deepEqual(next.map((event) => event.version), [2, 3, 4, 5]);
  });

  test('hands the codec the stream, version and type of every event it encodes and decodes', async () => {
    const seen: string[] = [];
    const tagged: EventCodec = {
      encode(context, data) {
        seen.push(`encode ${label(context)}`);
        return jsonCodec.encode(context, { data, boundTo: label(context) });
      },
      decode(context, bytes) {
        seen.push(`decode ${label(context)}`);
        const stored = jsonCodec.decode(context, bytes) as { data: unknown; boundTo: string };
        assert.equal(stored.boundTo, label(context), 'the bytes are read back under the context they were written with');
        return stored.data;
      },
    };
    const store = new EventStore(db.dataSource, tagged);
    const stream = uniqueName('codec');
    await store.append(stream, 0, [{ type: 'A', data: 1 }, { type: 'B', data: 2 }]);
    assert.deepEqual((await store.read(stream)).map((event) => event.data), [1, 2]);
    assert.deepEqual(seen, [
      `encode ${stream}@1 A`,
      `encode ${stream}@2 B`,
      `decode ${stream}@1 A`,
      `decode ${stream}@2 B`,
    ]);
  });

  test('a failed append does not carry the event data in its error', async () => {
    const stream = uniqueName('failing');
    const error = await db.store
      .append(stream, 0, [{ type: 'SecretWritten', data: 'secret', metadata: { unstorable: '\u0000' } }])
      .catch((caught: unknown) => caught);
    assert.ok(error instanceof QueryFailedError, `expected a query failure, got ${error}`);
    assert.equal(error.parameters, undefined);
  });

  test('refuses nonsense arguments before touching the database', async () => {
    await assert.rejects(db.store.append('s', 0, []), RangeError);
    await assert.rejects(db.store.append('s', -1, numbered(1)), RangeError);
    await assert.rejects(db.store.read('s', { limit: 0 }), RangeError);
    assert.throws(() => jsonCodec.encode({ stream: 's', version: 1, type: 'T' }, undefined), TypeError);
  });
});

function numbered(count: number): NewEvent[] {
  return Array.from({ length: count }, (_, i) => ({ type: 'Numbered', data: { n: i + 1 } }));
}

function label(context: EventContext): string {
  return `${context.stream}@${context.version} ${context.type}`;
}

async function untilAStatementWaitsForALock(db: TestStore): Promise<void> {
  const applicationName = (db.dataSource.options as { applicationName: string }).applicationName;
  for (let tries = 0; tries < 200; tries++) {
    const [{ waiting }] = await db.dataSource.query(
      `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
      [applicationName],
    );
    if (waiting > 0) return;
    await sleep(10);
  }
  assert.fail('the append never waited for the rival transaction');
}
