import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NatsBus } from '#bus';
import { subjects, type PluginRegisteredV1 } from '#contracts';
import { EventStore, connectWithRetry, createDataSource, jsonCodec } from '#event-store';
import { createLogger } from '#runtime';
import type { DataSource } from 'typeorm';
import { Cluster } from './support/cluster.js';
import { eventually, rawRequest } from './support/http.js';

/**
 * The four services as four OS processes against the real Postgres and NATS: health crosses the bus, a killed
 * service rebuilds its projection from the events, two instances share the work, LIST reaches the gateway.
 */
describe('services as separate processes', () => {
  let cluster: Cluster;
  let dataSource: DataSource;
  let events: EventStore;
  let bus: NatsBus;

  before(async () => {
    cluster = await Cluster.create();
    await cluster.startAll();
    dataSource = await connectWithRetry(createDataSource({ url: cluster.databaseUrl, poolSize: 2 }), { attempts: 3 });
    events = new EventStore(dataSource, jsonCodec);
    bus = await NatsBus.connect({ url: cluster.natsUrl, name: 'e2e-writer', log: createLogger('test', 'silent') });
  });

  after(async () => {
    await bus?.close();
    await dataSource?.destroy();
    await cluster?.stop();
  });

  /** Registers catalog entries the way the catalog service will: append, then announce. */
  async function register(names: string[]): Promise<void> {
    const version = await events.version('plugin-catalog');
    const data = names.map(
      (name): PluginRegisteredV1 => ({ v: 1, type: 'secret', name, version: '', sha256: 'a'.repeat(64), command: name, args: [], env: [] }),
    );
    const r = await events.append('plugin-catalog', version, data.map((d) => ({ type: 'PluginRegistered', data: d })));
    bus.publish(subjects.streamAppended('plugin-catalog'), { stream: 'plugin-catalog', version: r.toVersion, position: String(r.position) });
    await bus.flush();
  }

  it('answers sys/health through the gateway in Vault\'s shape, asking every service', async () => {
    const res = await cluster.fetch('/v1/sys/health');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = await res.json();
    for (const key of ['initialized', 'sealed', 'standby', 'performance_standby', 'replication_performance_mode', 'replication_dr_mode', 'server_time_utc', 'version']) {
      assert.ok(key in body, `health has ${key}`);
    }
    assert.equal(body.sealed, false);
    assert.equal(typeof body.server_time_utc, 'number');
  });

  it('honours health query codes and rejects a bad one', async () => {
    assert.equal((await cluster.fetch('/v1/sys/health?activecode=299')).status, 299);
    const bad = await cluster.fetch('/v1/sys/health?sealedcode=abc');
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).errors[0], /sealedcode/);
    const head = await rawRequest(cluster.url, 'HEAD', '/v1/sys/health');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  it('answers sys/seal-status in Vault\'s shape', async () => {
    const res = await cluster.fetch('/v1/sys/seal-status');
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.type, 'shamir');
    for (const key of ['initialized', 'sealed', 't', 'n', 'progress', 'nonce', 'version', 'build_date', 'migration', 'recovery_seal', 'storage_type']) {
      assert.ok(key in body, `seal-status has ${key}`);
    }
    assert.equal(body.storage_type, 'postgresql');
  });

  it('accepts the LIST verb (which Node\'s parser refuses) and answers from the catalog over the bus', async () => {
    const empty = await rawRequest(cluster.url, 'LIST', '/v1/sys/plugins/catalog/secret');
    assert.equal(empty.status, 404);
    assert.deepEqual(empty.json(), { errors: [] });

    await register(['kv-one', 'kv-two']);
    const listed = await eventually(async () => {
      const r = await rawRequest(cluster.url, 'LIST', '/v1/sys/plugins/catalog/secret');
      assert.equal(r.status, 200, r.body);
      return r.json();
    });
    assert.deepEqual(listed.data, { keys: ['kv-one', 'kv-two'] });
    assert.equal(typeof listed.request_id, 'string');

    const viaQuery = await cluster.fetch('/v1/sys/plugins/catalog/secret?list=true');
    assert.deepEqual((await viaQuery.json()).data, { keys: ['kv-one', 'kv-two'] });
    const all = await (await cluster.fetch('/v1/sys/plugins/catalog')).json();
    assert.deepEqual(all.data.secret, ['kv-one', 'kv-two']);
    assert.equal(all.data.detailed.length, 2);
  });

  it('answers bad requests in Vault\'s error shape and keeps serving', async () => {
    const unknown = await cluster.fetch('/v1/secret/foo');
    assert.equal(unknown.status, 404);
    assert.deepEqual(await unknown.json(), { errors: ['no handler for route "secret/foo". route entry not found.'] });

    const outside = await cluster.fetch('/nope');
    assert.equal(outside.status, 404);
    assert.deepEqual(await outside.json(), { errors: [] });

    const badJson = await rawRequest(cluster.url, 'POST', '/v1/sys/plugins/catalog', '{"broken":', { 'content-type': 'application/json' });
    assert.equal(badJson.status, 400);
    assert.deepEqual(badJson.json(), { errors: ['error parsing JSON'] });

    const notObject = await rawRequest(cluster.url, 'PUT', '/v1/sys/plugins/catalog', '[1,2]', { 'content-type': 'application/json' });
    assert.equal(notObject.status, 400);

    const wrongVerb = await rawRequest(cluster.url, 'DELETE', '/v1/sys/seal-status');
    assert.equal(wrongVerb.status, 405);

    const traversal = await rawRequest(cluster.url, 'GET', '/v1/secret/%2e%2e/sys/health');
    assert.equal(traversal.status, 400);
    assert.deepEqual(traversal.json(), { errors: ['invalid request path'] });

    // The cluster's listener sets max_request_size = 65536.
    const oversized = await rawRequest(cluster.url, 'PUT', '/v1/secret/big', `{"v":"${'a'.repeat(70_000)}"}`, { 'content-type': 'application/json' });
    assert.equal(oversized.status, 413);
    assert.deepEqual(oversized.json(), { errors: ['http: request body too large'] });

    const webdav = await rawRequest(cluster.url, 'PROPFIND', '/v1/sys/health');
    assert.equal(webdav.status, 405);
    assert.deepEqual(webdav.json(), { errors: [] });

    assert.equal((await cluster.fetch('/v1/sys/health')).status, 200, 'still serving');
  });

  it('rebuilds a killed service\'s projection from the events when it starts again', async () => {
    await register(['kv-three']);
    const before = await eventually(async () => {
      const s = await cluster.status('catalog');
      assert.equal(s.projections['plugin-catalog']?.entries, 3);
      return s;
    });
    const oldPid = before.pid;
    await cluster.kill('catalog');
    await cluster.start('catalog');
    const after = await cluster.status('catalog');
    assert.notEqual(after.pid, oldPid, 'a new process answers');
    assert.deepEqual(after.projections['plugin-catalog'], before.projections['plugin-catalog']);
    const r = await rawRequest(cluster.url, 'LIST', '/v1/sys/plugins/catalog/secret');
    assert.deepEqual(r.json().data.keys, ['kv-one', 'kv-three', 'kv-two']);
  });

  it('shares requests between two instances of a service through the queue group', async () => {
    await cluster.start('catalog', 'catalog-2');
    const instances = new Set<string>();
    for (let i = 0; i < 30 && instances.size < 2; i++) instances.add((await cluster.status('catalog')).instance);
    assert.equal(instances.size, 2, 'both catalog instances answered');
    // Both replayed the same stream, so whichever answers, the catalog is the same.
    const a = await rawRequest(cluster.url, 'LIST', '/v1/sys/plugins/catalog/secret');
    const b = await rawRequest(cluster.url, 'LIST', '/v1/sys/plugins/catalog/secret');
    assert.deepEqual(a.json().data, b.json().data);
    await cluster.kill('catalog-2', 'SIGTERM');
  });

  it('stops cleanly on SIGTERM', async () => {
    const code = await cluster.kill('plugin-runner', 'SIGTERM');
    assert.equal(code, 0);
    assert.match(cluster.logOf('plugin-runner'), /"msg":"stopped"/);
    const res = await cluster.fetch('/v1/sys/health');
    assert.equal(res.status, 503, 'health notices a missing service');
    assert.match((await res.json()).errors[0], /plugin-runner/);
    await cluster.start('plugin-runner');
    assert.equal((await cluster.fetch('/v1/sys/health')).status, 200);
  });
});
