import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Cluster } from './support/cluster.js';
import { rawRequest } from './support/http.js';
import { REPO_ROOT } from './support/paths.js';

/** The processes a runner started (its plugins), by their command lines. */
function childrenOf(pid: number | undefined): string[] {
  if (!pid) return [];
  try {
    return execFileSync('ps', ['-o', 'args=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * The builtin KV engine against the services as separate processes, with two plugin-runners serving its mounts:
 * builtins by Vault's names, the v1 and v2 APIs over HTTP, and check-and-set under many concurrent writers.
 */
describe('KV, builtin, on the services with two runners', () => {
  let cluster: Cluster;
  let root: Record<string, string>;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = root) => {
    const r = await fetch(`${cluster.url}/v1/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  };

  before(async () => {
    cluster = await Cluster.create();
    await cluster.startAll();
    await cluster.start('plugin-runner', 'plugin-runner-2');
    root = { 'x-vault-token': (await cluster.initAndUnseal()).rootToken };
  });

  after(async () => {
    await cluster?.stop();
  });

  it('lists the builtins in the catalog with builtin: true, and enables them by Vault\'s names', async () => {
    const catalog = await call('GET', 'sys/plugins/catalog');
    assert.ok(catalog.body.data.secret.includes('kv'), JSON.stringify(catalog.body.data));
    assert.ok(catalog.body.data.auth.includes('userpass'));
    const kv = catalog.body.data.detailed.find((e: { name: string }) => e.name === 'kv');
    assert.deepEqual([kv.type, kv.builtin, kv.deprecation_status], ['secret', true, 'supported']);
    assert.match(kv.version, /\+builtin$/);
    const read = await call('GET', 'sys/plugins/catalog/secret/kv');
    assert.deepEqual([read.status, read.body.data.builtin, read.body.data.command], [200, true, '']);

    assert.equal((await call('POST', 'sys/mounts/kv1', { type: 'kv' })).status, 204);
    assert.equal((await call('POST', 'sys/mounts/kv2', { type: 'kv', options: { version: '2' } })).status, 204);
    assert.equal((await call('POST', 'sys/mounts/kvv2', { type: 'kv-v2' })).status, 204);
    assert.equal((await call('POST', 'sys/auth/userpass', { type: 'userpass' })).status, 204);
    const mounts = (await call('GET', 'sys/mounts')).body.data;
    assert.deepEqual([mounts['kvv2/'].type, mounts['kvv2/'].options, mounts['kv1/'].options], ['kv', { version: '2' }, null]);
    assert.equal(mounts['sys/'].type, 'system');
    // Builtins are not pinned to a version: the next build's builtin serves the mount.
    assert.equal(mounts['kv2/'].plugin_version, '');
    assert.equal((await call('POST', 'sys/mounts/bad', { type: 'template', options: { version: '2' } })).body.errors[0], 'secrets engine "template" does not allow setting a version');
  });

  it('a registered plugin of the same name and type shadows the builtin', async () => {
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(cluster.dir, 'kv-mock'));
    chmodSync(join(cluster.dir, 'kv-mock'), 0o755);
    const sha = createHash('sha256').update(readFileSync(join(cluster.dir, 'kv-mock'))).digest('hex');
    assert.equal((await call('PUT', 'sys/plugins/catalog/secret/kv', { sha256: sha, command: 'kv-mock' })).status, 204);
    assert.equal((await call('POST', 'sys/mounts/shadowed', { type: 'kv' })).status, 204);
    // The mock plugin answers its own paths: kv/<key> with a version field.
    await call('PUT', 'shadowed/kv/x', { value: 'v' });
    assert.deepEqual((await call('GET', 'shadowed/kv/x')).body.data, { value: 'v', version: 0 });
    const detailed = (await call('GET', 'sys/plugins/catalog')).body.data.detailed.filter((e: { name: string }) => e.name === 'kv');
    assert.deepEqual(detailed.map((e: { builtin: boolean }) => e.builtin).sort(), [false, true]);
    // The catalog took the version the plugin reported; deregistering names it.
    const registered = detailed.find((e: { builtin: boolean }) => !e.builtin);
    assert.equal((await call('DELETE', `sys/plugins/catalog/secret/kv?version=${encodeURIComponent(registered.version)}`)).status, 204);
    assert.equal((await call('DELETE', 'sys/mounts/shadowed')).status, 204);
    // With the registration gone, a new mount of kv runs the builtin again.
    assert.equal((await call('POST', 'sys/mounts/back', { type: 'kv', options: { version: '2' } })).status, 204);
    assert.equal((await call('PUT', 'back/data/x', { data: { a: 1 } })).body.data.version, 1);
  });

  it('serves KV v1 and v2 over HTTP with Vault\'s shapes and statuses', async () => {
    assert.equal((await call('PUT', 'kv1/app/db', { password: 's3' })).status, 204);
    assert.deepEqual((await call('GET', 'kv1/app/db')).body.data, { password: 's3' });
    const list = await rawRequest(cluster.url, 'LIST', '/v1/kv1/app/', undefined, root);
    assert.deepEqual(list.json().data, { keys: ['db'] });
    const empty = await call('PUT', 'kv1/empty', {});
    assert.deepEqual([empty.status, empty.body.errors], [400, ['missing data fields']]);

    const w = await call('POST', 'kv2/data/app', { data: { a: 'b' } });
    assert.equal(w.status, 200);
    assert.equal(w.body.data.version, 1);
    const r = await call('GET', 'kv2/data/app');
    assert.deepEqual([r.status, r.body.data.data, r.body.data.metadata.version], [200, { a: 'b' }, 1]);
    const cas = await call('POST', 'kv2/data/app', { data: { a: 'c' }, options: { cas: 0 } });
    assert.equal(cas.status, 400);
    assert.match(cas.body.errors[0], /check-and-set parameter did not match the current version/);
    const patched = await fetch(`${cluster.url}/v1/kv2/data/app`, {
      method: 'PATCH',
      headers: { ...root, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ data: { z: 1 } }),
    });
    assert.equal(patched.status, 200);
    assert.deepEqual((await call('GET', 'kv2/data/app')).body.data.data, { a: 'b', z: 1 });
    assert.equal((await call('DELETE', 'kv2/data/app')).status, 204);
    const deleted = await call('GET', 'kv2/data/app');
    assert.deepEqual([deleted.status, deleted.body.data.data, deleted.body.data.metadata.version], [404, null, 2]);
    assert.equal((await call('POST', 'kv2/undelete/app', { versions: [2] })).status, 204);
    assert.equal((await call('GET', 'kv2/data/app')).status, 200);
    assert.equal((await call('POST', 'kv2/destroy/app', { versions: [1] })).status, 204);
    const meta = await call('GET', 'kv2/metadata/app');
    assert.deepEqual([meta.body.data.current_version, meta.body.data.versions['1'].destroyed], [2, true]);
    const keys = await rawRequest(cluster.url, 'LIST', '/v1/kv2/metadata/', undefined, root);
    assert.deepEqual(keys.json().data, { keys: ['app'] });
    const unprefixed = await call('GET', 'kv2/app');
    assert.equal(unprefixed.status, 404);
    assert.match(unprefixed.body.warnings[0], /^Invalid path for a versioned K\/V secrets engine/);
  });

  it('tuning version 1 to 2 upgrades the mount and keeps its data; a downgrade is refused', async () => {
    assert.equal((await call('PUT', 'kv1/later', { k: 'v' })).status, 204);
    const tuned = await call('POST', 'sys/mounts/kv1/tune', { options: { version: '2' } });
    assert.ok([200, 204].includes(tuned.status), JSON.stringify(tuned.body));
    const r = await call('GET', 'kv1/data/later');
    assert.deepEqual([r.status, r.body.data.data, r.body.data.metadata.version], [200, { k: 'v' }, 1]);
    assert.deepEqual((await call('GET', 'kv1/data/app/db')).body.data.data, { password: 's3' });
    const down = await call('POST', 'sys/mounts/kv1/tune', { options: { version: '1' } });
    assert.equal(down.status, 400);
    assert.equal(down.body.errors[0], 'cannot downgrade mount from version 2');
  });

  it('many writers with cas across two runners: one winner per version, none issued twice, no acknowledged write lost', async () => {
    assert.equal((await call('POST', 'kv2/metadata/race', { max_versions: 1000 })).status, 204);
    const WRITERS = 8;
    const ROUNDS = 6;
    const wins = new Map<number, string>();
    let conflicts = 0;
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let round = 0; round < ROUNDS; round++) {
          const current = (await call('GET', 'kv2/metadata/race')).body.data.current_version as number;
          const payload = `writer-${w}-round-${round}`;
          const r = await call('POST', 'kv2/data/race', { data: { payload }, options: { cas: current } });
          if (r.status === 200) {
            const version = r.body.data.version as number;
            assert.equal(version, current + 1, 'a cas write makes exactly the next version');
            assert.ok(!wins.has(version), `version ${version} was issued twice (${wins.get(version)} and ${payload})`);
            wins.set(version, payload);
          } else {
            assert.equal(r.status, 400, JSON.stringify(r.body));
            assert.match(r.body.errors[0], /check-and-set parameter did not match the current version/);
            conflicts++;
          }
        }
      }),
    );
    const meta = (await call('GET', 'kv2/metadata/race')).body.data;
    assert.equal(meta.current_version, wins.size, 'every version was acknowledged to exactly one writer');
    assert.deepEqual([...wins.keys()].sort((a, b) => a - b), Array.from({ length: wins.size }, (_, i) => i + 1));
    for (const [version, payload] of wins) {
      const r = await call('GET', `kv2/data/race?version=${version}`);
      assert.equal(r.body.data.metadata.version, version);
      assert.equal(r.body.data.data.payload, payload, `version ${version} holds its writer's data`);
    }
    assert.equal(wins.size + conflicts, WRITERS * ROUNDS);
    assert.ok(conflicts > 0, 'the writers did race');
    const latest = (await call('GET', 'kv2/data/race')).body.data;
    assert.equal(latest.data.payload, wins.get(meta.current_version));
    // Both runners served the mount: each has a kv process of its own.
    const runners = ['plugin-runner', 'plugin-runner-2'].map((n) => childrenOf(cluster.pid(n)).length);
    assert.ok(runners.every((n) => n > 0), `plugin processes per runner: ${runners}`);
  });

  it('no stale read after another runner\'s write: every read sees the write acknowledged just before it', async () => {
    for (let i = 0; i < 30; i++) {
      assert.equal((await call('POST', 'kv2/data/fresh', { data: { i } })).status, 200);
      assert.equal((await call('GET', 'kv2/data/fresh')).body.data.data.i, i);
      assert.equal((await call('PUT', 'kv1/data/fresh', { data: { i } })).status, 200);
    }
  });
});
