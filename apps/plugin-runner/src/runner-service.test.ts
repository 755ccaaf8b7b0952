/**
 * The runner as a service on the in-process bus: its projections replayed from real (encrypted) events, its Nest
 * wiring, its bus subjects and its seal hook. The pool's behaviour is tested in plugin-pool.test.ts; this checks
 * the pieces are connected.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { barrierCodec, Keyring } from '#barrier';
import { InProcessBus } from '#bus';
import { readTunables, type CofferConfig } from '#config';
import { runnerSubjects, subjects, type MountCall, type ServiceStatus } from '#contracts';
import { EventStore } from '#event-store';
import type { PluginResponse } from '#plugin-protocol';
import { BarrierLink, BarrierState, type RunningService } from '#runtime';
import { startPluginRunner } from './main.js';
import { HOUR, PluginDir, isCode, openTestDb, type TestDb } from './testing.js';

describe('plugin-runner service on the in-process bus', () => {
  const plugins = new PluginDir();
  const bus = new InProcessBus();
  const log = pino({ level: 'silent' });
  const barrier = new BarrierState(log);
  let db: TestDb;
  let events: EventStore;
  let runner: RunningService;
  let sha256: string;
  const uuid = randomUUID();
  const savedCacheDir = process.env.COFFER_PLUGIN_CACHE_DIR;

  const mountCall = (operation: MountCall['request']['operation'], path: string, data: Record<string, unknown> = {}): MountCall => ({
    mount: uuid,
    request: { operation, path, data, tokenAccessor: '', requestId: 'r' },
  });
  const handle = (call: MountCall) => bus.request<PluginResponse | null>(runnerSubjects.handle, call, { timeoutMs: 10_000 });

  before(async () => {
    db = await openTestDb();
    sha256 = plugins.addMock();
    process.env.COFFER_PLUGIN_CACHE_DIR = plugins.cacheDir;
    await barrier.unseal(Keyring.create());
    events = new EventStore(db.dataSource, barrierCodec(barrier.current));
    await events.append('plugin-catalog', 0, [
      {
        type: 'PluginRegistered',
        data: { v: 1, type: 'secret', name: 'mock-plugin', version: '', sha256, command: 'mock-plugin', args: [], env: [] },
      },
    ]);
    const config = {
      pluginDirectory: plugins.dir,
      defaultLeaseTtl: 768 * HOUR,
      maxLeaseTtl: 768 * HOUR,
      logLevel: 'info',
      services: ['plugin-runner'],
      listeners: [],
      sources: [],
    } as unknown as CofferConfig;
    runner = await startPluginRunner({
      service: 'plugin-runner',
      instance: 'plugin-runner-test',
      bus,
      dataSource: db.dataSource,
      tunables: readTunables(),
      events,
      barrier,
      barrierLink: new BarrierLink(barrier, bus, log),
      config,
      storageType: 'postgresql',
      log,
      startedAt: new Date(),
      catchUpIntervalMs: 60_000,
    });
    // Enabled after the runner replayed, and never announced: the first call must catch up by itself.
    await events.append('mount-table', 0, [
      {
        type: 'MountEnabled',
        data: {
          v: 1,
          table: 'secret',
          path: 'mock/',
          type: 'mock-plugin',
          pluginName: 'mock-plugin',
          uuid,
          accessor: 'mock-plugin_12345678',
          description: '',
          config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, forceNoCache: false, pluginVersion: '' },
          options: null,
          local: false,
          sealWrap: false,
        },
      },
    ]);
  });

  after(async () => {
    await runner?.close();
    await bus.close();
    await db.drop();
    plugins.remove();
    if (savedCacheDir === undefined) delete process.env.COFFER_PLUGIN_CACHE_DIR;
    else process.env.COFFER_PLUGIN_CACHE_DIR = savedCacheDir;
  });

  test('handle, exists and special paths over the bus, for a mount the runner learnt of by catching up', async () => {
    assert.deepEqual(await handle(mountCall('create', 'kv/a', { value: 'v' })), { data: { value: 'v' } });
    assert.deepEqual(await handle(mountCall('read', 'kv/a')), { data: { value: 'v', version: 0 } });
    assert.deepEqual(await bus.request(runnerSubjects.exists, mountCall('create', 'kv/a')), { checkFound: true, exists: true });
    assert.deepEqual(await bus.request(runnerSubjects.specialPaths, { mount: uuid }), { unauthenticated: ['special'] });
    await assert.rejects(handle({ ...mountCall('read', 'x'), mount: randomUUID() }), isCode('unsupported-path', /^no handler for route/));
    const [row] = await db.dataSource.query(`SELECT value FROM ${db.table} WHERE mount_uuid = $1 AND key = 'kv/a'`, [uuid]);
    assert.ok(row && !row.value.toString('latin1').includes('"v"') && row.value.length > 16, 'stored encrypted');
  });

  test('status reports both projections', async () => {
    const status = await bus.request<ServiceStatus>(subjects.status('plugin-runner'), null);
    assert.deepEqual(status.projections, { 'mount-table': { version: 1, entries: 1 }, 'plugin-catalog': { version: 1, entries: 1 } });
    assert.equal(status.sealed, false);
  });

  test('seal stops the plugin processes: after unseal a fresh process serves the mount', async () => {
    await handle(mountCall('update', 'internal', { value: 'changed' }));
    assert.deepEqual(await handle(mountCall('read', 'internal')), { data: { value: 'changed' } });
    const bytes = barrier.keyringBytes()!;
    await barrier.seal();
    await assert.rejects(handle(mountCall('read', 'kv/a')), isCode('sealed', 'Vault is sealed'));
    await barrier.unseal(Keyring.parse(bytes));
    assert.deepEqual(await handle(mountCall('read', 'internal')), { data: { value: 'bar' } }, 'setup ran on a new process');
    assert.deepEqual(await handle(mountCall('read', 'kv/a')), { data: { value: 'v', version: 0 } });
  });

  test('a reload broadcast replaces the process; a mount-disabled broadcast deletes the storage', async () => {
    await handle(mountCall('update', 'internal', { value: 'changed' }));
    bus.publish(runnerSubjects.reload, { plugin: 'mock-plugin' });
    await bus.flush();
    let value: unknown;
    for (const deadline = Date.now() + 3_000; Date.now() < deadline; ) {
      value = (await handle(mountCall('read', 'internal')))?.data?.value;
      if (value === 'bar') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(value, 'bar');

    bus.publish(runnerSubjects.mountDisabled, { mount: uuid });
    await bus.flush();
    let rows: unknown[] = [];
    for (const deadline = Date.now() + 3_000; Date.now() < deadline; ) {
      rows = await db.dataSource.query(`SELECT key FROM ${db.table} WHERE mount_uuid = $1`, [uuid]);
      if (rows.length === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(rows, []);
  });
});
