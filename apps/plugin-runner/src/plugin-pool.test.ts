/**
 * The pool against real processes: the built mock-plugin bundle and small script plugins, copied into a temporary
 * plugin directory and hashed, with storage on Postgres (a schema of this file's own).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CatalogEntry } from '#plugin-catalog';
import type { PluginRequest } from '#plugin-protocol';
import type { Mount } from '#mount-table';
import { mountInfo } from './mount-calls.js';
import { PluginPool, type PluginPoolOptions, type PoolTarget } from './plugin-pool.js';
import type { PluginStorage } from './plugin-storage.js';
import {
  PluginDir,
  alive,
  catalogEntry,
  isCode,
  mountOf,
  openTestDb,
  recordingLog,
  scriptPlugin,
  waitFor,
  type TestDb,
} from './testing.js';

function request(operation: PluginRequest['operation'], path: string, data: Record<string, unknown> = {}): PluginRequest {
  return { operation, path, data, tokenAccessor: '', requestId: 'test' };
}

function target(mount: Mount, entry: CatalogEntry): PoolTarget {
  return { mount: mountInfo(mount), entry };
}

describe('PluginPool with real plugin processes', () => {
  let db: TestDb;
  let storage: PluginStorage;
  const plugins = new PluginDir();
  const mounts = new Map<string, Mount>();
  let mock: CatalogEntry;
  let script: CatalogEntry;
  let single: CatalogEntry;
  const pools: PluginPool[] = [];

  before(async () => {
    db = await openTestDb((uuid) => mounts.get(uuid)?.config);
    storage = db.storage();
    mock = catalogEntry('mock-plugin', plugins.addMock());
    script = catalogEntry('script', plugins.add('script', scriptPlugin('script')));
    single = catalogEntry('single', plugins.add('single', scriptPlugin('single', { multiplex: false })));
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await db.drop();
    plugins.remove();
  });

  function newPool(options: Partial<PluginPoolOptions> = {}) {
    const log = recordingLog();
    const launcher = plugins.launcher(storage, log);
    let sealed = false;
    const pool = new PluginPool({ launch: launcher.launch, log, sealed: () => sealed, ...options });
    pools.push(pool);
    return {
      pool,
      log,
      launches: launcher.launches,
      seal: () => (sealed = true),
      unseal: () => (sealed = false),
    };
  }

  function mountFor(entry: CatalogEntry, more: Partial<Mount> = {}): Mount {
    const mount = mountOf(entry.name, more);
    mounts.set(mount.uuid, mount);
    return mount;
  }

  async function handle(pool: PluginPool, mount: Mount, entry: CatalogEntry, req: PluginRequest) {
    return (await pool.call(target(mount, entry), 'handle', { mount: mount.uuid, request: req })).response;
  }

  test('two mounts of one plugin share one process; each is set up once, and their storage stays apart', async () => {
    const { pool, launches } = newPool();
    const [a, b] = [mountFor(mock), mountFor(mock)];
    await Promise.all([
      handle(pool, a, mock, request('create', 'kv/shared', { value: 'from a' })),
      handle(pool, b, mock, request('create', 'kv/shared', { value: 'from b' })),
    ]);
    assert.equal(launches.get('mock-plugin'), 1, 'concurrent first calls share one launch');
    const processes = pool.processes();
    assert.equal(processes.length, 1);
    assert.deepEqual(processes[0].mounts, [a.uuid, b.uuid].sort());
    assert.deepEqual((await handle(pool, a, mock, request('read', 'kv/shared')))?.data, { value: 'from a', version: 0 });
    assert.deepEqual((await handle(pool, b, mock, request('read', 'kv/shared')))?.data, { value: 'from b', version: 0 });
    assert.deepEqual((await handle(pool, a, mock, request('read', 'init-req')))?.data, {
      mount_point: a.path,
      mount_type: 'mock-plugin',
      mount_accessor: a.accessor,
      backend_uuid: a.uuid,
      mount_running_version: 'v0.0.0+mock',
    });
    const raw = await db.dataSource.query(`SELECT mount_uuid, key FROM ${db.table} WHERE key = 'kv/shared' ORDER BY mount_uuid`);
    assert.equal(raw.length, 2);
    assert.deepEqual(await pool.specialPaths(target(a, mock)), ['special']);
    const exists = await pool.call(target(a, mock), 'exists', { mount: a.uuid, request: request('create', 'kv/shared') });
    assert.deepEqual(exists, { checkFound: true, exists: true });
  });

  test('a plugin that does not multiplex gets one process per mount', async () => {
    const { pool, launches } = newPool();
    const [a, b] = [mountFor(single), mountFor(single)];
    const [ra, rb] = await Promise.all([handle(pool, a, single, request('read', 'pid')), handle(pool, b, single, request('read', 'pid'))]);
    assert.notEqual(ra?.data?.pid, rb?.data?.pid);
    assert.deepEqual(ra?.data?.setups, [a.uuid]);
    assert.deepEqual(rb?.data?.setups, [b.uuid]);
    assert.equal(launches.get('single'), 2);
    const again = await handle(pool, a, single, request('read', 'pid'));
    assert.equal(again?.data?.pid, ra?.data?.pid, 'each mount keeps its own process');
    assert.equal(pool.processes().length, 2);
  });

  test('a crash fails the call with a 5xx naming the plugin; the next call relaunches, sets up again and sees the stored data', async () => {
    const { pool, launches } = newPool();
    const mount = mountFor(mock);
    await handle(pool, mount, mock, request('create', 'kv/survives', { value: 'still here' }));
    await handle(pool, mount, mock, request('update', 'internal', { value: 'changed' }));
    const pid = pool.processes()[0].pid;
    await assert.rejects(handle(pool, mount, mock, request('read', 'errors/kill')), isCode('plugin-failed', /^plugin mock-plugin exited unexpectedly \(code 1\)$/));
    assert.deepEqual(pool.processes(), [], 'the dead process is forgotten at once');
    assert.deepEqual((await handle(pool, mount, mock, request('read', 'kv/survives')))?.data, { value: 'still here', version: 0 });
    assert.deepEqual((await handle(pool, mount, mock, request('read', 'internal')))?.data, { value: 'bar' }, 'setup ran on the new process');
    assert.notEqual(pool.processes()[0].pid, pid);
    assert.equal(launches.get('mock-plugin'), 2);
  });

  test('a crash loop backs off with a growing delay, and says so', async () => {
    const { pool, log, launches } = newPool({ crashLoop: { crashes: 3, windowMs: 30_000, firstDelayMs: 1_000, maxDelayMs: 60_000 } });
    const mount = mountFor(mock);
    const crash = () => assert.rejects(handle(pool, mount, mock, request('read', 'errors/kill')), isCode('plugin-failed', /exited unexpectedly/));
    for (let i = 0; i < 3; i++) await crash();
    await assert.rejects(handle(pool, mount, mock, request('read', 'kv/x')), isCode('plugin-failed', 'plugin mock-plugin is crash-looping; next attempt in 1 s'));
    assert.equal(launches.get('mock-plugin'), 3, 'nothing is launched while refused');
    const loops = () => log.lines.filter((l) => l.level === 'warn' && /is crash-looping/.test(l.message));
    assert.equal(loops().length, 1);
    assert.equal(loops()[0].fields.delayMs, 1_000);

    await new Promise((r) => setTimeout(r, 1_050));
    assert.equal(await handle(pool, mount, mock, request('read', 'kv/x')), null, 'after the delay, the next call launches again');
    for (let i = 0; i < 3; i++) await crash();
    await assert.rejects(handle(pool, mount, mock, request('read', 'kv/x')), isCode('plugin-failed', 'plugin mock-plugin is crash-looping; next attempt in 2 s'));
    assert.equal(loops()[1].fields.delayMs, 2_000, 'the second loop waits twice as long');

    const otherMount = mountFor(script);
    assert.equal(typeof (await handle(pool, otherMount, script, request('read', 'pid')))?.data?.pid, 'number', 'other plugins are not held back');
  });

  test('a hung call times out and its process is replaced; the next call gets a fresh one', async () => {
    const { pool, log } = newPool({ callTimeoutMs: 300 });
    const mount = mountFor(script);
    const first = (await handle(pool, mount, script, request('read', 'pid')))?.data?.pid as number;
    await assert.rejects(handle(pool, mount, script, request('read', 'hang')), isCode('plugin-failed', 'plugin script did not answer handle within 300 ms'));
    await waitFor(() => !alive(first), 3_000, 'the hung process to be killed');
    assert.ok(log.lines.some((l) => l.message === 'plugin call timed out; process replaced'));
    const second = (await handle(pool, mount, script, request('read', 'pid')))?.data;
    assert.notEqual(second?.pid, first);
    assert.deepEqual(second?.setups, [mount.uuid]);
  });

  test('a setup that hangs fails the call and the process is replaced', async () => {
    const { pool } = newPool({ callTimeoutMs: 300 });
    const hangs = catalogEntry('hang-setup', plugins.add('hang-setup', scriptPlugin('hang-setup', { hangSetup: true })));
    const mount = mountFor(hangs);
    await assert.rejects(handle(pool, mount, hangs, request('read', 'pid')), isCode('plugin-failed', 'plugin hang-setup did not answer setup within 300 ms'));
    assert.deepEqual(pool.processes(), []);
  });

  test('an idle process is shut down; the next call relaunches it', async () => {
    const { pool, log } = newPool({ idleMs: 250 });
    const mount = mountFor(script);
    const pid = (await handle(pool, mount, script, request('read', 'pid')))?.data?.pid as number;
    await handle(pool, mount, script, request('read', 'sleep', { ms: 350 }));
    assert.ok(alive(pid), 'a call in flight longer than the idle time does not count as idle');
    await waitFor(() => !alive(pid), 3_000, 'the idle process to exit');
    assert.deepEqual(pool.processes(), []);
    assert.ok(log.lines.some((l) => l.message === 'stopping plugin process' && l.fields.reason === 'idle'));
    assert.notEqual((await handle(pool, mount, script, request('read', 'pid')))?.data?.pid, pid);
  });

  test('seal stops every process; nothing is launched while sealed; after unseal calls work again', async () => {
    const { pool, seal, unseal } = newPool();
    const [m1, m2] = [mountFor(mock), mountFor(script)];
    await handle(pool, m1, mock, request('create', 'kv/s', { value: 'v' }));
    const scriptPid = (await handle(pool, m2, script, request('read', 'pid')))?.data?.pid as number;
    const pids = pool.processes().map((p) => p.pid);
    assert.equal(pids.length, 2);
    const slow = assert.rejects(handle(pool, m2, script, request('read', 'sleep', { ms: 5_000 })), isCode('plugin-failed', 'plugin script was stopped'));
    await waitFor(() => pool.processes().some((p) => p.inFlight > 0), 3_000, 'the slow call to be in flight');
    await new Promise((r) => setTimeout(r, 50));
    seal();
    await pool.stopAll('sealed');
    await slow;
    for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} exited`);
    assert.deepEqual(pool.processes(), []);
    await assert.rejects(handle(pool, m1, mock, request('read', 'kv/s')), isCode('sealed', 'Vault is sealed'));
    unseal();
    assert.deepEqual((await handle(pool, m1, mock, request('read', 'kv/s')))?.data, { value: 'v', version: 0 });
    assert.notEqual((await handle(pool, m2, script, request('read', 'pid')))?.data?.pid, scriptPid);
  });

  test('reload by plugin: calls in flight finish, the process then exits, the next call starts a fresh one', async () => {
    const { pool } = newPool();
    const [a, b] = [mountFor(script), mountFor(mock)];
    const pid = (await handle(pool, a, script, request('read', 'pid')))?.data?.pid as number;
    await handle(pool, b, mock, request('read', 'kv/x'));
    const mockPid = pool.processes().find((p) => p.plugin === 'mock-plugin')!.pid;
    const inFlight = handle(pool, a, script, request('read', 'sleep', { ms: 400 }));
    await new Promise((r) => setTimeout(r, 50));
    const reloaded = pool.reload({ plugin: 'script' });
    const fresh = (await handle(pool, a, script, request('read', 'pid')))?.data?.pid;
    assert.notEqual(fresh, pid, 'a call during the drain already goes to a new process');
    assert.deepEqual((await inFlight)?.data, { pid, slept: 400 }, 'the in-flight call finished on the old process');
    assert.equal(await reloaded, 1);
    await waitFor(() => !alive(pid), 3_000, 'the old process to exit');
    assert.ok(alive(mockPid), 'other plugins are untouched');
  });

  test('reload by mounts: the processes serving those mounts are replaced, others are not', async () => {
    const { pool } = newPool();
    const [a, b] = [mountFor(single), mountFor(single)];
    const pa = (await handle(pool, a, single, request('read', 'pid')))?.data?.pid as number;
    const pb = (await handle(pool, b, single, request('read', 'pid')))?.data?.pid as number;
    assert.equal(await pool.reload({ mounts: [a.uuid] }), 1);
    await waitFor(() => !alive(pa), 3_000, 'the reloaded process to exit');
    assert.ok(alive(pb));
    assert.notEqual((await handle(pool, a, single, request('read', 'pid')))?.data?.pid, pa);
    assert.equal((await handle(pool, b, single, request('read', 'pid')))?.data?.pid, pb);
  });

  test("a hash mismatch or a missing file fails that plugin's mounts with a clear error, backs off like a crash; other mounts keep working", async () => {
    const { pool, launches } = newPool({ crashLoop: { crashes: 3, windowMs: 30_000, firstDelayMs: 60_000, maxDelayMs: 60_000 } });
    const good = mountFor(mock);
    await handle(pool, good, mock, request('create', 'kv/k', { value: 'ok' }));
    const tampered = catalogEntry('tampered', '0'.repeat(64), { command: 'mock-plugin' });
    const missing = catalogEntry('missing', mock.sha256, { command: 'not-there' });
    const [t, t2, m] = [mountFor(tampered), mountFor(tampered), mountFor(missing)];
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        handle(pool, t, tampered, request('read', 'kv/k')),
        isCode('plugin-failed', 'plugin tampered failed to start: checksums did not match'),
        'each launch says why',
      );
    }
    const launched = launches.get('tampered');
    // Start failures count as crashes: the fourth call is refused at once, with the reason, and launches nothing.
    await assert.rejects(
      handle(pool, t2, tampered, request('read', 'kv/k')),
      isCode('plugin-failed', /^plugin tampered failed to start: checksums did not match; next attempt in 60 s$/),
    );
    assert.equal(launches.get('tampered'), launched, 'nothing is launched while backing off');
    await assert.rejects(
      handle(pool, m, missing, request('read', 'kv/k')),
      isCode('plugin-failed', 'plugin missing failed to start: error while validating the command path: lstat not-there: no such file or directory'),
      "one plugin's backoff does not hold up another plugin",
    );
    assert.deepEqual((await handle(pool, good, mock, request('read', 'kv/k')))?.data, { value: 'ok', version: 0 }, 'nor another mount');
    assert.deepEqual(pool.processes().map((p) => p.plugin), ['mock-plugin']);
  });

  test('a tuned mount is set up again with its new facts', async () => {
    const { pool } = newPool();
    const mount = mountFor(mock);
    await handle(pool, mount, mock, request('update', 'internal', { value: 'kept' }));
    assert.deepEqual((await handle(pool, mount, mock, request('read', 'internal')))?.data, { value: 'kept' }, 'same facts: no second setup');
    const tuned = { ...mount, config: { ...mount.config, defaultLeaseTtl: 60 } };
    assert.deepEqual((await handle(pool, tuned, mock, request('read', 'internal')))?.data, { value: 'bar' }, 'setup ran again');
  });

  test("cleanup runs the plugin's cleanup for the mount and forgets it; a process that served only it stops", async () => {
    const { pool } = newPool();
    const [a, b] = [mountFor(mock), mountFor(mock)];
    await handle(pool, a, mock, request('read', 'kv/x'));
    await handle(pool, b, mock, request('read', 'kv/x'));
    assert.equal(await pool.cleanup(a.uuid), 1);
    assert.deepEqual(pool.processes()[0].mounts, [b.uuid]);
    assert.equal(await pool.cleanup(a.uuid), 0, 'nothing left to clean on this runner');

    const s = mountFor(single);
    const pid = (await handle(pool, s, single, request('read', 'pid')))?.data?.pid as number;
    assert.equal(await pool.cleanup(s.uuid), 1);
    await waitFor(() => !alive(pid), 3_000, 'the single-mount process to exit');
  });
});
