import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDevServer, type DevServer } from './support/dev-server.js';
import { REPO_ROOT } from './support/paths.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function coffer(server: DevServer, args: string[]): Promise<Run> {
  const env: Record<string, string | undefined> = { ...process.env, VAULT_ADDR: server.url, VAULT_TOKEN: server.rootToken, VAULT_FORMAT: undefined };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), ...args], { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  assert.doesNotMatch(stderr, /\n\s+at /, `stack trace from coffer ${args.join(' ')}:\n${stderr}`);
  return { code, stdout, stderr };
}

const TIME = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z';

/** A dev server started as the README says: `secret/` is KV v2, and Vault's own client library works against it. */
describe('KV on the dev server', () => {
  let server: DevServer;

  before(async () => {
    server = await startDevServer();
  });
  after(async () => {
    await server?.stop();
  });

  it('mounts secret/ as kv version 2; secrets list shows it and sys/', async () => {
    const r = await coffer(server, ['secrets', 'list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^secret\/\s+kv\s+kv_[0-9a-f]{8}\s+key\/value secret storage$/m);
    assert.match(r.stdout, /^sys\/\s+system\s+system_[0-9a-f]{8}\s+system endpoints used for control, policy and debugging$/m);
    const json = JSON.parse((await coffer(server, ['secrets', 'list', '-format=json'])).stdout);
    assert.deepEqual(json['secret/'].options, { version: '2' });
  });

  it('coffer kv put secret/foo a=b prints what vault kv put prints', async () => {
    const r = await coffer(server, ['kv', 'put', 'secret/foo', 'a=b']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `^== Secret Path ==\\nsecret/data/foo\\n\\n======= Metadata =======\\nKey                Value\\n---                -----\\n` +
          `created_time       ${TIME}\\ncustom_metadata    <nil>\\ndeletion_time      n/a\\ndestroyed          false\\nversion            1\\n$`,
      ),
    );
  });

  it('coffer kv: get with Metadata and Data, -field, -cas, patch, list, delete/undelete/destroy, rollback, metadata, enable-versioning', async () => {
    let r = await coffer(server, ['kv', 'put', '-mount=secret', 'app', 'user=u', 'passcode=p1']);
    assert.equal(r.code, 0, r.stderr);
    r = await coffer(server, ['kv', 'get', 'secret/app']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^== Secret Path ==\nsecret\/data\/app\n\n======= Metadata =======\n/);
    assert.match(r.stdout, /\nversion            1\n\n====== Data ======\nKey         Value\n---         -----\npasscode    p1\nuser        u\n$/);
    r = await coffer(server, ['kv', 'get', '-field=passcode', 'secret/app']);
    assert.deepEqual([r.code, r.stdout], [0, 'p1']);

    r = await coffer(server, ['kv', 'put', '-cas=0', 'secret/app', 'user=x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /check-and-set parameter did not match the current version/);
    r = await coffer(server, ['kv', 'put', '-cas=1', 'secret/app', 'user=u2', 'passcode=p2']);
    assert.equal(r.code, 0, r.stderr);
    r = await coffer(server, ['kv', 'patch', 'secret/app', 'passcode=p3']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nversion            3\n$/);
    assert.equal((await coffer(server, ['kv', 'get', '-field=user', 'secret/app'])).stdout, 'u2');

    r = await coffer(server, ['kv', 'list', 'secret/']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').slice(0, 2), ['Keys', '----']);
    assert.ok(r.stdout.includes('\napp\n') && r.stdout.includes('\nfoo\n'), r.stdout);

    r = await coffer(server, ['kv', 'delete', 'secret/app']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Data deleted (if it existed) at: secret/data/app\n']);
    r = await coffer(server, ['kv', 'get', 'secret/app']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`\\ndeletion_time      ${TIME}\\n`));
    assert.doesNotMatch(r.stdout, /== Data ==/, 'a deleted version shows its metadata only');
    r = await coffer(server, ['kv', 'undelete', '-versions=3', 'secret/app']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Data written to: secret/undelete/app\n']);
    assert.equal((await coffer(server, ['kv', 'get', '-field=passcode', 'secret/app'])).stdout, 'p3');
    r = await coffer(server, ['kv', 'destroy', '-versions=2', 'secret/app']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Data written to: secret/destroy/app\n']);

    r = await coffer(server, ['kv', 'metadata', 'put', '-max-versions=5', '-custom-metadata=owner=me', 'secret/app']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Data written to: secret/metadata/app\n']);
    r = await coffer(server, ['kv', 'metadata', 'get', 'secret/app']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^== Metadata Path ==\nsecret\/metadata\/app\n\n========== Metadata ==========\n/);
    assert.match(r.stdout, /\ncurrent_version         3\ncustom_metadata         map\[owner:me\]\n/);
    assert.match(r.stdout, /\n====== Version 2 ======\nKey              Value\n---              -----\ncreated_time     \S+\ndeletion_time    n\/a\ndestroyed        true\n/);

    r = await coffer(server, ['kv', 'rollback', '-version=1', 'secret/app']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nversion            4\n$/);

    r = await coffer(server, ['kv', 'metadata', 'delete', 'secret/app']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Data deleted (if it existed) at: secret/metadata/app\n']);
    r = await coffer(server, ['kv', 'get', 'secret/app']);
    assert.deepEqual([r.code, r.stderr], [2, 'No value found at secret/data/app\n']);

    // Version 1: plain paths, Vault's v1 output; then enable-versioning keeps the data.
    assert.equal((await coffer(server, ['secrets', 'enable', '-path=old', 'kv'])).code, 0);
    r = await coffer(server, ['kv', 'put', 'old/k', 'a=1']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Data written to: old/k\n']);
    r = await coffer(server, ['kv', 'get', 'old/k']);
    assert.deepEqual([r.code, r.stdout], [0, '== Data ==\nKey    Value\n---    -----\na      1\n']);
    r = await coffer(server, ['kv', 'enable-versioning', 'old/']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Tuned the secrets engine at: old/\n']);
    r = await coffer(server, ['kv', 'get', 'old/k']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^== Secret Path ==\nold\/data\/k\n/);
    assert.match(r.stdout, /\na      1\n$/);
    assert.equal((await coffer(server, ['secrets', 'enable', '-version=2', '-path=v2b', 'kv'])).code, 0);
    assert.equal((await coffer(server, ['secrets', 'enable', '-path=v2c', 'kv-v2'])).code, 0);
    assert.equal((await coffer(server, ['auth', 'enable', 'userpass'])).code, 0);
  });

  it('an unmodified Vault client library (node-vault) runs a full KV v2 workflow', async () => {
    const vault = createRequire(import.meta.url)('node-vault')({ endpoint: server.url, token: server.rootToken }) as {
      write(path: string, data: unknown): Promise<any>;
      read(path: string): Promise<any>;
      list(path: string): Promise<any>;
      delete(path: string): Promise<any>;
      update(path: string, data: unknown): Promise<any>;
    };
    const w1 = await vault.write('secret/data/nv/db', { data: { password: 'one' } });
    assert.equal(w1.data.version, 1);
    const w2 = await vault.write('secret/data/nv/db', { data: { password: 'two' }, options: { cas: 1 } });
    assert.equal(w2.data.version, 2);
    await assert.rejects(vault.write('secret/data/nv/db', { data: { password: 'x' }, options: { cas: 1 } }), (err: Error & { response?: { statusCode: number } }) => {
      assert.equal(err.response?.statusCode, 400);
      assert.match(err.message, /check-and-set parameter did not match the current version/);
      return true;
    });
    await vault.update('secret/data/nv/db', { data: { user: 'admin' } });
    const read = await vault.read('secret/data/nv/db');
    assert.deepEqual(read.data.data, { password: 'two', user: 'admin' });
    assert.equal(read.data.metadata.version, 3);

    await vault.write('secret/metadata/nv/db', { max_versions: 5, custom_metadata: { team: 'core' } });
    const meta = await vault.read('secret/metadata/nv/db');
    assert.deepEqual([meta.data.current_version, meta.data.max_versions, meta.data.custom_metadata], [3, 5, { team: 'core' }]);
    assert.deepEqual(Object.keys(meta.data.versions), ['1', '2', '3']);

    await vault.write('secret/data/nv/api', { data: { key: 'k' } });
    assert.deepEqual((await vault.list('secret/metadata/nv/')).data.keys, ['api', 'db']);

    await vault.delete('secret/data/nv/db');
    await assert.rejects(vault.read('secret/data/nv/db'), (err: Error & { response?: { statusCode: number; body: any } }) => {
      assert.equal(err.response?.statusCode, 404);
      assert.equal(err.response?.body.data.metadata.version, 3);
      return true;
    });
    await vault.write('secret/undelete/nv/db', { versions: [3] });
    assert.equal((await vault.read('secret/data/nv/db')).data.data.user, 'admin');
    await vault.write('secret/delete/nv/db', { versions: [1] });
    await vault.write('secret/destroy/nv/db', { versions: [2] });
    const after = await vault.read('secret/metadata/nv/db');
    assert.deepEqual(
      [after.data.versions['1'].deletion_time !== '', after.data.versions['2'].destroyed, after.data.versions['3'].destroyed],
      [true, true, false],
    );
    await vault.delete('secret/metadata/nv/db');
    await assert.rejects(vault.read('secret/metadata/nv/db'), /Status 404/);
    assert.deepEqual((await vault.list('secret/metadata/nv/')).data.keys, ['api']);
  });

  it('concurrent writes (the dev store commits them in groups): of cas writes from one version exactly one wins, and plain writes each get their own version', async () => {
    const write = (path: string, body: unknown) =>
      fetch(`${server.url}/v1/secret/data/${path}`, { method: 'POST', headers: { 'x-vault-token': server.rootToken }, body: JSON.stringify(body) });
    assert.equal((await write('race/x', { data: { n: 0 } })).status, 200);
    for (let version = 1; version <= 3; version++) {
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => write('race/x', { data: { n: i }, options: { cas: version } })));
      const bodies = await Promise.all(answers.map(async (r) => ({ status: r.status, body: (await r.json()) as any })));
      const won = bodies.filter((b) => b.status === 200);
      assert.equal(won.length, 1, `cas=${version}: ${JSON.stringify(bodies.map((b) => b.status))}`);
      assert.equal(won[0].body.data.version, version + 1);
      for (const lost of bodies.filter((b) => b.status !== 200)) {
        assert.equal(lost.status, 400);
        assert.match(lost.body.errors.join(' '), /check-and-set parameter did not match the current version/);
      }
    }
    const plain = await Promise.all(Array.from({ length: 12 }, (_, i) => write('race/x', { data: { n: i } })));
    const versions = await Promise.all(plain.map(async (r) => (assert.equal(r.status, 200), ((await r.json()) as any).data.version as number)));
    assert.deepEqual(
      [...versions].sort((a, b) => a - b),
      Array.from({ length: 12 }, (_, i) => i + 5),
      'twelve writes, twelve versions, none lost or repeated',
    );
    const meta = await fetch(`${server.url}/v1/secret/metadata/race/x`, { headers: { 'x-vault-token': server.rootToken } });
    assert.equal(((await meta.json()) as any).data.current_version, 16);
  });
});

