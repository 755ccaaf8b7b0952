import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Cluster } from './support/cluster.js';
import { startDevServer, type DevServer } from './support/dev-server.js';
import { eventually, rawRequest, type Envelope } from './support/http.js';
import { REPO_ROOT } from './support/paths.js';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const LEASE_ID = /^mock\/creds\/[\w-]+\/[0-9A-Za-z]{24}$/;

/**
 * The lease lifecycle on the services as processes (two gateways, two runners), with the mock plugin's creds/<name>
 * as the dynamic secret: its revocations path counts every revoke the host made, per lease, so "exactly once" is
 * something the test can see.
 */
describe('leases on the services: two gateways, two runners, the mock plugin issuing creds', () => {
  let cluster: Cluster;
  let root: Record<string, string>;
  let A: string;
  let B: string;

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = root, base = A) => {
    const r = await fetch(`${base}/v1/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as Envelope };
  };
  const issue = async (name: string, query = '', headers = root, base = A) => {
    const r = await call('GET', `mock/creds/${name}${query}`, undefined, headers, base);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const revocations = async () => (await call('GET', 'mock/revocations')).body.data as { count: number; leases: Record<string, number> };
  const lookup = (id: string, base = A) => call('PUT', 'sys/leases/lookup', { lease_id: id }, root, base);
  /** Polls until every lease named is gone and was revoked by the plugin exactly once. */
  const revokedOnce = (ids: string[], ms = 30_000) =>
    eventually(async () => {
      const { leases } = await revocations();
      for (const id of ids) {
        assert.equal(leases[id], 1, `${id} revoked ${leases[id] ?? 0} times`);
        assert.deepEqual((await lookup(id)).body.errors, ['invalid lease']);
      }
    }, ms);

  before(async () => {
    // Expiry passes every 200 ms in the services (they inherit it), so the polls below end soon.
    process.env.COFFER_LEASE_TICK_MS = '200';
    cluster = await Cluster.create();
    await cluster.startAll();
    await cluster.start('plugin-runner', 'plugin-runner-2');
    await cluster.start('gateway', 'gateway-b');
    A = cluster.urlOf('gateway');
    B = cluster.urlOf('gateway-b');
    root = { 'x-vault-token': (await cluster.initAndUnseal()).rootToken };
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(cluster.dir, 'mock-plugin'));
    chmodSync(join(cluster.dir, 'mock-plugin'), 0o755);
    const registered = await call('PUT', 'sys/plugins/catalog/secret/mock-plugin', { sha256: sha256(join(cluster.dir, 'mock-plugin')), command: 'mock-plugin' });
    assert.equal(registered.status, 204, JSON.stringify(registered.body));
    assert.equal((await call('POST', 'sys/mounts/mock', { type: 'mock-plugin' })).status, 204);
  });

  after(async () => {
    delete process.env.COFFER_LEASE_TICK_MS;
    await cluster?.stop();
  });

  it('issues creds under a lease; lookup on either gateway shows it, never its internal data; LIST finds it', async () => {
    const issued = await issue('app', '?ttl=1h');
    assert.match(issued.lease_id, LEASE_ID);
    assert.match(issued.lease_id, /^mock\/creds\/app\//);
    assert.deepEqual([issued.lease_duration, issued.renewable], [3600, true]);
    assert.match(issued.data!.username, /^app-[0-9a-f]{8}$/);
    assert.equal(typeof issued.data!.password, 'string');

    for (const base of [A, B]) {
      const found = await lookup(issued.lease_id, base);
      assert.equal(found.status, 200, JSON.stringify(found.body));
      assert.deepEqual(Object.keys(found.body.data!).sort(), ['expire_time', 'id', 'issue_time', 'last_renewal', 'renewable', 'ttl']);
      assert.deepEqual([found.body.data!.id, found.body.data!.renewable, found.body.data!.last_renewal], [issued.lease_id, true, null]);
      assert.ok(found.body.data!.ttl > 0 && found.body.data!.ttl <= 3600, String(found.body.data!.ttl));
      assert.ok(Date.parse(found.body.data!.expire_time) > Date.parse(found.body.data!.issue_time));
      assert.doesNotMatch(JSON.stringify(found.body), new RegExp(issued.data!.username), 'the internal data stays in the lease');
    }
    const listed = await rawRequest(B, 'LIST', '/v1/sys/leases/lookup/mock/creds/app/', undefined, root);
    assert.equal(listed.status, 200, listed.body);
    assert.ok(listed.json().data.keys.includes(issued.lease_id.split('/').pop()), listed.body);
    const folders = await rawRequest(A, 'LIST', '/v1/sys/leases/lookup/mock/', undefined, root);
    assert.deepEqual(folders.json().data.keys, ['creds/']);
    assert.equal((await rawRequest(A, 'LIST', '/v1/sys/leases/lookup/nothing/', undefined, root)).status, 404);
    assert.deepEqual((await lookup('mock/creds/app/nope')).body, { errors: ['invalid lease'] } as never);
    assert.equal((await lookup('')).body.errors?.[0], 'lease_id must be specified');
  });

  it('renews through the plugin: the increment is granted, a non-renewable lease and a refusing plugin say no', async () => {
    const issued = await issue('renewed', '?ttl=1h');
    const renewed = await call('PUT', 'sys/leases/renew', { lease_id: issued.lease_id, increment: '2h' }, root, B);
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.deepEqual([renewed.body.lease_id, renewed.body.lease_duration, renewed.body.renewable], [issued.lease_id, 7200, true]);
    const after = (await lookup(issued.lease_id)).body.data!;
    assert.notEqual(after.last_renewal, null);
    assert.ok(after.ttl > 3600, `the lease was extended past its first TTL (ttl ${after.ttl})`);
    // The lease id in the path works too (Vault's sys/leases/renew/<id>).
    assert.equal((await call('PUT', `sys/leases/renew/${issued.lease_id}`, { increment: 600 })).body.lease_duration, 600);

    const fixed = await issue('fixed', '?ttl=1h&renewable=false');
    assert.equal(fixed.renewable, false);
    assert.deepEqual((await call('PUT', 'sys/leases/renew', { lease_id: fixed.lease_id })).body.errors, ['lease is not renewable']);
    const refusing = await issue('refusing', '?ttl=1h&refuse_renew=true');
    assert.equal(refusing.renewable, true);
    const refused = await call('PUT', 'sys/leases/renew', { lease_id: refusing.lease_id, increment: '2h' });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.match(refused.body.errors!.join(' '), /the mock refuses to renew this lease/);
    assert.ok((await lookup(refusing.lease_id)).body.data!.ttl <= 3600, 'a refused renewal leaves the expiry as it was');
    assert.deepEqual((await call('PUT', 'sys/leases/renew', { lease_id: 'mock/creds/x/nope' })).body.errors, ['lease not found']);
  });

  it('revoke calls the plugin exactly once; the lease is gone; revoking it again is a 204 and no second revocation', async () => {
    const issued = await issue('revoked', '?ttl=1h');
    assert.equal((await revocations()).leases[issued.lease_id], undefined);
    const revoked = await call('PUT', 'sys/leases/revoke', { lease_id: issued.lease_id });
    assert.equal(revoked.status, 204, JSON.stringify(revoked.body));
    assert.equal((await revocations()).leases[issued.lease_id], 1, 'sync (the default): revoked before the answer');
    assert.deepEqual((await lookup(issued.lease_id)).body.errors, ['invalid lease']);
    assert.equal((await call('PUT', `sys/leases/revoke/${issued.lease_id}`, {}, root, B)).status, 204);
    assert.equal((await revocations()).leases[issued.lease_id], 1);
    assert.deepEqual((await call('PUT', 'sys/leases/renew', { lease_id: issued.lease_id })).body.errors, ['lease not found']);

    // sync=false: 202, and the expiry pass revokes it.
    const queued = await issue('queued', '?ttl=1h');
    assert.equal((await call('PUT', 'sys/leases/revoke', { lease_id: queued.lease_id, sync: false })).status, 202);
    await revokedOnce([queued.lease_id]);
  });

  it('a short-TTL lease expires by itself and is revoked once', async () => {
    const issued = await issue('short', '?ttl=1s');
    assert.equal(issued.lease_duration, 1);
    await revokedOnce([issued.lease_id]);
  });

  it('revoke-prefix takes every lease under the prefix and only those; sync=false queues them', async () => {
    const batch = await Promise.all([1, 2, 3].map(() => issue('batch', '?ttl=1h')));
    const keep = await issue('batchkeep', '?ttl=1h');
    const r = await call('PUT', 'sys/leases/revoke-prefix/mock/creds/batch/', {});
    assert.equal(r.status, 204, JSON.stringify(r.body));
    const { leases } = await revocations();
    assert.deepEqual(batch.map((l) => leases[l.lease_id]), [1, 1, 1]);
    assert.equal(leases[keep.lease_id], undefined, 'creds/batchkeep is not under creds/batch/');
    assert.equal((await lookup(keep.lease_id)).status, 200);

    const later = await Promise.all([1, 2].map(() => issue('later', '?ttl=1h')));
    assert.equal((await call('PUT', 'sys/leases/revoke-prefix/mock/creds/later', { sync: false }, root, B)).status, 202);
    await revokedOnce(later.map((l) => l.lease_id));
    assert.equal((await call('PUT', 'sys/leases/revoke-prefix/mock/creds/later', {}, { 'x-vault-token': 'nope' })).status, 403);
  });

  it('listing lease ids needs sudo, with no prefix as under one; looking one lease up does not', async () => {
    const issued = await issue('sudo', '?ttl=1h');
    const policy = 'path "sys/leases/lookup" { capabilities = ["update", "list"] }\npath "sys/leases/lookup/*" { capabilities = ["list"] }\n';
    assert.equal((await call('PUT', 'sys/policies/acl/lease-reader', { policy })).status, 204);
    const reader = { 'x-vault-token': ((await call('POST', 'auth/token/create', { policies: ['lease-reader'] })).body as any).auth.client_token as string };
    assert.equal((await call('PUT', 'sys/leases/lookup', { lease_id: issued.lease_id }, reader)).status, 200);
    for (const path of ['/v1/sys/leases/lookup/', '/v1/sys/leases/lookup', '/v1/sys/leases/lookup/mock/']) {
      const r = await rawRequest(A, 'LIST', path, undefined, reader);
      assert.equal(r.status, 403, `${path}: ${r.body}`);
    }
  });

  it("revoking a token revokes the leases it and its children obtained, and no one else's", async () => {
    const policy = 'path "mock/creds/*" { capabilities = ["read"] }\npath "auth/token/create" { capabilities = ["update"] }\n';
    assert.equal((await call('PUT', 'sys/policies/acl/creds', { policy })).status, 204);
    const parent = await call('POST', 'auth/token/create', { policies: ['creds'] });
    const parentToken = { 'x-vault-token': (parent.body as any).auth.client_token as string };
    const child = await call('POST', 'auth/token/create', { policies: ['creds'] }, parentToken);
    assert.equal(child.status, 200, JSON.stringify(child.body));
    const childToken = { 'x-vault-token': (child.body as any).auth.client_token as string };
    const theirs = [await issue('parent', '?ttl=1h', parentToken), await issue('parent', '?ttl=1h', parentToken, B), await issue('child', '?ttl=1h', childToken)];
    const rootOwn = await issue('rootown', '?ttl=1h');

    assert.equal((await call('POST', 'auth/token/revoke', { token: parentToken['x-vault-token'] }, root, B)).status, 204);
    await revokedOnce(theirs.map((l) => l.lease_id));
    assert.equal((await lookup(rootOwn.lease_id)).status, 200, "the root token's lease stays");
    assert.equal((await revocations()).leases[rootOwn.lease_id], undefined);
  });

  it('with two gateways expiring and revoking at once, each lease is revoked exactly once', async () => {
    // Expiry: both gateways' passes see the same due leases.
    const expiring = await Promise.all(Array.from({ length: 16 }, (_, i) => issue('race', '?ttl=1s', root, i % 2 ? B : A)));
    // Revocation: the same prefix revoked on both gateways at the same moment.
    const revoking = await Promise.all(Array.from({ length: 16 }, (_, i) => issue('both', '?ttl=1h', root, i % 2 ? B : A)));
    const [a, b] = await Promise.all([A, B].map((base) => call('PUT', 'sys/leases/revoke-prefix/mock/creds/both', {}, root, base)));
    assert.deepEqual([a.status, b.status], [204, 204], JSON.stringify([a.body, b.body]));
    await revokedOnce([...expiring, ...revoking].map((l) => l.lease_id));
    const { leases } = await revocations();
    const counts = Object.entries(leases).filter(([id]) => /^mock\/creds\/(race|both)\//.test(id));
    assert.equal(counts.length, 32);
    assert.ok(counts.every(([, n]) => n === 1), JSON.stringify(counts));
    assert.ok(Object.values(leases).every((n) => n === 1), `no lease of this file was revoked twice: ${JSON.stringify(leases)}`);
  });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node bin/coffer.js <args>` with `env` over this process's (undefined removes a variable); never a stack trace. */
async function runCoffer(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  const merged: Record<string, string | undefined> = { ...process.env, VAULT_FORMAT: undefined, ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), ...args], { env: merged as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  assert.doesNotMatch(stderr, /\n\s+at /, `stack trace from coffer ${args.join(' ')}:\n${stderr}`);
  return { code, stdout, stderr };
}

const lines = (text: string) => text.replace(/\n$/, '').split('\n');

/** `coffer lease lookup|renew|revoke` as a Vault user drives them, against `coffer server -dev`. */
describe('coffer lease, against a dev server', () => {
  let server: DevServer;
  let home: string;
  const coffer = (...args: string[]) => runCoffer(args, { VAULT_ADDR: server.url, VAULT_TOKEN: server.rootToken, HOME: home });
  const issue = async (name: string, ttl = '1h') => {
    const r = await coffer('read', '-format=json', `mock/creds/${name}`, `ttl=${ttl}`);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).lease_id as string;
  };
  const revocations = async () => {
    const r = await coffer('read', '-format=json', 'mock/revocations');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).data.leases as Record<string, number>;
  };

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'coffer-lease-cli-'));
    const plugins = join(home, 'plugins');
    mkdirSync(plugins);
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(plugins, 'mock-plugin'));
    chmodSync(join(plugins, 'mock-plugin'), 0o755);
    server = await startDevServer({ args: [`-dev-plugin-dir=${plugins}`], env: { COFFER_LEASE_TICK_MS: '200' } });
    let r = await coffer('plugin', 'register', `-sha256=${sha256(join(plugins, 'mock-plugin'))}`, 'secret', 'mock-plugin');
    assert.equal(r.code, 0, r.stderr);
    r = await coffer('secrets', 'enable', '-path=mock', 'mock-plugin');
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    await server?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('read prints the lease rows first; lease lookup prints the lease as Vault does', async () => {
    const read = await coffer('read', 'mock/creds/app', 'ttl=1h');
    assert.equal(read.code, 0, read.stderr);
    const out = lines(read.stdout);
    assert.deepEqual(out.slice(0, 2).map((l) => l.split(/\s+/)), [['Key', 'Value'], ['---', '-----']]);
    assert.match(out[2], /^lease_id\s+mock\/creds\/app\/[0-9A-Za-z]{24}$/);
    assert.match(out[3], /^lease_duration\s+1h$/);
    assert.match(out[4], /^lease_renewable\s+true$/);
    assert.deepEqual(out.slice(5).map((l) => l.split(/\s+/)[0]), ['password', 'username']);
    const id = out[2].split(/\s+/)[1];

    const r = await coffer('lease', 'lookup', id);
    assert.equal(r.code, 0, r.stderr);
    const rows = lines(r.stdout).map((l) => l.split(/\s{2,}/));
    assert.deepEqual(rows.map((row) => row[0]), ['Key', '---', 'expire_time', 'id', 'issue_time', 'last_renewal', 'renewable', 'ttl']);
    assert.deepEqual(rows[3], ['id', id]);
    assert.deepEqual(rows[5], ['last_renewal', '<nil>']);
    assert.deepEqual(rows[6], ['renewable', 'true']);
    assert.match(rows[7][1], /^\d+m\d+s$|^1h$/, 'the ttl humanised as a Go duration');

    const json = await coffer('lease', 'lookup', '-format=json', id);
    assert.equal(JSON.parse(json.stdout).data.id, id);

    let missing = await coffer('lease', 'lookup', 'mock/creds/app/nope');
    assert.equal(missing.code, 2);
    assert.deepEqual(lines(missing.stderr), [
      'error looking up lease id mock/creds/app/nope: Error making API request.',
      '',
      `URL: PUT ${server.url}/v1/sys/leases/lookup`,
      'Code: 400. Errors:',
      '',
      '* invalid lease',
    ]);
    missing = await coffer('lease', 'lookup');
    assert.deepEqual([missing.code, missing.stderr], [1, 'Missing ID!\n']);
    missing = await coffer('lease', 'lookup', 'a', 'b');
    assert.deepEqual([missing.code, missing.stderr], [1, 'Too many arguments (expected 1, got 2)\n']);
  });

  it('lease renew prints the new lease; -increment is a duration; a lease that is gone is an error', async () => {
    const id = await issue('renewed');
    let r = await coffer('lease', 'renew', '-increment=2h', id);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).map((l) => l.split(/\s+/)), [['Key', 'Value'], ['---', '-----'], ['lease_id', id], ['lease_duration', '2h'], ['lease_renewable', 'true']]);
    r = await coffer('lease', 'renew', '-format=json', '-increment=90', id);
    const renewed = JSON.parse(r.stdout);
    assert.deepEqual([renewed.lease_id, renewed.lease_duration, renewed.renewable, renewed.data], [id, 90, true, null]);
    assert.notEqual(JSON.parse((await coffer('lease', 'lookup', '-format=json', id)).stdout).data.last_renewal, null);

    r = await coffer('lease', 'renew', '-increment=soon', id);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^invalid value "soon" for flag -increment/);
    r = await coffer('lease', 'renew');
    assert.deepEqual([r.code, r.stderr], [1, 'Missing ID!\n']);
    r = await coffer('lease', 'renew', 'mock/creds/renewed/nope');
    assert.equal(r.code, 2);
    assert.equal(lines(r.stderr)[0], 'Error renewing mock/creds/renewed/nope: Error making API request.');
    assert.equal(lines(r.stderr).at(-1), '* lease not found');
  });

  it('lease revoke: queued by default, -sync and -prefix say what they revoked, -force needs -prefix; each lease revoked once', async () => {
    const queued = await issue('queued');
    let r = await coffer('lease', 'revoke', queued);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'All revocation operations queued successfully!\n', '']);
    await eventually(async () => assert.equal((await revocations())[queued], 1));
    assert.equal((await coffer('lease', 'lookup', queued)).code, 2);

    const now = await issue('now');
    r = await coffer('lease', 'revoke', '-sync', now);
    assert.deepEqual([r.code, r.stdout], [0, `Success! Revoked lease: ${now}\n`]);
    assert.equal((await revocations())[now], 1, '-sync: revoked before the command returned');

    const many = [await issue('many'), await issue('many'), await issue('many')];
    r = await coffer('lease', 'revoke', '-prefix', '-sync', 'mock/creds/many');
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Revoked any leases with prefix: mock/creds/many\n']);
    const counts = await revocations();
    assert.deepEqual(many.map((id) => counts[id]), [1, 1, 1]);

    const prefixed = await issue('prefixed');
    r = await coffer('lease', 'revoke', '-prefix', 'mock/creds/prefixed');
    assert.deepEqual([r.code, r.stdout], [0, 'All revocation operations queued successfully!\n']);
    await eventually(async () => assert.equal((await revocations())[prefixed], 1));

    r = await coffer('lease', 'revoke', '-force', 'mock/creds');
    assert.deepEqual([r.code, r.stdout, r.stderr], [1, '', 'Specifying -force requires also specifying -prefix\n']);
    const forced = await issue('forced');
    r = await coffer('lease', 'revoke', '-f', '-prefix', 'mock/creds/forced');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Success! Force revoked any leases with prefix: mock/creds/forced\n');
    assert.match(r.stderr, /^Warning! Force-removing leases can cause Coffer to become out of sync with\nsecret engines!/);
    assert.equal((await coffer('lease', 'lookup', forced)).code, 2, 'the lease is gone');

    r = await coffer('lease', 'revoke');
    assert.deepEqual([r.code, r.stderr], [1, 'Not enough arguments (expected 1, got 0)\n']);
    r = await coffer('lease', 'revoke', '-prefix', 'mock/creds/x', '-sync');
    assert.deepEqual([r.code, r.stderr], [1, 'Too many arguments (expected 1, got 2)\n'], 'flags come before the ID, as in Go');
    r = await coffer('lease', 'revoke', '-prefix', '-sync', 'mock/creds/forced');
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Revoked any leases with prefix: mock/creds/forced\n'], 'nothing under the prefix is no error');
    r = await coffer('lease');
    assert.equal(r.code, 127);
    assert.match(r.stderr, /^Usage: coffer lease <subcommand>/);
  });
});
