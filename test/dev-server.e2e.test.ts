import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startDevServer, type DevServer } from './support/dev-server.js';
import { rawRequest } from './support/http.js';

/** `coffer server -dev`: one process, embedded store, in-process bus, and the same API. */
describe('coffer server -dev', () => {
  let server: DevServer;
  let url: string;
  let output = '';

  before(async () => {
    server = await startDevServer();
    url = server.url;
    output = server.output();
  });

  after(() => server?.stop());

  it('prints where it listens, its unseal key and root token, as Vault\'s dev server does', () => {
    assert.match(output, new RegExp(`Api Address: ${url.replace(/[.]/g, '\\.')}`));
    assert.match(output, /export VAULT_ADDR='http:\/\/127\.0\.0\.1:\d+'/);
    assert.match(output, /Unseal Key: [A-Za-z0-9+/]{43}=/);
    assert.match(output, /Root Token: hvs\.[A-Za-z0-9]{24}/);
  });

  it('starts initialized and unsealed, and its root token works', async () => {
    const token = /Root Token: (\S+)/.exec(output)![1];
    const seal = await (await fetch(`${url}/v1/sys/seal-status`)).json();
    assert.equal(seal.initialized, true);
    assert.equal(seal.sealed, false);
    const self = await fetch(`${url}/v1/auth/token/lookup-self`, { headers: { 'x-vault-token': token } });
    assert.equal(self.status, 200);
    assert.deepEqual((await self.json()).data.policies, ['root']);
  });

  it('answers sys/health and sys/seal-status through the in-process bus', async () => {
    const health = await fetch(`${url}/v1/sys/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).sealed, false);
    const seal = await (await fetch(`${url}/v1/sys/seal-status`)).json();
    assert.equal(seal.storage_type, 'pglite');
  });

  it('accepts LIST and answers from the embedded store', async () => {
    const token = /Root Token: (\S+)/.exec(output)![1];
    const r = await rawRequest(url, 'LIST', '/v1/sys/policies/acl', undefined, { 'x-vault-token': token });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json().data, { keys: ['default'] });
  });

  it('registers the built plugins and serves a mount of one from its embedded store', async () => {
    const token = { 'x-vault-token': /Root Token: (\S+)/.exec(output)![1] };
    const catalog = await (await fetch(`${url}/v1/sys/plugins/catalog`, { headers: token })).json();
    assert.ok(catalog.data.secret.includes('mock-plugin'), JSON.stringify(catalog.data));
    assert.ok(catalog.data.auth.includes('userpass'));
    const enabled = await fetch(`${url}/v1/sys/mounts/mock`, { method: 'POST', headers: token, body: JSON.stringify({ type: 'mock-plugin' }) });
    assert.equal(enabled.status, 204);
    const written = await fetch(`${url}/v1/mock/kv/foo`, { method: 'PUT', headers: token, body: JSON.stringify({ value: 'bar' }) });
    assert.deepEqual((await written.json()).data, { value: 'bar' });
    assert.deepEqual((await (await fetch(`${url}/v1/mock/kv/foo`, { headers: token })).json()).data, { value: 'bar', version: 0 });
  });

  it('refuses malformed input and keeps serving', async () => {
    const bad = await rawRequest(url, 'PUT', '/v1/sys/plugins/catalog', 'not json', { 'content-type': 'application/json' });
    assert.equal(bad.status, 400);
    assert.equal((await fetch(`${url}/v1/sys/health`)).status, 200);
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
  });
});
