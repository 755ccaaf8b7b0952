import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, TEST_DATABASE_URL } from './support/cluster.js';
import { eventually, rawRequest } from './support/http.js';
import { REPO_ROOT } from './support/paths.js';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

async function queryIn(database: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const { default: pg } = await import('pg');
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Vault's plugin guide over HTTP against the services as separate processes (two gateways, two runners), then
 * what the guide does not show: restarts, an auth plugin, a broken plugin beside a good one, a race, a dead runner.
 */
describe('the plugin guide, end to end', () => {
  let cluster: Cluster;
  let keys: string[];
  let root: Record<string, string>;
  let B: string;

  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = root, base?: string) =>
    fetch(`${base ?? cluster.url}/v1/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const install = (source: string, name: string) => {
    copyFileSync(join(REPO_ROOT, 'dist/plugins', source), join(cluster.dir, name));
    chmodSync(join(cluster.dir, name), 0o755);
    return sha256(join(cluster.dir, name));
  };
  const mountUuid = async (path: string) =>
    ((await (await call('GET', 'sys/mounts')).json()) as { data: Record<string, { uuid: string }> }).data[path].uuid;

  before(async () => {
    // A runner killed mid-call leaves its callers waiting this long (the processes inherit it).
    process.env.COFFER_PLUGIN_CALL_TIMEOUT_MS = '5000';
    cluster = await Cluster.create();
    await cluster.startAll();
    await cluster.start('plugin-runner', 'plugin-runner-2');
    await cluster.start('gateway', 'gateway-b');
    B = cluster.urlOf('gateway-b');
    const init = await cluster.initAndUnseal(3, 2);
    keys = init.keys;
    root = { 'x-vault-token': init.rootToken };
  });

  after(async () => {
    await cluster?.stop();
  });

  it('registers, enables, writes, reads, lists, deletes and disables as the guide does', async () => {
    const sha = install('mock-plugin', 'my-mock-plugin');
    assert.equal((await call('PUT', 'sys/plugins/catalog/my-mock-plugin', { sha_256: sha, command: 'my-mock-plugin' })).status, 204);
    assert.equal((await call('POST', 'sys/mounts/my-secrets-plugin', { type: 'plugin', plugin_name: 'my-mock-plugin' })).status, 204);

    const wrong = await call('POST', 'sys/auth/my-auth-plugin', { type: 'plugin', plugin_name: 'my-mock-plugin' });
    assert.equal(wrong.status, 400);
    assert.deepEqual(await wrong.json(), { errors: ["cannot mount 'my-mock-plugin' of type 'secret' as an auth method"] });

    const written = await call('PUT', 'my-secrets-plugin/kv/foo', { value: 'bar' });
    assert.equal(written.status, 200);
    const envelope = await written.json();
    assert.deepEqual(envelope.data, { value: 'bar' });
    assert.equal(envelope.mount_type, 'my-mock-plugin');

    assert.deepEqual((await (await call('GET', 'my-secrets-plugin/kv/foo', undefined, root, B)).json()).data, { value: 'bar', version: 0 });
    const listed = await rawRequest(cluster.url, 'LIST', '/v1/my-secrets-plugin/kv', undefined, root);
    assert.deepEqual(listed.json().data, { keys: ['foo'] });
    assert.equal((await call('DELETE', 'my-secrets-plugin/kv/foo')).status, 204);
    const gone = await call('GET', 'my-secrets-plugin/kv/foo');
    assert.equal(gone.status, 404);
    assert.deepEqual(await gone.json(), { errors: [] });

    await call('PUT', 'my-secrets-plugin/kv/left', { value: 'behind' });
    const uuid = await mountUuid('my-secrets-plugin/');
    assert.ok((await queryIn(cluster.databaseName, 'SELECT 1 FROM coffer_plugin_storage WHERE mount_uuid = $1', [uuid])).length > 0);
    assert.equal((await call('DELETE', 'sys/mounts/my-secrets-plugin')).status, 204);
    const after = await call('GET', 'my-secrets-plugin/kv/left');
    assert.equal(after.status, 404);
    await eventually(async () =>
      assert.equal((await queryIn(cluster.databaseName, 'SELECT 1 FROM coffer_plugin_storage WHERE mount_uuid = $1', [uuid])).length, 0),
    );
  });

  it('answers special paths without a token, raw responses, warnings and wrapped errors', async () => {
    assert.equal((await call('POST', 'sys/mounts/mock', { type: 'my-mock-plugin' })).status, 204);
    const special = await call('GET', 'mock/special', undefined, {});
    assert.equal(special.status, 200);
    assert.deepEqual((await special.json()).data, { data: 'foo' });
    assert.equal((await call('GET', 'mock/kv/x', undefined, {})).status, 403, 'other paths need a token');
    const raw = await call('GET', 'mock/raw');
    assert.equal(raw.status, 200);
    assert.equal(await raw.text(), 'Response');
    const warned = await (await call('PUT', 'mock/kv/w', { value: 'v', extra: 1 })).json();
    assert.deepEqual(warned.warnings, ['Endpoint ignored these unrecognized parameters: [extra]']);
    const unsupported = await call('GET', 'mock/nowhere');
    assert.equal(unsupported.status, 404);
    assert.deepEqual(await unsupported.json(), { errors: ['1 error occurred:\n\t* unsupported path\n\n'] });
    const badType = await call('PUT', 'mock/errors/type', { err_type: 7 });
    assert.equal(badType.status, 400);
  });

  it('moves a mount with its data, and upgrades its plugin version through tune', async () => {
    assert.equal((await call('POST', 'sys/mounts/movable', { type: 'my-mock-plugin' })).status, 204);
    assert.equal((await call('PUT', 'movable/kv/k', { value: 'moved with it' })).status, 200);
    const moved = await call('POST', 'sys/remount', { from: 'movable', to: 'moved' });
    assert.equal(moved.status, 200);
    const id = (await moved.json()).data.migration_id;
    const status = await (await call('GET', `sys/remount/status/${id}`)).json();
    assert.equal(status.data.migration_info.status, 'success');
    assert.equal((await (await call('GET', 'moved/kv/k')).json()).data.value, 'moved with it');
    assert.equal((await call('GET', 'movable/kv/k')).status, 404);

    // v1.0.0 of the same binary: the mock reports the version its environment gives it.
    const sha = sha256(join(cluster.dir, 'my-mock-plugin'));
    const registered = await call('PUT', 'sys/plugins/catalog/secret/my-mock-plugin', {
      sha256: sha, command: 'my-mock-plugin', version: '1.0.0', env: ['TESTING_MOCK_VAULT_PLUGIN_VERSION=v1.0.0'],
    });
    assert.equal(registered.status, 204, await registered.text());
    assert.equal((await (await call('GET', 'moved/env/TESTING_MOCK_VAULT_PLUGIN_VERSION')).json()).data.key, '');
    assert.equal((await call('POST', 'sys/mounts/moved/tune', { plugin_version: 'v1.0.0' })).status, 204);
    await eventually(async () => {
      const r = await (await call('GET', 'moved/env/TESTING_MOCK_VAULT_PLUGIN_VERSION')).json();
      assert.equal(r.data.key, 'v1.0.0', 'the mount now runs the upgraded version');
    });
    assert.equal((await (await call('GET', 'moved/kv/k')).json()).data.value, 'moved with it', 'and keeps its data');
    const info = (await (await call('GET', 'sys/mounts/moved')).json()).data;
    assert.equal(info.plugin_version, 'v1.0.0');
  });

  it('logs in through the userpass plugin; the token works within its policies only', async () => {
    const sha = install('userpass', 'userpass');
    assert.equal((await call('PUT', 'sys/plugins/catalog/auth/userpass', { sha256: sha, command: 'userpass' })).status, 204);
    assert.equal((await call('POST', 'sys/auth/userpass', { type: 'userpass' })).status, 204);
    await call('PUT', 'sys/policies/acl/mock-reader', { policy: 'path "mock/kv/*" { capabilities = ["read"] }' });
    assert.equal((await call('PUT', 'auth/userpass/users/alice', { password: 's3cret-pw', policies: 'mock-reader' })).status, 204);

    const login = await call('PUT', 'auth/userpass/login/alice', { password: 's3cret-pw' }, {});
    assert.equal(login.status, 200);
    const auth = (await login.json()).auth;
    assert.deepEqual(auth.policies, ['default', 'mock-reader']);
    const token = { 'x-vault-token': auth.client_token };
    assert.equal((await call('GET', 'mock/kv/w', undefined, token)).status, 200);
    assert.equal((await call('PUT', 'mock/kv/w', { value: 'x' }, token)).status, 403);
    assert.equal((await call('GET', 'sys/mounts', undefined, token)).status, 403);

    const bad = await call('PUT', 'auth/userpass/login/alice', { password: 'nope' }, {});
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).auth, undefined);
  });

  it('keeps a broken plugin to its own mount', async () => {
    const sha = install('mock-plugin', 'fragile');
    await call('PUT', 'sys/plugins/catalog/secret/fragile', { sha256: sha, command: 'fragile' });
    assert.equal((await call('POST', 'sys/mounts/fragile', { type: 'fragile' })).status, 204);
    assert.equal((await call('PUT', 'fragile/kv/a', { value: '1' })).status, 200);
    // Replace the binary and make every runner relaunch it: the hash no longer matches.
    writeFileSync(join(cluster.dir, 'fragile'), '#!/usr/bin/env node\nprocess.exit(0)\n');
    const reload = await call('PUT', 'sys/plugins/reload/backend', { plugin: 'fragile', scope: 'global' });
    assert.equal(reload.status, 202);
    const reloadId = (await reload.json()).data.reload_id;
    // Every runner reports, and the other gateway (which did not take the reload) knows it too.
    await eventually(async () => {
      const status = await call('GET', `sys/plugins/reload/backend/status?reload_id=${reloadId}`, undefined, root, B);
      assert.equal(status.status, 200);
      const data = (await status.json()).data;
      assert.equal(data.reload_id, reloadId);
      assert.deepEqual(data.in_progress, []);
      assert.equal(Object.keys(data.results).length, 2, JSON.stringify(data));
      for (const r of Object.values(data.results) as { success: boolean; timestamp: string; message: string }[]) {
        assert.deepEqual([r.success, r.message, Number.isNaN(Date.parse(r.timestamp))], [true, '', false]);
      }
    });
    assert.equal((await call('GET', 'sys/plugins/reload/backend/status?reload_id=nope')).status, 404);
    await eventually(async () => {
      const r = await call('GET', 'fragile/kv/a');
      assert.equal(r.status, 500);
      assert.match((await r.json()).errors.join(' '), /checksums did not match/);
    });
    assert.equal((await call('GET', 'mock/kv/w')).status, 200, 'the other mount still answers');
    assert.ok('fragile/' in (await (await call('GET', 'sys/mounts')).json()).data, 'the broken mount stays in the table');
  });

  it("patches with PATCH and answers ?help=1 from the mount's plugin or the gateway's own routes", async () => {
    const merge = { ...root, 'content-type': 'application/merge-patch+json' };
    assert.equal((await call('PUT', 'mock/kv/p', { value: 'one' })).status, 200);
    const patched = await call('PATCH', 'mock/kv/p', { value: 'two' }, merge, B);
    assert.equal(patched.status, 200);
    assert.deepEqual((await patched.json()).data, { value: 'two' });
    assert.equal((await (await call('GET', 'mock/kv/p')).json()).data.value, 'two');
    const absent = await call('PATCH', 'mock/kv/absent', { value: 'x' }, merge);
    assert.deepEqual([absent.status, await absent.json()], [404, { errors: [] }]);

    const help = await call('GET', 'mock/kv/p?help=1', undefined, root, B);
    assert.equal(help.status, 200);
    const body = await help.json();
    assert.deepEqual(Object.keys(body), ['help'], 'the help object itself, as Vault answers it, no envelope');
    assert.match(body.help, /^Request: {8}kv\/p\nMatching Route: \^kv\//);
    assert.match((await (await call('GET', 'mock?help=1')).json()).help, /^Vault's mock plugin: [^\n]*\n\n## PATHS\n/);
    assert.match((await (await call('GET', 'sys/mounts?help=1')).json()).help, /^Request: {8}sys\/mounts\nMatching Route: \^sys\/mounts\/\?\$\n/);
    assert.equal((await call('GET', 'mock/kv/p?help=1', undefined, {})).status, 403, 'help needs a valid token');
    const none = await call('GET', 'mock/nowhere?help=1');
    assert.deepEqual([none.status, await none.json()], [404, { errors: ['1 error occurred:\n\t* unsupported path\n\n'] }]);
  });

  it('lets exactly one of two simultaneous enables of a path win', async () => {
    const [a, b] = await Promise.all([
      call('POST', 'sys/mounts/raced', { type: 'my-mock-plugin' }),
      call('POST', 'sys/mounts/raced', { type: 'my-mock-plugin' }, root, B),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [204, 400]);
    const loser = a.status === 400 ? a : b;
    assert.deepEqual(await loser.json(), { errors: ['path is already in use at raced/'] });
  });

  it('loses no acknowledged write when a runner is killed under load', async () => {
    assert.equal((await call('POST', 'sys/mounts/load', { type: 'my-mock-plugin' })).status, 204);
    const acknowledged: string[] = [];
    let failed = 0;
    const writer = async (w: number) => {
      for (let i = 0; i < 40; i++) {
        const key = `k${w}-${i}`;
        const r = await call('PUT', `load/kv/${key}`, { value: key });
        if (r.status === 200) acknowledged.push(key);
        else failed++;
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(writer));
    await new Promise((r) => setTimeout(r, 300));
    await cluster.kill('plugin-runner-2');
    await load;
    assert.ok(acknowledged.length > 0);
    for (const key of acknowledged) {
      const r = await call('GET', `load/kv/${key}`);
      assert.equal(r.status, 200, `acknowledged ${key} is readable`);
      assert.equal((await r.json()).data.value, key);
    }
    assert.equal(acknowledged.length + failed, 160, 'every write either succeeded or failed visibly');
  });

  it('after every process restarts and the cluster is unsealed, mounts and data are back', async () => {
    assert.equal((await call('PUT', 'mock/kv/persist', { value: 'still here' })).status, 200);
    const members = cluster.running();
    for (const m of members) await cluster.kill(m.name);
    for (const m of members) await cluster.start(m.service, m.name);
    await cluster.unseal(keys.slice(1, 3));
    const r = await eventually(async () => {
      const res = await call('GET', 'mock/kv/persist');
      assert.equal(res.status, 200);
      return res.json();
    });
    assert.equal(r.data.value, 'still here');
    const login = await call('PUT', 'auth/userpass/login/alice', { password: 's3cret-pw' }, {});
    assert.equal(login.status, 200);
  });
});
