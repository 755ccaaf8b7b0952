import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Cluster } from './support/cluster.js';
import { Collector } from './support/collector.js';
import { eventually } from './support/http.js';
import { REPO_ROOT } from './support/paths.js';

const readLog = (path: string): any[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l))
    : [];

/**
 * Audit on the services as separate processes, two gateways: a device enabled through one is used by both (each
 * writes its own requests), fail closed on each, and the actor of every catalog, mount, policy and audit event.
 */
describe('audit devices on the services as processes', () => {
  let cluster: Cluster;
  let dir: string;
  let root: Record<string, string>;
  let B: string;
  let rootAccessor: string;

  const call = (method: string, path: string, body?: unknown, base?: string) =>
    fetch(`${base ?? cluster.url}/v1/${path}`, { method, headers: root, body: body === undefined ? undefined : JSON.stringify(body) });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coffer-audit-svc-'));
    cluster = await Cluster.create();
    await cluster.startAll();
    await cluster.start('gateway', 'gateway-b');
    B = cluster.urlOf('gateway-b');
    const init = await cluster.initAndUnseal(1, 1);
    root = { 'x-vault-token': init.rootToken };
    rootAccessor = (await (await call('GET', 'auth/token/lookup-self')).json()).data.accessor;
  });

  after(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a file inside the plugin directory of the cluster', async () => {
    const r = await call('PUT', 'sys/audit/evil', { type: 'file', options: { file_path: join(cluster.dir, 'evil') } });
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as any).errors[0], /inside the plugin directory/);
  });

  it('enables a device through one gateway; both write their own requests to it', async () => {
    const logPath = join(dir, 'audit.log');
    assert.equal((await call('PUT', 'sys/audit/file', { type: 'file', options: { file_path: logPath } })).status, 204);
    // Gateway B learns of the device from the stream (the broadcast, or its catch-up timer).
    const viaB = await eventually(async () => {
      const r = await call('GET', 'sys/mounts', undefined, B);
      const id = r.headers.get('x-request-id')!;
      assert.ok(readLog(logPath).some((e) => e.type === 'response' && e.request.id === id), 'gateway B did not record its request');
      return id;
    });
    assert.ok(viaB);
    const viaA = await call('GET', 'sys/mounts');
    const id = viaA.headers.get('x-request-id')!;
    assert.deepEqual(readLog(logPath).filter((e) => e.request.id === id).map((e) => e.type), ['request', 'response']);
  });

  it('fails closed on both gateways while the file cannot be written, runs nothing, and recovers', async () => {
    const logPath = join(dir, 'audit.log');
    rmSync(logPath);
    mkdirSync(logPath);
    for (const base of [cluster.url, B]) {
      const r = await call('PUT', 'sys/policies/acl/while-failing', { policy: 'path "x" { capabilities = ["read"] }' }, base);
      assert.equal(r.status, 500);
      assert.deepEqual(await r.json(), { errors: ['internal error'] });
      assert.equal((await call('POST', 'sys/mounts/never', { type: 'kv' }, base)).status, 500);
    }
    rmdirSync(logPath);
    assert.equal((await call('GET', 'sys/policies/acl/while-failing')).status, 404);
    assert.equal((await call('GET', 'sys/policies/acl/while-failing', undefined, B)).status, 404);
    const mounts = (await (await call('GET', 'sys/mounts')).json()) as any;
    assert.equal(mounts.data['never/'], undefined);
  });

  it('fails closed when the only device is a socket whose collector stopped, and uses it again when it is back', async () => {
    const collector = await Collector.start();
    assert.equal((await call('PUT', 'sys/audit/socket', { type: 'socket', options: { address: collector.address } })).status, 204);
    assert.equal((await call('DELETE', 'sys/audit/file')).status, 204);
    // Both gateways on the socket only.
    await eventually(async () => {
      const r = await call('GET', 'sys/mounts', undefined, B);
      const id = r.headers.get('x-request-id')!;
      assert.ok(collector.entries().some((e) => e.request.id === id));
    });
    await collector.stop();
    for (const base of [cluster.url, B]) {
      await eventually(async () => assert.equal((await call('GET', 'sys/mounts', undefined, base)).status, 500), 10_000, 100);
      assert.equal((await call('PUT', 'sys/policies/acl/while-down', { policy: 'path "x" { capabilities = ["read"] }' }, base)).status, 500);
    }
    await collector.resume();
    for (const base of [cluster.url, B]) {
      await eventually(async () => assert.equal((await call('GET', 'sys/mounts', undefined, base)).status, 200), 10_000, 100);
    }
    assert.equal((await call('GET', 'sys/policies/acl/while-down')).status, 404);
    assert.equal(collector.entries().some((e) => e.request.path === 'sys/policies/acl/while-down' && e.request.operation === 'update'), false);
    assert.equal((await call('DELETE', 'sys/audit/socket')).status, 204);
    await collector.stop();
  });

  it('records the actor (request id, accessor) of catalog, mount, policy and audit events', async () => {
    const ids: Record<string, string> = {};
    const track = async (name: string, r: Promise<Response>, status: number) => {
      const res = await r;
      assert.equal(res.status, status, `${name}: ${await res.clone().text()}`);
      ids[name] = res.headers.get('x-request-id')!;
    };
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(cluster.dir, 'actor-plugin'));
    chmodSync(join(cluster.dir, 'actor-plugin'), 0o755);
    const sha = createHash('sha256').update(readFileSync(join(cluster.dir, 'actor-plugin'))).digest('hex');
    await track('register', call('PUT', 'sys/plugins/catalog/secret/actor-plugin', { sha256: sha, command: 'actor-plugin' }), 204);
    await track('policy', call('PUT', 'sys/policies/acl/actor-test', { policy: 'path "x" { capabilities = ["read"] }' }), 204);
    await track('mount', call('POST', 'sys/mounts/actor-kv', { type: 'actor-plugin' }), 204);
    await track('tune', call('POST', 'sys/mounts/actor-kv/tune', { description: 'tuned' }), 204);
    await track('unmount', call('DELETE', 'sys/mounts/actor-kv'), 204);
    // The probe learnt the plugin's version (the mock plugin's); deregistration names it.
    await track('deregister', call('DELETE', `sys/plugins/catalog/secret/actor-plugin?version=${encodeURIComponent('v0.0.0+mock')}`), 204);
    await track('audit', call('PUT', 'sys/audit/actor', { type: 'file', options: { file_path: 'discard' } }), 204);
    const client = new pg.Client({ connectionString: cluster.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query(`SELECT stream, type, metadata FROM coffer_events ORDER BY position`);
      const find = (type: string) => rows.filter((r) => r.type === type).at(-1)?.metadata;
      const expect = (type: string, name: string) =>
        assert.deepEqual({ requestId: find(type)?.requestId, actorAccessor: find(type)?.actorAccessor }, { requestId: ids[name], actorAccessor: rootAccessor }, type);
      expect('PolicyWritten', 'policy');
      expect('MountEnabled', 'mount');
      expect('MountTuned', 'tune');
      expect('MountDisabled', 'unmount');
      expect('AuditDeviceEnabled', 'audit');
      // The token is never in the metadata, only its accessor.
      assert.equal(JSON.stringify(rows.map((r) => r.metadata)).includes(root['x-vault-token']), false);
      expect('PluginRegistered', 'register');
      expect('PluginDeregistered', 'deregister');
    } finally {
      await client.end();
    }
  });
});
