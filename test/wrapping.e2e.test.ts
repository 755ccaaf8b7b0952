import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer, type DevServer } from './support/dev-server.js';
import { rawRequest, type RawResponse } from './support/http.js';

/** Vault's response wrapping (`X-Vault-Wrap-TTL`, `sys/wrapping/*`) against `coffer server -dev` as a process. */
describe('response wrapping', () => {
  let server: DevServer;
  let root: string;

  const call = (method: string, path: string, body?: unknown, token = root, headers: Record<string, string> = {}): Promise<RawResponse> =>
    rawRequest(server.url, method, `/v1/${path}`, body === undefined ? undefined : JSON.stringify(body), {
      ...(token ? { 'x-vault-token': token } : {}),
      ...headers,
    });
  const wrapped = (ttl: string) => ({ 'x-vault-wrap-ttl': ttl });

  before(async () => {
    server = await startDevServer();
    root = server.rootToken;
    assert.equal((await call('POST', 'sys/mounts/mock', { type: 'mock-plugin' })).status, 204);
    assert.ok([200, 204].includes((await call('PUT', 'mock/kv/app', { value: 'the-secret' })).status));
    assert.equal((await call('POST', 'sys/auth/userpass', { type: 'userpass' })).status, 204);
    assert.equal((await call('POST', 'auth/userpass/users/alice', { password: 'pw1', policies: 'default' })).status, 204);
  });

  after(() => server?.stop());

  it('sys/wrapping/wrap answers wrap_info only; the wrapping token unwraps once, to the data', async () => {
    const r = await call('POST', 'sys/wrapping/wrap', { secret: 's3' }, root, wrapped('60s'));
    assert.equal(r.status, 200, r.body);
    const body = r.json();
    assert.equal(body.data, null);
    assert.equal(body.auth, null);
    const info = body.wrap_info;
    assert.match(info.token, /^hvs\./);
    assert.equal(info.ttl, 60);
    assert.equal(info.creation_path, 'sys/wrapping/wrap');
    assert.ok(info.accessor && info.creation_time);

    // Its only policy is response-wrapping, with one use; looking it up costs nothing.
    const looked = await call('POST', 'auth/token/lookup', { token: info.token });
    assert.deepEqual(looked.json().data.policies, ['response-wrapping']);
    assert.equal(looked.json().data.num_uses, 1);
    const meta = await call('POST', 'sys/wrapping/lookup', { token: info.token }, '');
    assert.equal(meta.status, 200, meta.body);
    assert.equal(meta.json().data.creation_path, 'sys/wrapping/wrap');
    assert.equal(meta.json().data.creation_ttl, 60);

    // The wrapping token may do nothing but unwrap.
    const unwrap = await call('POST', 'sys/wrapping/unwrap', undefined, info.token);
    assert.equal(unwrap.status, 200, unwrap.body);
    assert.deepEqual(unwrap.json().data, { secret: 's3' });
    // Single use: a second unwrap, by the token or naming it, fails.
    assert.equal((await call('POST', 'sys/wrapping/unwrap', undefined, info.token)).status, 403);
    const again = await call('POST', 'sys/wrapping/unwrap', { token: info.token });
    assert.equal(again.status, 400);
    assert.deepEqual(again.json(), { errors: ['wrapping token is not valid or does not exist'] });
  });

  it('a wrapping token cannot read anything: its policy is response-wrapping alone', async () => {
    const info = (await call('POST', 'sys/wrapping/wrap', { x: 1 }, root, wrapped('60'))).json().wrap_info;
    assert.equal((await call('GET', 'mock/kv/app', undefined, info.token)).status, 403);
  });

  it('wraps a plugin read; another token unwraps it by naming the wrapping token', async () => {
    const r = await call('GET', 'mock/kv/app', undefined, root, wrapped('2m'));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json().data, null);
    const info = r.json().wrap_info;
    assert.equal(info.ttl, 120);
    assert.equal(info.creation_path, 'mock/kv/app');
    const unwrap = await call('POST', 'sys/wrapping/unwrap', { token: info.token });
    assert.equal(unwrap.status, 200, unwrap.body);
    assert.equal(unwrap.json().data.value, 'the-secret');
  });

  it('wraps a login: the token is issued (under the issuance rule) and only the unwrapper sees it', async () => {
    const r = await call('POST', 'auth/userpass/login/alice', { password: 'pw1' }, '', wrapped('60'));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json().auth, null);
    const info = r.json().wrap_info;
    assert.ok(info.wrapped_accessor);
    const unwrap = await call('POST', 'sys/wrapping/unwrap', undefined, info.token);
    assert.equal(unwrap.status, 200, unwrap.body);
    const auth = unwrap.json().auth;
    assert.equal(auth.accessor, info.wrapped_accessor);
    assert.equal((await call('GET', 'auth/token/lookup-self', undefined, auth.client_token)).status, 200);
  });

  it('rewrap gives a new wrapping token for the same response; the old one is spent', async () => {
    const info = (await call('POST', 'sys/wrapping/wrap', { n: 'v' }, root, wrapped('90'))).json().wrap_info;
    const r = await call('POST', 'sys/wrapping/rewrap', { token: info.token });
    assert.equal(r.status, 200, r.body);
    const fresh = r.json().wrap_info;
    assert.notEqual(fresh.token, info.token);
    assert.equal(fresh.ttl, 90);
    assert.equal((await call('POST', 'sys/wrapping/lookup', { token: info.token }, '')).status, 400);
    assert.deepEqual((await call('POST', 'sys/wrapping/unwrap', { token: fresh.token })).json().data, { n: 'v' });
  });

  it("holds the ACL's min_wrapping_ttl and max_wrapping_ttl", async () => {
    const policy = `
      path "mock/kv/*" {
        capabilities = ["read"]
        min_wrapping_ttl = "30s"
        max_wrapping_ttl = "90s"
      }
    `;
    assert.equal((await call('PUT', 'sys/policies/acl/wrapped-reads', { policy })).status, 204);
    const token = (await call('POST', 'auth/token/create', { policies: ['wrapped-reads'] })).json().auth.client_token;
    assert.equal((await call('GET', 'mock/kv/app', undefined, token)).status, 403, 'unwrapped');
    assert.equal((await call('GET', 'mock/kv/app', undefined, token, wrapped('10s'))).status, 403, 'too short');
    assert.equal((await call('GET', 'mock/kv/app', undefined, token, wrapped('5m'))).status, 403, 'too long');
    const ok = await call('GET', 'mock/kv/app', undefined, token, wrapped('60s'));
    assert.equal(ok.status, 200, ok.body);
    assert.ok(ok.json().wrap_info.token);
  });

  it('refuses a bad wrap TTL header, and nobody may hand out the response-wrapping policy', async () => {
    const bad = await call('GET', 'mock/kv/app', undefined, root, wrapped('soon'));
    assert.equal(bad.status, 400);
    const policy = await call('PUT', 'sys/policies/acl/response-wrapping', { policy: 'path "*" { capabilities = ["sudo"] }' });
    assert.equal(policy.status, 400);
    const create = await call('POST', 'auth/token/create', { policies: ['response-wrapping'] });
    assert.equal(create.status, 400);
  });
});
