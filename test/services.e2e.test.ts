import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './support/cluster.js';
import { eventually, rawRequest } from './support/http.js';

/**
 * The four services as four OS processes against the real Postgres and NATS: health crosses the bus, a killed
 * service rebuilds its projection from the events, two instances share the work, LIST reaches the gateway.
 */
describe('services as separate processes', () => {
  let cluster: Cluster;
  let root: Record<string, string>;

  before(async () => {
    // A build with no builtins: this file looks at an empty catalog (test/kv.e2e.test.ts covers the builtins).
    process.env.COFFER_BUILTIN_PLUGIN_MANIFEST = '/nonexistent/builtin-plugins.json';
    cluster = await Cluster.create();
    await cluster.startAll();
    const { rootToken } = await cluster.initAndUnseal();
    root = { 'x-vault-token': rootToken };
  });

  after(async () => {
    await cluster?.stop();
  });

  async function writePolicy(name: string): Promise<void> {
    const r = await cluster.fetch(`/v1/sys/policies/acl/${name}`, {
      method: 'PUT',
      headers: root,
      body: JSON.stringify({ policy: `path "${name}/*" { capabilities = ["read"] }` }),
    });
    assert.equal(r.status, 204, await r.text());
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
    const empty = await rawRequest(cluster.url, 'LIST', '/v1/sys/plugins/catalog/secret', undefined, root);
    assert.equal(empty.status, 404);
    assert.deepEqual(empty.json(), { errors: [] });
    const all = await (await cluster.fetch('/v1/sys/plugins/catalog', { headers: root })).json();
    assert.deepEqual(all.data.secret, []);

    await writePolicy('kv-one');
    await writePolicy('kv-two');
    const listed = (await rawRequest(cluster.url, 'LIST', '/v1/sys/policies/acl', undefined, root)).json();
    assert.deepEqual(listed.data, { keys: ['default', 'kv-one', 'kv-two'] });
    assert.equal(typeof listed.request_id, 'string');
    const viaQuery = await cluster.fetch('/v1/sys/policies/acl?list=true', { headers: root });
    assert.deepEqual((await viaQuery.json()).data, listed.data);
  });

  it('answers bad requests in Vault\'s error shape and keeps serving', async () => {
    const unknown = await cluster.fetch('/v1/secret/foo', { headers: root });
    assert.equal(unknown.status, 404);
    assert.deepEqual(await unknown.json(), { errors: ['no handler for route "secret/foo". route entry not found.'] });

    const outside = await cluster.fetch('/nope');
    assert.equal(outside.status, 404);
    assert.deepEqual(await outside.json(), { errors: [] });

    const noToken = await cluster.fetch('/v1/secret/foo');
    assert.equal(noToken.status, 403);
    assert.deepEqual(await noToken.json(), { errors: ['permission denied'] });

    const badJson = await rawRequest(cluster.url, 'POST', '/v1/sys/plugins/catalog', '{"broken":', { 'content-type': 'application/json' });
    assert.equal(badJson.status, 400);
    assert.deepEqual(badJson.json(), { errors: ['error parsing JSON'] });

    // A well-formed JSON body, declared as such (as curl -H and every Vault client do), is read by Vault's rules.
    const declared = await rawRequest(cluster.url, 'PUT', '/v1/sys/policies/acl/declared', JSON.stringify({ policy: 'path "x/*" { capabilities = ["read"] }' }), {
      'content-type': 'application/json',
      ...root,
    });
    assert.equal(declared.status, 204, declared.body);
    const form = await rawRequest(cluster.url, 'PUT', '/v1/sys/policies/acl/formed', 'policy=' + encodeURIComponent('path "y/*" { capabilities = ["read"] }'), {
      'content-type': 'application/x-www-form-urlencoded',
      ...root,
    });
    assert.equal(form.status, 204, form.body);

    const notObject = await rawRequest(cluster.url, 'PUT', '/v1/sys/plugins/catalog', '[1,2]', { 'content-type': 'application/json' });
    assert.equal(notObject.status, 400);

    // A PATCH body must be declared a JSON merge patch, as Vault's http/logical.go requires.
    const patchAsJson = await rawRequest(cluster.url, 'PATCH', '/v1/secret/x', '{"a":1}', { 'content-type': 'application/json', ...root });
    assert.equal(patchAsJson.status, 415);
    assert.deepEqual(patchAsJson.json(), { errors: ['PATCH requires Content-Type of application/merge-patch+json, provided application/json'] });
    const patchUntyped = await rawRequest(cluster.url, 'PATCH', '/v1/secret/x', '{"a":1}', root);
    assert.equal(patchUntyped.status, 400);
    assert.deepEqual(patchUntyped.json(), { errors: ['mime: no media type'] });

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
    await writePolicy('kv-three');
    const before = (await rawRequest(cluster.url, 'LIST', '/v1/sys/policies/acl', undefined, root)).json().data.keys;
    assert.deepEqual(before, ['declared', 'default', 'formed', 'kv-one', 'kv-three', 'kv-two']);
    const catalogBefore = await cluster.status('catalog');

    await cluster.kill('gateway');
    await cluster.start('gateway');
    // The new gateway got the keyring from a peer (nobody unsealed it) and replayed the policy stream.
    const after = await eventually(async () => {
      const r = await rawRequest(cluster.url, 'LIST', '/v1/sys/policies/acl', undefined, root);
      assert.equal(r.status, 200, r.body);
      return r.json().data.keys;
    });
    assert.deepEqual(after, before);
    assert.match(cluster.logOf('gateway'), /joined an unsealed cluster/);

    await cluster.kill('catalog');
    await cluster.start('catalog');
    // Ready means connected; the keyring arrives from a peer a moment later.
    const catalogAfter = await eventually(async () => {
      const s = await cluster.status('catalog');
      assert.equal(s.sealed, false);
      assert.deepEqual(s.projections, catalogBefore.projections);
      return s;
    });
    assert.notEqual(catalogAfter.pid, catalogBefore.pid, 'a new process answers');
  });

  it('shares requests between two instances of a service through the queue group', async () => {
    await cluster.start('catalog', 'catalog-2');
    const instances = new Set<string>();
    for (let i = 0; i < 30 && instances.size < 2; i++) instances.add((await cluster.status('catalog')).instance);
    assert.equal(instances.size, 2, 'both catalog instances answered');
    // Both replayed the same stream, so whichever answers, the catalog is the same.
    const a = await cluster.fetch('/v1/sys/plugins/catalog', { headers: root });
    const b = await cluster.fetch('/v1/sys/plugins/catalog', { headers: root });
    assert.deepEqual((await a.json()).data, (await b.json()).data);
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
