/** Helpers for this library's tests and for the dev store's test; not part of the public surface. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { CofferError } from '../contracts/errors.js';
import { createDataSource, runMigrations } from './data-source.js';
import { EventStore, type EventStoreOptions } from './event-store.js';
import type { StoreLogger } from './logger.js';
import { qualifiedTable } from './sql.js';

export const testDatabaseUrl = process.env.COFFER_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Several people test against one database at once: every schema, stream and application name is unique. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export interface LogLine {
  level: keyof StoreLogger;
  fields: object;
  message: string;
}

export function recordingLogger(onLine: (line: LogLine) => void = () => {}): { logger: StoreLogger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const record = (level: keyof StoreLogger) => (fields: object, message: string) => {
    const line = { level, fields, message };
    lines.push(line);
    onLine(line);
  };
  return { logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') }, lines };
}

export interface TestStore {
  dataSource: DataSource;
  store: EventStore;
  /** `"schema".coffer_events`, for tests that go around the store. */
  eventsTable: string;
  drop(): Promise<void>;
}

/** A migrated store in a schema of its own, dropped again by `drop()`. */
export async function openTestStore(
  settings: { poolSize?: number; applicationName?: string; logger?: StoreLogger; store?: EventStoreOptions } = {},
): Promise<TestStore> {
  const schema = uniqueName('t');
  const dataSource = createDataSource({
    url: testDatabaseUrl,
    schema,
    poolSize: settings.poolSize ?? 4,
    applicationName: settings.applicationName ?? uniqueName('coffer_test'),
    logger: settings.logger ?? recordingLogger().logger,
  });
  await dataSource.initialize();
  await runMigrations(dataSource);
  return {
    dataSource,
    store: new EventStore(dataSource, undefined, settings.store),
    eventsTable: qualifiedTable(dataSource, 'coffer_events'),
    async drop() {
      await dataSource.query(`DROP SCHEMA "${schema}" CASCADE`);
      await dataSource.destroy();
    },
  };
}

export function isConflict(error: unknown): boolean {
  return error instanceof CofferError && error.code === 'conflict';
}

/**
 * The behaviour every backing database must show, Postgres and the embedded dev store alike: run against both, it
 * shows they behave the same.
 */
export async function checkEventStoreBehaviour(store: EventStore): Promise<void> {
  const stream = uniqueName('behaviour');
  assert.equal(await store.version(stream), 0, 'an empty stream is at version 0');
  assert.deepEqual(await store.read(stream), []);

  const first = await store.append(stream, 0, [
    { type: 'MountEnabled', data: { path: 'kv/', options: { version: '2' } }, metadata: { requestId: 'r-1' } },
    { type: 'MountTuned', data: { path: 'kv/', ttl: 60 } },
  ]);
  assert.equal(first.fromVersion, 1);
  assert.equal(first.toVersion, 2);
  const events = await store.read(stream);
  assert.deepEqual(
    events.map(({ stream, version, type, data, metadata }) => ({ stream, version, type, data, metadata })),
    [
      { stream, version: 1, type: 'MountEnabled', data: { path: 'kv/', options: { version: '2' } }, metadata: { requestId: 'r-1' } },
      { stream, version: 2, type: 'MountTuned', data: { path: 'kv/', ttl: 60 }, metadata: {} },
    ],
  );
  assert.equal(events[1].position, first.position, 'the append reports the position of its last event');
  assert.ok(events[0].position < events[1].position);
  assert.ok(events[0].recordedAt instanceof Date);
  assert.equal(await store.version(stream), 2);

  await assert.rejects(store.append(stream, 1, [{ type: 'MountDisabled', data: {} }]), (error: unknown) => {
    assert.ok(isConflict(error));
    assert.match((error as Error).message, /is at version 2, not 1/);
    return true;
  });
  await assert.rejects(store.append(stream, 3, [{ type: 'MountDisabled', data: {} }]), isConflict, 'no gaps');

  const racing = await Promise.allSettled([
    store.append(stream, 2, [{ type: 'MountDisabled', data: { by: 'a' } }]),
    store.append(stream, 2, [{ type: 'MountDisabled', data: { by: 'b' } }]),
  ]);
  assert.equal(racing.filter((outcome) => outcome.status === 'fulfilled').length, 1, 'exactly one append wins');
  const lost = racing.find((outcome) => outcome.status === 'rejected');
  assert.ok(isConflict(lost?.reason), 'the other one gets a conflict');
  assert.equal(await store.version(stream), 3);

  const all = await store.readAll({ afterPosition: events[0].position });
  assert.deepEqual(
    all.filter((event) => event.stream === stream).map((event) => event.version),
    [2, 3],
    'readAll continues after a global position',
  );

  // A history page: newest first, bounded, continued from the last position it showed, optionally per stream.
  const other = uniqueName('behaviour');
  await store.append(other, 0, [{ type: 'PolicyWritten', data: { name: 'p' } }]);
  const both = [stream, other];
  const newest = await store.readPage({ limit: 2, streams: both });
  assert.deepEqual(newest.map((e) => [e.stream, e.version]), [[other, 1], [stream, 3]], 'newest first, across streams');
  assert.ok(newest[0].position > newest[1].position);
  const older = await store.readPage({ beforePosition: newest[1].position, limit: 10, streams: both });
  assert.deepEqual(older.map((e) => [e.stream, e.version]), [[stream, 2], [stream, 1]], 'the next page continues below the cursor');
  assert.deepEqual(older[1].data, { path: 'kv/', options: { version: '2' } }, 'decoded as read() decodes');
  assert.deepEqual(older[1].metadata, { requestId: 'r-1' });
  assert.deepEqual((await store.readPage({ limit: 10, streams: [other] })).map((e) => e.type), ['PolicyWritten'], 'one stream only');
  assert.deepEqual(await store.readPage({ beforePosition: older[1].position, limit: 10, streams: both }), [], 'nothing before the first');
  assert.deepEqual(await store.readPage({ limit: 10, streams: [] }), []);
  const unfiltered = await store.readPage({ limit: 1 });
  assert.equal(unfiltered.length, 1, 'every stream when none is named, still bounded');
  await assert.rejects(store.readPage({ limit: 0 }), RangeError);
}
