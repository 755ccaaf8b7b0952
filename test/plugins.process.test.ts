import { createHash } from 'node:crypto';
import { copyFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CofferError } from '#contracts';
import { launchPlugin, type MountInfo, type PluginProcess, type PluginRequest, type StorageHandler } from '#plugin-protocol';
import { createLogger } from '#runtime';
import { REPO_ROOT } from './support/paths.js';

/** Storage as the runner serves it, in memory, scoped by mount id: what a plugin stored, per mount. */
function memoryStorage(): StorageHandler & { data: Map<string, Buffer> } {
  const data = new Map<string, Buffer>();
  const k = (mount: string, key: string) => `${mount}\u0000${key}`;
  return {
    data,
    get: async (m, key) => data.get(k(m, key)) ?? null,
    put: async (m, key, value) => void data.set(k(m, key), Buffer.from(value)),
    delete: async (m, key) => void data.delete(k(m, key)),
    list: async (m, prefix) => {
      const keys = new Set<string>();
      for (const full of data.keys()) {
        const [mount, key] = full.split('\u0000');
        if (mount !== m || !key.startsWith(prefix)) continue;
        const rest = key.slice(prefix.length);
        keys.add(rest.includes('/') ? rest.slice(0, rest.indexOf('/') + 1) : rest);
      }
      return [...keys].sort();
    },
    info: async () => ({ defaultLeaseTtl: 3600, maxLeaseTtl: 7200, version: '0.1.0' }),
  };
}

const mount = (id: string, type: string): MountInfo => ({
  id,
  path: `${id}/`,
  accessor: `${type}_0000${id.slice(-4)}`,
  type,
  config: { defaultLeaseTtl: 3600, maxLeaseTtl: 7200 },
  options: {},
});

const request = (operation: PluginRequest['operation'], path: string, data: Record<string, unknown> = {}): PluginRequest => ({
  operation,
  path,
  data,
  tokenAccessor: '',
  requestId: 'test',
});

