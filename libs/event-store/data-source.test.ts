import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { CofferError } from '../contracts/errors.js';
import { connectWithRetry, createDataSource, runMigrations } from './data-source.js';
import { migrations } from './migrations/index.js';
import {
  openTestStore,
  recordingLogger,
  testDatabaseUrl,
  uniqueName,
  type LogLine,
} from './testing.js';

const migrationNames = migrations.map((m) => new m().name as string);

describe('data source', () => {
  test('migrations run once however often and however concurrently they are started', async () => {
    const schema = uniqueName('t');
    const { logger } = recordingLogger();
    const instances = [1, 2].map(() => createDataSource({ url: testDatabaseUrl, schema, poolSize: 2, logger }));
    try {
      await Promise.all(instances.map((dataSource) => dataSource.initialize()));
      const applied = (await Promise.all(instances.map(runMigrations))).flat();
      assert.deepEqual(applied, migrationNames, 'each migration ran exactly once, in order');
      assert.deepEqual(await runMigrations(instances[0]), []);
      assert.deepEqual(await runMigrations(instances[1]), []);
      const [{ count }] = await instances[0].query(`SELECT count(*)::int AS count FROM "${schema}".coffer_migrations`);
      assert.equal(count, migrationNames.length);
    } finally {
      await instances[0].query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await Promise.all(instances.map((dataSource) => dataSource.destroy()));
    }
  });

  test('survives Postgres terminating every connection, idle and checked out, and works again', async () => {
    const applicationName = uniqueName('coffer_test');
    const { logger, lines } = recordingLogger();
    const db = await openTestStore({ poolSize: 3, applicationName, logger });
    const admin = new pg.Client({ connectionString: testDatabaseUrl, application_name: uniqueName('coffer_admin') });
    await admin.connect();
    try {
      const stream = uniqueName('restart');
      await db.store.append(stream, 0, [{ type: 'PolicyWritten', data: { name: 'before' } }]);
      await Promise.all([1, 2, 3].map(() => db.dataSource.query('SELECT pg_sleep(0.05)'))); // fill the pool
      const held = db.dataSource.createQueryRunner();
      await held.connect();

      const { rowCount } = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`,
        [applicationName],
      );
      assert.equal(rowCount, 3);
      await untilNoConnections(admin, applicationName);
      // A query sent before the pool has read the termination notice fails (the connection is dead); the pool drops
      // each dead connection as the notice arrives, and opens new ones for the queries after.
      await untilPoolIsEmpty(db.dataSource);
      await held.release();

      await db.store.append(stream, 1, [{ type: 'PolicyWritten', data: { name: 'after' } }]);
      assert.deepEqual((await db.store.read(stream)).map((event) => event.data), [{ name: 'before' }, { name: 'after' }]);
      assert.ok(
        lines.some((line) => line.level === 'warn' && /lost an idle event store connection/.test(line.message)),
        'the lost idle connections are logged',
      );
    } finally {
      await admin.end();
      await db.drop();
    }
  });

  test('connectWithRetry logs every failed attempt without the password, then gives up as unavailable', async () => {
    const port = await freePort();
    const password = 'hunter2-do-not-log';
    const { logger, lines } = recordingLogger();
    const dataSource = createDataSource({ url: `postgres://postgres:${password}@127.0.0.1:${port}/test`, logger });
    const error = await connectWithRetry(dataSource, { attempts: 3, initialDelayMs: 10, logger }).catch((e) => e);
    assert.ok(error instanceof CofferError);
    assert.equal(error.code, 'unavailable');
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.equal(dataSource.isInitialized, false);
    const attempts = lines.filter((line) => line.level === 'warn' || line.level === 'error');
    assert.deepEqual(
      attempts.map((line) => [line.level, (line.fields as { attempt: number }).attempt]),
      [['warn', 1], ['warn', 2], ['error', 3]],
    );
    assert.ok(!JSON.stringify(lines).includes(password), 'no log line holds the password');
    assert.ok(!error.message.includes(password));
    assert.match(JSON.stringify(attempts[0].fields), /ECONNREFUSED/, 'the log says why');
  });

  test('connectWithRetry connects once the database comes up', async () => {
    const port = await freePort();
    const { hostname, port: upstreamPort } = new URL(testDatabaseUrl);
    let proxy: Server | undefined;
    const { logger, lines } = recordingLogger((line: LogLine) => {
      // The "database" comes up after the first failure.
      if (line.level === 'warn') proxy ??= tcpProxy(port, hostname, Number(upstreamPort || 5432));
    });
    const url = new URL(testDatabaseUrl);
    url.port = String(port);
    const dataSource = createDataSource({ url: url.toString(), logger });
    try {
      await connectWithRetry(dataSource, { attempts: 5, initialDelayMs: 50, logger });
      assert.deepEqual(await dataSource.query('SELECT 1 AS one'), [{ one: 1 }]);
      assert.equal(lines.filter((line) => line.level === 'warn').length, 1);
    } finally {
      if (dataSource.isInitialized) await dataSource.destroy();
      await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
    }
  });
});

async function untilNoConnections(admin: pg.Client, applicationName: string): Promise<void> {
  for (let tries = 0; tries < 200; tries++) {
    const { rows } = await admin.query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    if (rows.length === 0) return;
    await sleep(10);
  }
  assert.fail('the terminated connections never went away');
}

async function untilPoolIsEmpty(dataSource: DataSource): Promise<void> {
  const pool = (dataSource.driver as unknown as { master: pg.Pool }).master;
  for (let tries = 0; tries < 200 && pool.totalCount > 0; tries++) await sleep(10);
  assert.equal(pool.totalCount, 0, 'the pool still holds terminated connections');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function tcpProxy(port: number, upstreamHost: string, upstreamPort: number): Server {
  return createServer((client) => {
    const upstream = connect(upstreamPort, upstreamHost);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  }).listen(port, '127.0.0.1');
}
