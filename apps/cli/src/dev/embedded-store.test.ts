import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { connectWithRetry, createDataSource, EventStore, migrations, runMigrations } from '#event-store';
import { checkEventStoreBehaviour, recordingLogger } from '../../../../libs/event-store/testing.js';
import { startEmbeddedStore, writeSeed, type EmbeddedStore } from './embedded-store.js';

const allMigrations = migrations.map((Migration) => new Migration().name as string);

/** What `coffer server -dev` does with the embedded store: one pooled connection, migrated. */
async function openEvents(embedded: EmbeddedStore) {
  const { logger } = recordingLogger();
  const dataSource = createDataSource({ url: embedded.url, poolSize: 1, applicationName: 'coffer-dev', logger });
  await connectWithRetry(dataSource, { attempts: 3, initialDelayMs: 50, logger });
  const applied = await runMigrations(dataSource);
  return { dataSource, store: new EventStore(dataSource), applied };
}

const scratch = await mkdtemp(join(tmpdir(), 'coffer-embedded-'));
after(() => rm(scratch, { recursive: true, force: true }));

/**
 * A seed made here the way the build makes dist/dev-seed.tar (writeSeed, then the migrations), so that these tests
 * depend neither on the build having made one nor on that one being current. Made once, for every test that uses it.
 */
let seedBuilt: Promise<{ file: string; ms: number }> | undefined;
function builtSeed() {
  seedBuilt ??= (async () => {
    const file = join(scratch, 'seed.tar');
    const started = performance.now();
    await writeSeed(file, async (url) => {
      const { dataSource, applied } = await openEvents({ url, close: async () => {} });
      await dataSource.destroy();
      assert.deepEqual(applied, allMigrations);
    });
    return { file, ms: performance.now() - started };
  })();
  return seedBuilt;
}