/** The built plugin bundles, each copied alone into a plugin directory and run as a real process. */
describe('built plugins as real processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-plugins-'));
  const cacheDir = join(dir, '.cache');
  const log = createLogger('plugin-test', 'silent');

  async function launch(name: string, storage: StorageHandler): Promise<PluginProcess> {
    copyFileSync(join(REPO_ROOT, 'dist/plugins', name), join(dir, name));
    chmodSync(join(dir, name), 0o755);
    const sha256 = createHash('sha256').update(readFileSync(join(dir, name))).digest('hex');
    return launchPlugin({ name, pluginDirectory: dir, command: name, sha256, cacheDir, log, storage, env: ['PLUGIN_COLOUR=green'] });
  }

  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('mock-plugin', () => {
    let plugin: PluginProcess;
    const storage = memoryStorage();
    const handle = (m: string, r: PluginRequest) => plugin.call('handle', { mount: m, request: r });

    before(async () => {
      plugin = await launch('mock-plugin', storage);
      await plugin.call('setup', { mount: mount('m1', 'my-mock-plugin') });
      await plugin.call('setup', { mount: mount('m2', 'my-mock-plugin') });
    });
    after(async () => {
      if (plugin.alive) await plugin.shutdown();
    });

    it('says hello as Vault\'s mock plugin', () => {
      assert.deepEqual(
        { type: plugin.hello.type, name: plugin.hello.name, version: plugin.hello.version },
        { type: 'secret', name: 'mock-plugin', version: 'v0.0.0+mock' },
      );
    });

    it('kv: exists, create, read, list, update, delete — stored through the host, per mount', async () => {
      assert.deepEqual(await plugin.call('exists', { mount: 'm1', request: request('update', 'kv/foo') }), { checkFound: true, exists: false });
      assert.deepEqual((await handle('m1', request('create', 'kv/foo', { value: 'bar' }))).response?.data, { value: 'bar' });
      assert.deepEqual(await plugin.call('exists', { mount: 'm1', request: request('update', 'kv/foo') }), { checkFound: true, exists: true });
      assert.deepEqual((await handle('m1', request('read', 'kv/foo'))).response?.data, { value: 'bar', version: 0 });
      assert.equal(storage.data.get('m1\u0000kv/foo')?.toString(), 'bar', 'the value went to the host\'s storage, under its mount');
      assert.equal((await handle('m2', request('read', 'kv/foo'))).response, null, 'another mount does not see it');
      await handle('m1', request('create', 'kv/zed', { value: 'z' }));
      assert.deepEqual((await handle('m1', request('list', 'kv/'))).response?.data, { keys: ['foo', 'zed'] });
      await handle('m1', request('update', 'kv/foo', { value: 'baz' }));
      assert.deepEqual((await handle('m1', request('read', 'kv/foo'))).response?.data, { value: 'baz', version: 0 });
      const warned = await handle('m1', request('update', 'kv/foo', { value: 'q', extra: 1, other: 2 }));
      assert.deepEqual(warned.response?.warnings, ['Endpoint ignored these unrecognized parameters: [extra other]']);
      await handle('m1', request('delete', 'kv/foo'));
      assert.equal((await handle('m1', request('read', 'kv/foo'))).response, null);
    });

    it('internal, special, raw, env and init-req', async () => {
      assert.deepEqual((await handle('m1', request('read', 'internal'))).response?.data, { value: 'bar' });
      await handle('m1', request('update', 'internal', { value: 'changed' }));
      assert.deepEqual((await handle('m1', request('read', 'internal'))).response?.data, { value: 'changed' });
      await plugin.call('invalidate', { mount: 'm1', key: 'internal' });
      assert.notDeepEqual((await handle('m1', request('read', 'internal'))).response?.data, { value: 'changed' });
      assert.deepEqual((await plugin.call('specialPaths', {})).unauthenticated, ['special']);
      assert.deepEqual((await handle('m1', request('read', 'special'))).response?.data, { data: 'foo' });
      const raw = (await handle('m1', request('read', 'raw'))).response?.raw;
      assert.equal(raw?.status, 200);
      assert.equal(raw?.contentType, 'text/plain');
      assert.equal(Buffer.from(raw!.bodyBase64, 'base64').toString(), 'Response');
      assert.deepEqual((await handle('m1', request('read', 'env/PLUGIN_COLOUR'))).response?.data, { key: 'green' });
      // Go's os.Getenv answers "" for an unset variable, and so does the mock.
      assert.ok(process.env.HOME, 'the server has HOME');
      assert.deepEqual((await handle('m1', request('read', 'env/HOME'))).response?.data, { key: '' }, 'the server\'s environment stays out');
      const init = (await handle('m1', request('read', 'init-req'))).response?.data;
      assert.equal(init?.mount_accessor, 'my-mock-plugin_0000m1');
    });

    it('errors/type maps each err_type to an error kind, and unknown paths and verbs are refused', async () => {
      const kinds: Record<number, string> = { 5: 'unsupported-operation', 6: 'unsupported-path', 7: 'invalid-request', 8: 'permission-denied' };
      for (const [errType, code] of Object.entries(kinds)) {
        await assert.rejects(handle('m1', request('update', 'errors/type', { err_type: Number(errType) })), (e: unknown) => {
          assert.ok(e instanceof CofferError);
          assert.equal(e.code, code, `err_type ${errType}`);
          return true;
        });
      }
      await assert.rejects(handle('m1', request('read', 'nowhere')), (e: unknown) => e instanceof CofferError && e.code === 'unsupported-path');
      await assert.rejects(handle('m1', request('delete', 'special')), (e: unknown) => e instanceof CofferError && e.code === 'unsupported-operation');
    });

    it('errors/kill: the process dies and the in-flight call fails clearly', async () => {
      await assert.rejects(handle('m1', request('read', 'errors/kill')), (e: unknown) => {
        assert.ok(e instanceof CofferError);
        assert.equal(e.code, 'plugin-failed');
        assert.match(e.message, /mock-plugin/);
        return true;
      });
      await plugin.exited;
      assert.equal(plugin.alive, false);
    });
  });

  describe('userpass', () => {
    let plugin: PluginProcess;
    const storage = memoryStorage();
    const handle = (r: PluginRequest) => plugin.call('handle', { mount: 'up', request: r });

    before(async () => {
      plugin = await launch('userpass', storage);
      await plugin.call('setup', { mount: mount('up', 'userpass') });
    });
    after(async () => {
      if (plugin.alive) await plugin.shutdown();
    });

    it('is an auth method whose login is unauthenticated', async () => {
      assert.equal(plugin.hello.type, 'auth');
      assert.ok((await plugin.call('specialPaths', {})).unauthenticated.some((p) => p.startsWith('login')));
    });

    it('keeps users with a slow salted hash, never the password', async () => {
      await handle(request('create', 'users/alice', { password: 'correct horse', policies: 'reader,writer', ttl: '1h' }));
      const stored = [...storage.data.values()].map((v) => v.toString()).join('\n');
      assert.doesNotMatch(stored, /correct horse/);
      const user = (await handle(request('read', 'users/alice'))).response?.data ?? {};
      assert.deepEqual(user.policies, ['reader', 'writer']);
      assert.equal(JSON.stringify(user).includes('correct horse'), false);
      assert.deepEqual((await handle(request('list', 'users/'))).response?.data, { keys: ['alice'] });
    });

    it('logs a user in with an auth object carrying the policies, and refuses a wrong password or unknown user alike', async () => {
      const ok = (await handle(request('update', 'login/alice', { password: 'correct horse' }))).response;
      assert.deepEqual(ok?.auth?.policies, ['reader', 'writer']);
      assert.equal(ok?.auth?.metadata?.username, 'alice');
      assert.equal(ok?.auth?.ttl, 3600);
      for (const [name, password] of [['alice', 'wrong'], ['mallory', 'correct horse']]) {
        await assert.rejects(handle(request('update', `login/${name}`, { password })), (e: unknown) => {
          assert.ok(e instanceof CofferError);
          assert.equal(e.code, 'invalid-request');
          assert.equal(e.message, 'invalid username or password');
          return true;
        });
      }
      await handle(request('delete', 'users/alice'));
      await assert.rejects(handle(request('update', 'login/alice', { password: 'correct horse' })));
    });
  });
});
