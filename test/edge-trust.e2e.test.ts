import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer, type DevServer } from './support/dev-server.js';
import { rawRequest, type RawResponse } from './support/http.js';

/**
 * Trust at the edge (issue 10, items 1, 2, 3 and 6), tried as an attacker would, against `coffer server -dev` as a
 * process: each test is the attack, refused with Vault's status and text, and the server keeps serving.
 */
describe('edge trust: no crafted request or plugin raises its privileges', () => {
  let server: DevServer;
  let root: string;

  const call = (method: string, path: string, body?: unknown, token = root, headers: Record<string, string> = {}): Promise<RawResponse> =>
    rawRequest(server.url, method, `/v1/${path}`, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), {
      ...(token ? { 'x-vault-token': token } : {}),
      ...headers,
    });

  const ok = async (method: string, path: string, body?: unknown, token = root) => {
    const r = await call(method, path, body, token);
    assert.ok(r.status === 200 || r.status === 204, `${method} ${path}: ${r.status} ${r.body}`);
    return r;
  };

  async function tokenWith(policies: string[]): Promise<{ token: string; accessor: string }> {
    const r = await ok('POST', 'auth/token/create', { policies, no_default_policy: true });
    return { token: r.json().auth.client_token, accessor: r.json().auth.accessor };
  }

  async function stillServing() {
    const health = await call('GET', 'sys/health', undefined, '');
    assert.equal(health.status, 200);
    assert.equal((await call('GET', 'auth/token/lookup-self')).status, 200);
  }

  before(async () => {
    server = await startDevServer();
    root = server.rootToken;
    await ok('POST', 'sys/auth/userpass', { type: 'userpass' });
    await ok('POST', 'sys/mounts/mock', { type: 'mock-plugin' });
  });

  after(() => server?.stop());

  describe('token issuance: one rule for every token issued', () => {
    before(async () => {
      await ok('PUT', 'sys/policies/acl/userpass-admin', { policy: 'path "auth/userpass/users/*" { capabilities = ["create", "update"] }' });
    });

    it('a user whose policies say root may be stored, but its login fails 400 and issues no token', async () => {
      const admin = await tokenWith(['userpass-admin']);
      // Storing such a user succeeds, as in Vault: the login is where the rule bites.
      assert.equal((await call('POST', 'auth/userpass/users/evil', { password: 'pw1', policies: 'root' }, admin.token)).status, 204);
      const login = await call('POST', 'auth/userpass/login/evil', { password: 'pw1' }, '');
      assert.equal(login.status, 400, login.body);
      assert.deepEqual(login.json(), { errors: ['auth methods cannot create root tokens'] });
      // Any spelling the token store would fold into root is root too.
      await ok('POST', 'auth/userpass/users/evil2', { password: 'pw1', policies: ' ROOT ' }, admin.token);
      const folded = await call('POST', 'auth/userpass/login/evil2', { password: 'pw1' }, '');
      assert.equal(folded.status, 400, folded.body);
      assert.deepEqual(folded.json(), { errors: ['auth methods cannot create root tokens'] });
      await stillServing();
    });

    for (const policy of ['response-wrapping', 'control-group']) {
      it(`a login that would carry ${policy} fails 400 with Vault's text`, async () => {
        await ok('POST', `auth/userpass/users/${policy}-user`, { password: 'pw1', policies: `default,${policy}` });
        const login = await call('POST', `auth/userpass/login/${policy}-user`, { password: 'pw1' }, '');
        assert.equal(login.status, 400, login.body);
        assert.deepEqual(login.json(), { errors: [`cannot assign policy "${policy}"`] });
      });
    }

    it('token create refuses the reserved policies too, even for root', async () => {
      const r = await call('POST', 'auth/token/create', { policies: ['response-wrapping'] });
      assert.equal(r.status, 400);
      assert.deepEqual(r.json(), { errors: ['cannot assign policy "response-wrapping"'] });
    });

    it('an ordinary login still works and gets its policies plus default', async () => {
      await ok('POST', 'auth/userpass/users/plain', { password: 'pw1', policies: 'userpass-admin' });
      const login = await call('POST', 'auth/userpass/login/plain', { password: 'pw1' }, '');
      assert.equal(login.status, 200, login.body);
      assert.deepEqual(login.json().auth.policies, ['default', 'userpass-admin']);
    });
  });

  describe('the ACL sees what the handler sees: query parameters', () => {
    let self: { token: string; accessor: string };
    let victim: { token: string; accessor: string };

    before(async () => {
      victim = await tokenWith(['userpass-admin']);
      self = await tokenWith(['lookup-own']);
      // Only the caller's own token may be named: allowed_parameters is the whole defence here.
      await ok('PUT', 'sys/policies/acl/lookup-own', {
        policy: `
          path "auth/token/lookup" {
            capabilities = ["read", "update"]
            allowed_parameters = { "token" = ["${self.token}"] }
          }
          path "auth/token/renew" {
            capabilities = ["update"]
            allowed_parameters = { "token" = ["${self.token}"] }
          }
          path "auth/token/revoke" {
            capabilities = ["update"]
            allowed_parameters = { "token" = ["${self.token}"] }
          }
          path "auth/token/lookup-accessor" {
            capabilities = ["update"]
            allowed_parameters = { "accessor" = ["${self.accessor}"] }
          }
        `,
      });
    });

    it('the body naming the victim is refused (this held before)', async () => {
      const r = await call('POST', 'auth/token/lookup', { token: victim.token }, self.token);
      assert.equal(r.status, 403);
    });

    it('GET with ?token=<victim> is refused: for reads the query is the request data the ACL checks', async () => {
      const r = await call('GET', `auth/token/lookup?token=${encodeURIComponent(victim.token)}`, undefined, self.token);
      assert.equal(r.status, 403, r.body);
      assert.ok(!r.body.includes(victim.accessor));
      const own = await call('GET', `auth/token/lookup?token=${encodeURIComponent(self.token)}`, undefined, self.token);
      assert.equal(own.status, 200, own.body);
      assert.equal(own.json().data.accessor, self.accessor);
    });

    it('POST with ?token=<victim> never reaches the victim: for writes the query is not request data', async () => {
      const r = await call('POST', `auth/token/lookup?token=${encodeURIComponent(victim.token)}`, undefined, self.token);
      assert.ok(!r.body.includes(victim.accessor), r.body);
      const renew = await call('POST', `auth/token/renew?token=${encodeURIComponent(victim.token)}`, undefined, self.token);
      assert.equal(renew.status, 400, renew.body);
      assert.ok(!renew.body.includes(victim.accessor));
      const accessor = await call('POST', `auth/token/lookup-accessor?accessor=${victim.accessor}`, undefined, self.token);
      assert.equal(accessor.status, 400, accessor.body);
      const revoke = await call('POST', `auth/token/revoke?token=${encodeURIComponent(victim.token)}`, undefined, self.token);
      assert.equal(revoke.status, 400, revoke.body);
      // The victim is alive and unchanged.
      const alive = await call('POST', 'auth/token/lookup', { token: victim.token });
      assert.equal(alive.status, 200, alive.body);
      assert.equal(alive.json().data.accessor, victim.accessor);
      await stillServing();
    });
  });

  describe('names are normalized before the ACL', () => {
    const adminPolicy = 'path "secret/*" { capabilities = ["read"] }';
    let editor: string;

    before(async () => {
      await ok('PUT', 'sys/policies/acl/admin', { policy: adminPolicy });
      await ok('PUT', 'sys/policies/acl/policy-editor', {
        policy: `
          path "sys/policies/acl/*" { capabilities = ["create", "read", "update", "delete", "list"] }
          path "sys/policies/acl/admin" { capabilities = ["deny"] }
          path "auth/userpass/users/*" { capabilities = ["create", "update", "read"] }
          path "auth/userpass/users/admin" { capabilities = ["deny"] }
        `,
      });
      editor = (await tokenWith(['policy-editor'])).token;
      await ok('POST', 'auth/userpass/users/admin', { password: 'admins-own', policies: 'admin' });
    });

    for (const name of ['admin', 'ADMIN', 'admin%20', 'Admin%09', '%20admin']) {
      it(`a deny on sys/policies/acl/admin also denies writing ${name}`, async () => {
        const r = await call('PUT', `sys/policies/acl/${name}`, { policy: 'path "*" { capabilities = ["sudo", "read", "update"] }' }, editor);
        assert.equal(r.status, 403, r.body);
        const read = await call('GET', 'sys/policies/acl/admin');
        assert.equal(read.json().data.policy, adminPolicy);
        const del = await call('DELETE', `sys/policies/acl/${name}`, undefined, editor);
        assert.equal(del.status, 403, del.body);
      });
    }

    it('other names under the allowed prefix still work for the editor', async () => {
      assert.equal((await call('PUT', 'sys/policies/acl/Team-A', { policy: adminPolicy }, editor)).status, 204);
      assert.equal((await call('GET', 'sys/policies/acl/team-a', undefined, editor)).status, 200);
    });

    it("a deny on userpass users/admin also denies users/ADMIN: admin's password is not reset", async () => {
      const r = await call('POST', 'auth/userpass/users/ADMIN', { password: 'attacker' }, editor);
      assert.equal(r.status, 403, r.body);
      const stolen = await call('POST', 'auth/userpass/login/admin', { password: 'attacker' }, '');
      assert.equal(stolen.status, 400, stolen.body);
      const own = await call('POST', 'auth/userpass/login/admin', { password: 'admins-own' }, '');
      assert.equal(own.status, 200, own.body);
      // Mixed-case names the editor may touch still reach the same (lower-case) user.
      assert.equal((await call('POST', 'auth/userpass/users/Bob', { password: 'bobs' }, editor)).status, 204);
      assert.equal((await call('POST', 'auth/userpass/login/bob', { password: 'bobs' }, '')).status, 200);
    });
  });

  describe('JSON request limits (Vault listener defaults)', () => {
    it('a body nested 10k levels deep is a 400 before any handler, logged at warn without a stack', async () => {
      const before = server.output().length;
      const deep = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
      for (const path of ['sys/policies/acl/deep', 'auth/userpass/login/deep', 'mock/kv/deep']) {
        const r = await call('PUT', path, deep, path.startsWith('auth/userpass/login') ? '' : root);
        assert.equal(r.status, 400, `${path}: ${r.body}`);
        assert.match(r.json().errors[0], /JSON input exceeded maximum nesting depth of 500/);
      }
      const arrays = '['.repeat(10_000) + ']'.repeat(10_000);
      const r = await call('PUT', 'sys/policies/acl/deep', `{"policy":${arrays}}`);
      assert.equal(r.status, 400, r.body);
      await stillServing();
      const logged = server.output().slice(before);
      assert.doesNotMatch(logged, /RangeError|Maximum call stack|\n\s+at /);
      assert.match(logged, /"level":(40|"warn")[^\n]*JSON input exceeded maximum nesting depth/);
      assert.equal((await call('GET', 'sys/policies/acl/deep')).status, 404);
    });

    it('too many object entries, array elements or too long a string are refused the same way', async () => {
      const entries = `{${Array.from({ length: 10_001 }, (_, i) => `"k${i}":1`).join(',')}}`;
      const many = await call('PUT', 'sys/policies/acl/wide', entries);
      assert.equal(many.status, 400, many.body.slice(0, 200));
      assert.match(many.json().errors[0], /JSON object exceeded maximum entry count of 10000/);
      const elements = `{"policy":[${Array.from({ length: 10_001 }, () => '1').join(',')}]}`;
      const array = await call('PUT', 'sys/policies/acl/wide', elements);
      assert.equal(array.status, 400);
      assert.match(array.json().errors[0], /JSON array exceeded maximum element count of 10000/);
      const long = await call('PUT', 'sys/policies/acl/wide', `{"policy":"${'x'.repeat(1024 * 1024 + 1)}"}`);
      assert.equal(long.status, 400);
      assert.match(long.json().errors[0], /JSON string value exceeded maximum length of 1048576/);
      await stillServing();
    });
  });
});