test('in memory, the seed unreadable: a warning, initdb, migrations run and the event store behaves as on Postgres', async (t) => {
  const unreadable = join(scratch, 'unreadable.tar');
  await writeFile(unreadable, 'not a tar');
  const warnings = recordingLogger();
  const started = performance.now();
  const embedded = await startEmbeddedStore({ seed: unreadable, logger: warnings.logger });
  const startMs = performance.now() - started;
  try {
    assert.match(embedded.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    const { dataSource, store, applied } = await openEvents(embedded);
    try {
      const readyMs = performance.now() - started;
      assert.deepEqual(applied, allMigrations);
      assert.equal(applied[0], 'CreateCofferEvents1795910400000');
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
  assert.deepEqual(
    warnings.lines.map((line) => [line.level, line.message, line.fields]),
    [
      [
        'warn',
        'cannot read the dev store seed; creating the database with initdb',
        { seed: unreadable, err: 'not a tar file, or a truncated one' },
      ],
    ],
  );
});

test('in memory, from a seed: the migrations are already applied and the event store behaves', async (t) => {
  const seed = await builtSeed();
  const { logger, lines } = recordingLogger();
  const started = performance.now();
  const embedded = await startEmbeddedStore({ seed: seed.file, logger });
  const startMs = performance.now() - started;
  try {
    const { dataSource, store, applied } = await openEvents(embedded);
    try {
      const readyMs = performance.now() - started;
      assert.deepEqual(applied, [], 'the seed has every migration');
      const names = await dataSource.query('SELECT name FROM coffer_migrations ORDER BY id');
      assert.deepEqual(names.map((row: { name: string }) => row.name), allMigrations);
      await checkEventStoreBehaviour(store);
      t.diagnostic(
        `embedded store from a seed: seed written in ${seed.ms.toFixed(0)} ms; ` +
          `started in ${startMs.toFixed(0)} ms, ready in ${readyMs.toFixed(0)} ms`,
      );
    } finally {
      await dataSource.destroy();
    }
    await replaceConnectionAndQuery(embedded.url);
  } finally {
    await embedded.close();
  }
  assert.deepEqual(lines, [], 'no warning');

  // A copy, not the seed itself: what one store wrote is not in the next one.
  const again = await startEmbeddedStore({ seed: seed.file, logger });
  try {
    const pool = new pg.Pool({ connectionString: again.url, max: 1 });
    try {
      assert.deepEqual((await pool.query('SELECT count(*)::int AS n FROM coffer_events')).rows, [{ n: 0 }]);
    } finally {
      await pool.end();
    }
  } finally {
    await again.close();
  }
});

test('with a dataDir: a new one starts from the seed, and events survive close and reopen', async (t) => {
  const seed = await builtSeed();
  const { logger, lines } = recordingLogger();
  const dataDir = join(scratch, 'data');
  let started = performance.now();
  const first = await startEmbeddedStore({ dataDir, seed: seed.file, logger });
  const createMs = performance.now() - started;
  const opened = await openEvents(first);
  assert.deepEqual(opened.applied, [], 'seeded');
  await opened.store.append('mount-table', 0, [
    { type: 'MountEnabled', data: { path: 'kv/' } },
    { type: 'MountEnabled', data: { path: 'secret/' } },
  ]);
  await opened.dataSource.destroy();
  await first.close();

  // Reopened as it is: the seed is for new databases only.
  started = performance.now();
  const second = await startEmbeddedStore({ dataDir, seed: seed.file, logger });
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
  assert.deepEqual(lines, [], 'no warning');
  t.diagnostic(`embedded store with dataDir: new from a seed ${createMs.toFixed(0)} ms, reopened ${reopenMs.toFixed(0)} ms`);
});

test('a seed that cannot be loaded: a warning, and a database from initdb as without one', async () => {
  // Passes for a tar, but is no database: PGlite unpacks it into the dataDir and then fails to start.
  const bogus = join(scratch, 'bogus.tar');
  await writeFile(bogus, tarOf('PG_VERSION', '1\n'));
  const missing = join(scratch, 'missing.tar');
  const { logger, lines } = recordingLogger();
  const dataDir = join(scratch, 'bogus-data');

  const embedded = await startEmbeddedStore({ dataDir, seed: bogus, logger });
  try {
    const { dataSource, applied } = await openEvents(embedded);
    await dataSource.destroy();
    assert.deepEqual(applied, allMigrations, 'a new database, from initdb');
  } finally {
    await embedded.close();
  }
  assert.equal(lines.length, 1);
  assert.equal(lines[0]?.level, 'warn');
  assert.match(lines[0]?.message ?? '', /cannot load the dev store seed/);
  assert.equal((lines[0]?.fields as { seed?: string }).seed, bogus);

  // The dataDir is not new any more: the (missing) seed is not even looked at.
  const reopened = await startEmbeddedStore({ dataDir, seed: missing, logger });
  await reopened.close();
  assert.equal(lines.length, 1);
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

/** A ustar archive of one file. */
function tarOf(name: string, content: string): Uint8Array {
  const data = new TextEncoder().encode(content);
  const header = new Uint8Array(512);
  const put = (offset: number, text: string) => header.set(new TextEncoder().encode(text), offset);
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, '0') + '\0';
  put(0, name);
  put(100, octal(0o600, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(data.length, 12));
  put(136, octal(Math.floor(Date.now() / 1000), 12));
  put(148, ' '.repeat(8));
  put(156, '0');
  put(257, 'ustar\0');
  put(263, '00');
  put(148, octal(header.reduce((sum, byte) => sum + byte, 0), 7) + ' ');
  const padded = Math.ceil(data.length / 512) * 512;
  const tar = new Uint8Array(512 + padded + 1024);
  tar.set(header);
  tar.set(data, 512);
  return tar;
}

test('a new connection starts with no prepared statements, as on Postgres, though PGlite is one session', async () => {
  const embedded = await startEmbeddedStore();
  try {
    for (const round of [1, 2]) {
      const client = new pg.Client({ connectionString: embedded.url });
      await client.connect();
      try {
        // The same name on each new connection: node-postgres prepares it again, which must not collide.
        const { rows } = await client.query({ name: 'coffer_test_statement', text: 'SELECT $1::int + 1 AS n', values: [round] });
        assert.equal(rows[0].n, round + 1);
      } finally {
        await client.end();
      }
    }
  } finally {
    await embedded.close();
  }
});
