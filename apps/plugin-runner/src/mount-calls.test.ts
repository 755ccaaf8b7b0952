/**
 * The runner's bus surface without the bus: mount resolution through (fake) projections, the pool with the real
 * mock-plugin, storage on Postgres.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MountCall } from '#contracts';
import type { CatalogEntry } from '#plugin-catalog';
import { MountCalls } from './mount-calls.js';
import { PluginPool } from './plugin-pool.js';
import { FakeDirectory, PluginDir, catalogEntry, isCode, mountOf, openTestDb, recordingLog, repoRoot, type TestDb } from './testing.js';

function call(mount: string, operation: MountCall['request']['operation'], path: string, data: Record<string, unknown> = {}): MountCall {
  return { mount, request: { operation, path, data, tokenAccessor: 'acc', requestId: 'req-1' } };
}

describe('MountCalls', () => {
  let db: TestDb;
  let pool: PluginPool;
  let calls: MountCalls;
  let mock: CatalogEntry;
  let sealed = false;
  const directory = new FakeDirectory();
  const plugins = new PluginDir();
  const log = recordingLog();

  before(async () => {
    db = await openTestDb((uuid) => directory.mount(uuid)?.config);
    const storage = db.storage();
    mock = directory.addEntry(catalogEntry('mock-plugin', plugins.addMock()));
    pool = new PluginPool({ launch: plugins.launcher(storage, log).launch, log, sealed: () => sealed });
    calls = new MountCalls({ directory, pool, storage, sealed: () => sealed, log });
  });
  after(async () => {
    await pool.close();
    await db.drop();
    plugins.remove();
  });

  test('handle, exists and specialPaths reach the mount’s plugin by uuid', async () => {
    const mount = directory.addMount(mountOf('mock-plugin'));
    assert.deepEqual(await calls.handle(call(mount.uuid, 'create', 'kv/a', { value: 'x' })), { data: { value: 'x' } });
    assert.deepEqual(await calls.handle(call(mount.uuid, 'read', 'kv/a')), { data: { value: 'x', version: 0 } });
    assert.equal(await calls.handle(call(mount.uuid, 'read', 'kv/absent')), null);
    assert.deepEqual(await calls.exists(call(mount.uuid, 'create', 'kv/a')), { checkFound: true, exists: true });
    assert.deepEqual(await calls.exists(call(mount.uuid, 'create', 'kv/b')), { checkFound: true, exists: false });
    assert.deepEqual(await calls.specialPaths({ mount: mount.uuid }), { unauthenticated: ['special'] });
    await assert.rejects(calls.handle(call(mount.uuid, 'create', 'errors/type', { err_type: 3 })), isCode('permission-denied', 'test'));
  });

  test('write: the existence check picks create or update in the plugin, and the verdict for that one holds', async () => {
    const counted = new Map<string, number>();
    const countingPool = new PluginPool({
      launch: plugins.launcher(db.storage(), log).launch,
      log,
      events: { launched() {}, crashed() {}, timedOut() {}, called: (_p, method) => counted.set(method, (counted.get(method) ?? 0) + 1) },
    });
    const countingCalls = new MountCalls({ directory, pool: countingPool, storage: db.storage(), sealed: () => false, log });
    // The same mock bundle made to say protocol 3 in its hello: a plugin from before handle's choose.
    const bundle = readFileSync(join(repoRoot(), 'dist', 'plugins', 'mock-plugin'), 'utf8');
    directory.addEntry(catalogEntry('mock-v3', plugins.add('mock-v3', bundle.replace(/^(#!.*\n)/, "$1process.env.COFFER_PLUGIN_PROTOCOLS = '1,2,3';\n"))));
    const denied = isCode('permission-denied', '1 error occurred:\n\t* permission denied\n\n');
    try {
      for (const [plugin, callsPerWrite] of [['mock-plugin', { handle: 1 }], ['mock-v3', { exists: 1, handle: 1 }]] as const) {
        const mount = directory.addMount(mountOf(plugin));
        const write = (path: string, allowed: { create: boolean; update: boolean }, value = 'x') =>
          countingCalls.write({ ...call(mount.uuid, 'update', path, { value }), allowed });
        const read = async (path: string) => (await countingCalls.handle(call(mount.uuid, 'read', path)))?.data?.value;
        // Update-only cannot create; nothing is written.
        await assert.rejects(write('kv/a', { create: false, update: true }), denied, plugin);
        assert.equal(await read('kv/a'), undefined, plugin);
        counted.clear();
        assert.deepEqual(await write('kv/a', { create: true, update: false }), { operation: 'create', response: { data: { value: 'x' } } }, plugin);
        assert.deepEqual(Object.fromEntries(counted), callsPerWrite, `${plugin}: plugin calls for one write`);
        // Create-only cannot update what exists; the value stays.
        await assert.rejects(write('kv/a', { create: true, update: false }, 'y'), denied, plugin);
        assert.equal(await read('kv/a'), 'x', plugin);
        assert.equal((await write('kv/a', { create: false, update: true }, 'z')).operation, 'update', plugin);
        assert.equal(await read('kv/a'), 'z', plugin);
        // No existence check on the path (errors/*): always an update.
        await assert.rejects(write('errors/type', { create: true, update: false }), denied, plugin);
        await assert.rejects(write('kv/b', { create: false, update: false }), denied, plugin);
        await assert.rejects(countingCalls.write({ ...call(mount.uuid, 'create', 'kv/b'), allowed: { create: true, update: true } }), isCode('invalid-request'));
      }
      const hellos = countingPool.processes().map((p) => p.plugin).sort();
      assert.deepEqual(hellos, ['mock-plugin', 'mock-v3']);
    } finally {
      await countingPool.close();
    }
  });

  test('an auth mount is described to its plugin by its full path', async () => {
    const mount = directory.addMount(mountOf('mock-plugin', { table: 'auth', path: 'mockauth/', options: { a: 'b' } }));
    const response = await calls.handle(call(mount.uuid, 'read', 'init-req'));
    assert.equal(response?.data?.mount_point, 'auth/mockauth/');
  });

  test("a mount this runner's projection has not folded yet is found after one catch-up; an unknown one is unsupported-path", async () => {
    const late = mountOf('mock-plugin');
    directory.pendingMounts.push(late);
    const before = directory.catchUps;
    assert.equal(await calls.handle(call(late.uuid, 'read', 'kv/none')), null);
    assert.equal(directory.catchUps, before + 1);
    const unknown = randomUUID();
    await assert.rejects(calls.handle(call(unknown, 'read', 'kv/x')), isCode('unsupported-path', `no handler for route: no mount with id ${unknown}`));
    assert.equal(directory.catchUps, before + 2, 'exactly one catch-up per miss');
  });

  test('a plugin missing from the catalog is named; a late registration is found after a catch-up', async () => {
    const mount = directory.addMount(mountOf('nope'));
    await assert.rejects(calls.handle(call(mount.uuid, 'read', 'x')), isCode('invalid-request', 'plugin not found in the catalog: nope'));
    const lateMount = directory.addMount(mountOf('late'));
    directory.pendingEntries.push(catalogEntry('late', mock.sha256, { command: 'mock-plugin' }));
    assert.equal(await calls.handle(call(lateMount.uuid, 'read', 'kv/none')), null);
  });

  test('malformed calls are refused before any plugin sees them', async () => {
    const mount = directory.addMount(mountOf('mock-plugin'));
    await assert.rejects(calls.handle({} as MountCall), isCode('invalid-request', 'missing mount'));
    await assert.rejects(calls.handle({ mount: mount.uuid } as MountCall), isCode('invalid-request', 'missing request'));
    await assert.rejects(
      calls.handle({ mount: mount.uuid, request: { operation: 'explode' } } as unknown as MountCall),
      isCode('invalid-request', 'unsupported operation "explode"'),
    );
  });

  test('mount disabled: the plugin cleans up, the storage is deleted, and hearing it twice is harmless', async () => {
    const [gone, kept] = [directory.addMount(mountOf('mock-plugin')), directory.addMount(mountOf('mock-plugin'))];
    await calls.handle(call(gone.uuid, 'create', 'kv/a', { value: '1' }));
    await calls.handle(call(gone.uuid, 'create', 'kv/b', { value: '2' }));
    await calls.handle(call(kept.uuid, 'create', 'kv/a', { value: 'kept' }));
    await calls.mountDisabled({ mount: gone.uuid });
    const rows = await db.dataSource.query(`SELECT key FROM ${db.table} WHERE mount_uuid = $1`, [gone.uuid]);
    assert.deepEqual(rows, []);
    assert.ok(!pool.processes().some((p) => p.mounts.includes(gone.uuid)), 'the process forgot the mount');
    assert.ok(log.lines.some((l) => l.message === 'disabled mount cleaned up' && l.fields.keys === 2 && l.fields.processes === 1));
    await calls.mountDisabled({ mount: gone.uuid });
    await calls.mountDisabled({ mount: 'not-a-uuid' });
    assert.deepEqual(await calls.handle(call(kept.uuid, 'read', 'kv/a')), { data: { value: 'kept', version: 0 } });
  });

  test('reload by plugin or mounts; an empty request reloads nothing', async () => {
    const mount = directory.addMount(mountOf('mock-plugin'));
    await calls.handle(call(mount.uuid, 'read', 'kv/x'));
    const pid = pool.processes()[0].pid;
    assert.equal(await calls.reload({}), 0);
    assert.equal(await calls.reload({ mounts: [mount.uuid] }), 1);
    await calls.handle(call(mount.uuid, 'read', 'kv/x'));
    assert.notEqual(pool.processes()[0].pid, pid);
    assert.equal(await calls.reload({ plugin: 'mock-plugin' }), 1);
  });

  test('sealed: every call is refused before the projections are consulted', async () => {
    const mount = directory.addMount(mountOf('mock-plugin'));
    const before = directory.catchUps;
    sealed = true;
    try {
      await assert.rejects(calls.handle(call(mount.uuid, 'read', 'kv/x')), isCode('sealed', 'Vault is sealed'));
      await assert.rejects(calls.exists(call(randomUUID(), 'read', 'kv/x')), isCode('sealed'));
      await assert.rejects(calls.specialPaths({ mount: mount.uuid }), isCode('sealed'));
    } finally {
      sealed = false;
    }
    assert.equal(directory.catchUps, before);
  });
});
