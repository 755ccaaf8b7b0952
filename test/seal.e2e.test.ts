import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Cluster } from './support/cluster.js';
import { eventually, rawRequest } from './support/http.js';

/**
 * The seal, tokens and ACLs across separate processes: two gateways (A and B), catalog, mount-manager and
 * plugin-runner, on the real Postgres and NATS.
 */
describe('seal, tokens and policies across the cluster', () => {
  let cluster: Cluster;
  let A: string;
  let B: string;
  let keys: string[] = [];
  let rootToken = '';
  const secretsSeen: string[] = [];

  const put = (base: string, path: string, body: unknown, token?: string) =>
    fetch(`${base}/v1/${path}`, { method: 'PUT', body: JSON.stringify(body), headers: token ? { 'x-vault-token': token } : {} });
  const get = (base: string, path: string, token?: string) =>
    fetch(`${base}/v1/${path}`, { headers: token ? { 'x-vault-token': token } : {} });
  const sealStatus = async (base: string) => (await get(base, 'sys/seal-status')).json();

  before(async () => {
    cluster = await Cluster.create();
    await cluster.startAll();
    await cluster.start('gateway', 'gateway-b');
    A = cluster.urlOf('gateway');
    B = cluster.urlOf('gateway-b');
  });

  after(async () => {
    await cluster?.stop();
  });

  it('starts uninitialized: health 501, init false', async () => {
    assert.equal((await get(A, 'sys/health')).status, 501);
    assert.deepEqual(await (await get(A, 'sys/init')).json(), { initialized: false });
    const s = await sealStatus(B);
    assert.equal(s.initialized, false);
    assert.equal(s.sealed, true);
  });

  it('refuses bad init requests with Vault\'s messages', async () => {
    const cases: [unknown, string][] = [
      [{ secret_shares: 0, secret_threshold: 0 }, 'invalid seal configuration: shares must be at least one'],
      [{ secret_shares: 3, secret_threshold: 4 }, 'invalid seal configuration: threshold cannot be larger than shares'],
      [{ secret_shares: 3, secret_threshold: 1 }, 'invalid seal configuration: threshold must be greater than one for multiple shares'],
      [{ secret_shares: 300, secret_threshold: 2 }, 'invalid seal configuration: shares must be less than 256'],
    ];
    for (const [body, message] of cases) {
      const r = await put(A, 'sys/init', body);
      assert.equal(r.status, 400);
      assert.deepEqual(await r.json(), { errors: [message] });
    }
    const malformed = await rawRequest(A, 'PUT', '/v1/sys/init', '{"secret_shares":', { 'content-type': 'application/json' });
    assert.equal(malformed.status, 400);
    assert.equal((await sealStatus(A)).initialized, false, 'nothing was written');
  });

  it('initializes once, through A', async () => {
    const r = await put(A, 'sys/init', { secret_shares: 5, secret_threshold: 3 });
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.keys.length, 5);
    assert.equal(body.keys_base64.length, 5);
    for (const k of body.keys) assert.match(k, /^[0-9a-f]{66}$/);
    assert.match(body.root_token, /^hvs\.[A-Za-z0-9]{24}$/);
    keys = body.keys_base64;
    rootToken = body.root_token;
    secretsSeen.push(rootToken, ...body.keys, ...keys);

    const again = await put(B, 'sys/init', { secret_shares: 1, secret_threshold: 1 });
    assert.equal(again.status, 400);
    assert.deepEqual(await again.json(), { errors: ['Vault is already initialized'] });
    const s = await sealStatus(B);
    assert.deepEqual([s.initialized, s.sealed, s.t, s.n, s.progress], [true, true, 3, 5, 0]);
  });

  it('answers 503 to everything but the seal endpoints while sealed', async () => {
    const r = await get(A, 'sys/policies/acl?list=true', rootToken);
    assert.equal(r.status, 503);
    assert.deepEqual(await r.json(), { errors: ['Vault is sealed'] });
    assert.equal((await get(A, 'sys/health')).status, 503);
    assert.equal((await get(A, 'sys/health?sealedcode=200')).status, 200);
  });

  it('refuses garbage, short, oversized and malformed unseal input without touching the progress', async () => {
    assert.equal((await (await put(A, 'sys/unseal', { key: keys[0] })).json()).progress, 1);
    const nonce = (await sealStatus(A)).nonce;
    assert.match(nonce, /^[0-9a-f-]{36}$/);
    const bad: [unknown, string][] = [
      [{ key: 'not a key!' }, "'key' must be a valid hex or base64 string"],
      [{ key: 'abcd' }, 'invalid key: key is shorter than minimum 16 bytes'],
      [{ key: randomBytes(64).toString('base64') }, 'invalid key: key is longer than maximum 33 bytes'],
      [{}, "'key' must be specified in request body as JSON, or 'reset' set to true"],
      [{ key: 42 }, "'key' must be a valid hex or base64 string"],
    ];
    for (const [body, message] of bad) {
      const r = await put(A, 'sys/unseal', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.deepEqual(await r.json(), { errors: [message] });
    }
    const malformed = await rawRequest(A, 'PUT', '/v1/sys/unseal', '{"key":', { 'content-type': 'application/json' });
    assert.equal(malformed.status, 400);
    const huge = await rawRequest(A, 'PUT', '/v1/sys/unseal', JSON.stringify({ key: 'A'.repeat(70_000) }), { 'content-type': 'application/json' });
    assert.equal(huge.status, 413);
    // A share given twice counts once.
    assert.equal((await (await put(A, 'sys/unseal', { key: keys[0] })).json()).progress, 1);
    const s = await sealStatus(A);
    assert.deepEqual([s.sealed, s.progress, s.nonce], [true, 1, nonce]);
  });

  it('a wrong share fails at the threshold, resets the progress and stays sealed', async () => {
    await put(A, 'sys/unseal', { key: keys[1] });
    const wrong = await put(A, 'sys/unseal', { key: randomBytes(33).toString('base64') });
    assert.equal(wrong.status, 400);
    assert.match((await wrong.json()).errors[0], /^invalid key/);
    const s = await sealStatus(A);
    assert.deepEqual([s.sealed, s.progress, s.nonce], [true, 0, '']);
  });

  it('reset clears the progress', async () => {
    await put(A, 'sys/unseal', { key: keys[2] });
    const r = await put(A, 'sys/unseal', { reset: true });
    assert.equal((await r.json()).progress, 0);
  });

  it('unseals the whole cluster through A, and B answers', async () => {
    for (const k of [keys[4], keys[2]]) assert.equal((await (await put(A, 'sys/unseal', { key: k })).json()).sealed, true);
    const done = await (await put(A, 'sys/unseal', { key: keys[0] })).json();
    assert.equal(done.sealed, false);
    assert.equal(done.progress, 0);
    // B never saw a share: it got the keyring over the bus.
    const listed = await eventually(async () => {
      const r = await rawRequest(B, 'LIST', '/v1/sys/policies/acl', undefined, { 'x-vault-token': rootToken });
      assert.equal(r.status, 200, r.body);
      return r.json();
    });
    assert.deepEqual(listed.data.keys, ['default']);
    assert.equal((await get(B, 'sys/health')).status, 200);
    for (const svc of ['catalog', 'mount-manager', 'plugin-runner'] as const) await eventually(async () => assert.equal((await cluster.status(svc)).sealed, false));
    const again = await put(B, 'sys/unseal', { reset: true });
    assert.equal(again.status, 400);
    assert.deepEqual(await again.json(), { errors: ['vault is unsealed'] });
  });

  let readerToken = '';
  let parentToken = '';
  let childToken = '';

  it('enforces policies: read-only on secret/* cannot read sys/mounts nor write secret/x', async () => {
    const policy = 'path "secret/*" {\n  capabilities = ["read"]\n}\n';
    assert.equal((await put(A, 'sys/policies/acl/secret-reader', { policy }, rootToken)).status, 204);
    const created = await put(B, 'auth/token/create', { policies: ['secret-reader'], ttl: '1h', meta: { owner: 'meta-value-xyz' } }, rootToken);
    assert.equal(created.status, 200);
    const auth = (await created.json()).auth;
    assert.deepEqual(auth.policies, ['default', 'secret-reader']);
    readerToken = auth.client_token;
    secretsSeen.push(readerToken, auth.accessor, 'meta-value-xyz', 'secret-reader');

    const denied = await get(A, 'sys/mounts', readerToken);
    assert.equal(denied.status, 403);
    assert.deepEqual(await denied.json(), { errors: ['1 error occurred:\n\t* permission denied\n\n'] });
    assert.equal((await put(A, 'secret/x', { value: 1 }, readerToken)).status, 403);
    assert.equal((await put(A, 'sys/policies/acl/evil', { policy }, readerToken)).status, 403);
    const read = await get(B, 'secret/x', readerToken);
    assert.equal(read.status, 404, 'the ACL let the read through; nothing is mounted there');
    assert.deepEqual(await read.json(), { errors: ['no handler for route "secret/x". route entry not found.'] });
    const self = await get(A, 'auth/token/lookup-self', readerToken);
    assert.equal(self.status, 200, 'the default policy allows lookup-self');
    const caps = await (await put(A, 'sys/capabilities-self', { paths: ['secret/x', 'sys/mounts'] }, readerToken)).json();
    assert.deepEqual(caps.data['secret/x'], ['read']);
    assert.deepEqual(caps.data['sys/mounts'], ['deny']);
  });

  it('refuses a missing, made-up, revoked or expired token', async () => {
    assert.deepEqual(await (await get(A, 'sys/policies/acl?list=true')).json(), { errors: ['permission denied'] });
    const bogus = await get(A, 'auth/token/lookup-self', 'hvs.' + 'x'.repeat(24));
    assert.equal(bogus.status, 403);
    assert.deepEqual(await bogus.json(), { errors: ['permission denied', 'invalid token'] });

    const shortLived = (await (await put(A, 'auth/token/create', { ttl: '1s' }, rootToken)).json()).auth.client_token;
    await new Promise((r) => setTimeout(r, 2_100));
    assert.equal((await get(A, 'auth/token/lookup-self', shortLived)).status, 403, 'expired');

    const revoked = (await (await put(A, 'auth/token/create', {}, rootToken)).json()).auth.client_token;
    assert.equal((await put(A, 'auth/token/revoke-self', {}, revoked)).status, 204);
    assert.equal((await get(B, 'auth/token/lookup-self', revoked)).status, 403, 'revoked');
  });

  it('revoking a parent revokes its children', async () => {
    const parent = (await (await put(A, 'auth/token/create', { policies: ['secret-reader'] }, rootToken)).json()).auth;
    parentToken = parent.client_token;
    // Creating tokens needs a policy that grants auth/token/create: `creator` does, and may only hand on its own.
    const policy = 'path "auth/token/create" { capabilities = ["update"] }\npath "secret/*" { capabilities = ["read"] }';
    assert.equal((await put(A, 'sys/policies/acl/creator', { policy }, rootToken)).status, 204);
    const creator = (await (await put(A, 'auth/token/create', { policies: ['creator'] }, rootToken)).json()).auth.client_token;
    const child = await put(A, 'auth/token/create', { policies: ['creator'] }, creator);
    assert.equal(child.status, 200);
    childToken = (await child.json()).auth.client_token;
    const grandchild = (await (await put(A, 'auth/token/create', { policies: ['creator'] }, childToken)).json()).auth.client_token;
    assert.equal((await get(A, 'auth/token/lookup-self', grandchild)).status, 200);
    assert.equal((await put(A, 'auth/token/create', { policies: ['secret-reader'] }, creator)).status, 400, 'not a subset of its own');

    assert.equal((await put(B, 'auth/token/revoke', { token: creator }, rootToken)).status, 204);
    for (const t of [creator, childToken, grandchild]) assert.equal((await get(A, 'auth/token/lookup-self', t)).status, 403);
    assert.equal((await get(A, 'auth/token/lookup-self', parentToken)).status, 200, 'an unrelated token lives on');
  });

  it('keeps no token, key, policy or metadata in clear in the raw tables', async () => {
    const db = cluster.databaseName;
    const rows = await adminQueryIn(db, `
      SELECT 'events' AS t, stream || ' ' || type AS a, data AS b, metadata::text AS c FROM coffer_events
      UNION ALL SELECT 'tokens', id_hmac || ' ' || accessor_hmac || ' ' || coalesce(parent_hmac, ''), data, '' FROM coffer_tokens
      UNION ALL SELECT 'seal', cluster_id::text, keyring, '' FROM coffer_seal`);
    // Two policy events, three live tokens (root, reader, parent; revoked ones are gone) and the seal row.
    assert.ok(rows.length >= 6, `scanned ${rows.length} rows`);
    const policyText = 'capabilities = ["read"]';
    for (const row of rows) {
      const haystack = Buffer.concat([Buffer.from(String(row.a)), row.b as Buffer, Buffer.from(String(row.c))]);
      for (const secret of [...secretsSeen, policyText]) {
        assert.ok(!haystack.includes(Buffer.from(secret)), `${row.t} row holds ${secret.slice(0, 12)}…`);
        assert.ok(!haystack.includes(Buffer.from(secret).toString('hex')), `${row.t} row holds hex of ${secret.slice(0, 12)}…`);
      }
    }
  });

  it('seals every process through B; A then answers 503', async () => {
    const noSudo = await put(B, 'sys/seal', {}, readerToken);
    assert.equal(noSudo.status, 403);
    assert.equal((await put(B, 'sys/seal', {}, rootToken)).status, 204);
    await eventually(async () => {
      const r = await get(A, 'sys/policies/acl?list=true', rootToken);
      assert.equal(r.status, 503);
    });
    assert.equal((await sealStatus(A)).sealed, true);
    for (const svc of ['catalog', 'mount-manager', 'plugin-runner'] as const) {
      await eventually(async () => assert.equal((await cluster.status(svc)).sealed, true));
    }
  });

  it('after a restart of every process: sealed, then unsealed through B with the same state', async () => {
    const members = cluster.running();
    for (const m of members) await cluster.kill(m.name);
    for (const m of members) await cluster.start(m.service, m.name);
    const s = await sealStatus(A);
    assert.deepEqual([s.initialized, s.sealed], [true, true]);
    assert.equal((await get(B, 'sys/policies/acl?list=true', rootToken)).status, 503);

    await cluster.unseal([keys[3], keys[1], keys[4]], 'gateway-b');
    const policies = await eventually(async () => {
      const r = await get(A, 'sys/policies/acl?list=true', rootToken);
      assert.equal(r.status, 200);
      return (await r.json()).data.keys;
    });
    assert.deepEqual(policies, ['creator', 'default', 'secret-reader']);
    const policy = await (await get(B, 'sys/policies/acl/secret-reader', rootToken)).json();
    assert.equal(policy.data.policy, 'path "secret/*" {\n  capabilities = ["read"]\n}\n');
    assert.equal((await get(A, 'auth/token/lookup-self', readerToken)).status, 200, 'tokens survive');
    assert.equal((await get(A, 'sys/mounts', readerToken)).status, 403, 'and so do their limits');
    assert.equal((await get(A, 'auth/token/lookup-self', childToken)).status, 403, 'and revocations');
  });
});

async function adminQueryIn(database: string, sql: string): Promise<Record<string, unknown>[]> {
  const { default: pg } = await import('pg');
  const { TEST_DATABASE_URL } = await import('./support/cluster.js');
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}
