import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CofferError } from '#contracts';
import { statusOf, type Operation, type VaultRequest, type VaultResponse } from '../vault-http.js';
import { openTestTokens, type TestTokens } from './testing.js';
import type { CallerToken, TokenStore } from './token-store.js';
import { DEFAULT_POLICY_TOKEN_HCL, TOKEN_ROUTES, type TokenHandlerOptions } from './token.handlers.js';

const AUTH_KEYS = [
  'client_token',
  'accessor',
  'policies',
  'token_policies',
  'metadata',
  'lease_duration',
  'renewable',
  'entity_id',
  'token_type',
  'orphan',
  'mfa_requirement',
  'num_uses',
];

const LOOKUP_KEYS = [
  'accessor',
  'creation_time',
  'creation_ttl',
  'display_name',
  'entity_id',
  'expire_time',
  'explicit_max_ttl',
  'id',
  'issue_time',
  'meta',
  'num_uses',
  'orphan',
  'path',
  'policies',
  'renewable',
  'ttl',
  'type',
];

function request(operation: Operation, path: string, data: Record<string, unknown> = {}, query = ''): VaultRequest {
  return { id: 'req-1', operation, path, data, query: new URLSearchParams(query), headers: {} };
}

type Envelope = Extract<VaultResponse, { kind: 'envelope' }>;

function envelope(response: VaultResponse): Envelope & { auth: Record<string, unknown>; data: Record<string, unknown> } {
  assert.equal(response.kind, 'envelope');
  return response as Envelope & { auth: Record<string, unknown>; data: Record<string, unknown> };
}

/** Vault's status for the error a handler threw, and its message. */
function failure(status: number, message: string) {
  return (err: unknown) => {
    assert.ok(err instanceof CofferError, `expected a CofferError, got ${String(err)}`);
    assert.equal(statusOf(err.code), status);
    assert.equal(err.message, message);
    return true;
  };
}

describe('auth/token/* handlers', () => {
  let t: TestTokens;
  let store: TokenStore;
  let root: CallerToken;
  const sudoPaths = new Set<string>();
  const opts: TokenHandlerOptions = {
    hasSudo: (_caller, path) => sudoPaths.has(path),
    policyExists: (name) => name === 'default' || name === 'web',
  };

  /** The router the lead will write, in miniature: the first pattern that matches, then the operation. */
  function call(caller: CallerToken, req: VaultRequest): Promise<VaultResponse> {
    const route = TOKEN_ROUTES.find((r) => r.pattern.test(req.path));
    assert.ok(route, `no route for ${req.path}`);
    const handler = route.operations[req.operation];
    assert.ok(handler, `${req.path} does not answer ${req.operation}`);
    return handler(req, caller, store, opts);
  }

  async function issue(data: Record<string, unknown>, caller: CallerToken = root): Promise<CallerToken> {
    const auth = envelope(await call(caller, request('update', 'auth/token/create', data))).auth;
    const entry = await store.lookup(auth.client_token as string);
    assert.ok(entry);
    return { ...entry, token: auth.client_token as string };
  }

  before(async () => {
    t = await openTestTokens({ defaultLeaseTtl: 768 * 3600, maxLeaseTtl: 768 * 3600 });
    store = t.store;
    const issued = await store.createRoot();
    root = { ...issued.entry, token: issued.token };
  });
  after(() => t.drop());

  test('create answers Vault\'s auth block, data null, and warns about unknown policies', async () => {
    const response = envelope(
      await call(
        root,
        request('update', 'auth/token/create', {
          policies: ['web', 'stage'],
          meta: { user: 'armon' },
          ttl: '1h',
          renewable: true,
          display_name: 'ci',
        }),
      ),
    );
    assert.equal(response.status, undefined, '200');
    assert.equal(response.data, null);
    assert.deepEqual(Object.keys(response.auth), AUTH_KEYS);
    assert.match(response.auth.client_token as string, /^hvs\.[A-Za-z0-9]{24}$/);
    assert.match(response.auth.accessor as string, /^[A-Za-z0-9]{24}$/);
    assert.deepEqual(response.auth.policies, ['default', 'stage', 'web']);
    assert.deepEqual(response.auth.token_policies, ['default', 'stage', 'web']);
    assert.deepEqual(response.auth.metadata, { user: 'armon' });
    assert.equal(response.auth.lease_duration, 3600);
    assert.equal(response.auth.renewable, true);
    assert.equal(response.auth.entity_id, '');
    assert.equal(response.auth.token_type, 'service');
    assert.equal(response.auth.orphan, false);
    assert.equal(response.auth.mfa_requirement, null);
    assert.equal(response.auth.num_uses, 0);
    assert.deepEqual(response.warnings, ['Policy "stage" does not exist']);
    assert.equal((await store.lookup(response.auth.client_token as string))?.displayName, 'token-ci');
  });

  test('create takes Vault\'s loosely typed fields: numbers as strings, "false", comma lists', async () => {
    const token = await issue({ policies: 'web', num_uses: '3', renewable: 'false', ttl: 600, no_default_policy: 'true' });
    assert.deepEqual(token.policies, ['web']);
    assert.equal(token.numUses, 3);
    assert.equal(token.renewable, false);
    assert.equal(token.ttl, 600);
    await assert.rejects(
      call(root, request('update', 'auth/token/create', { policies: { a: 1 } })),
      failure(400, "Error decoding request: 'policies' expected type '[]string', got unconvertible type 'map[string]interface {}'"),
    );
    await assert.rejects(
      call(root, request('update', 'auth/token/create', { ttl: 'forever' })),
      failure(400, 'time: invalid duration "forever"'),
    );
  });

  test('create-orphan makes an orphan without sudo; no_parent needs it', async () => {
    const web = await issue({ policies: ['web'] });
    const orphan = envelope(await call(web, request('update', 'auth/token/create-orphan', {})));
    assert.equal(orphan.auth.orphan, true);
    assert.equal((await store.lookup(orphan.auth.client_token as string))?.path, 'auth/token/create-orphan');
    await assert.rejects(
      call(web, request('update', 'auth/token/create', { no_parent: true })),
      failure(400, 'root or sudo privileges required to create orphan token'),
    );
    sudoPaths.add('auth/token/create');
    try {
      const made = envelope(await call(web, request('update', 'auth/token/create', { no_parent: true, policies: ['other'] })));
      assert.equal(made.auth.orphan, true);
      assert.deepEqual(made.auth.policies, ['default', 'other'], 'sudo may grant policies the caller lacks');
    } finally {
      sudoPaths.delete('auth/token/create');
    }
    await assert.rejects(
      call(web, request('update', 'auth/token/create', { policies: ['other'] })),
      failure(400, 'child policies must be subset of parent'),
    );
  });

  test('lookup, lookup-self and lookup-accessor answer Vault\'s data; the accessor form hides the id', async () => {
    const token = await issue({ policies: ['web'], ttl: '1h', meta: { team: 'a' } });
    t.advance(60);
    const byBody = envelope(await call(root, request('update', 'auth/token/lookup', { token: token.token })));
    assert.deepEqual(Object.keys(byBody.data), LOOKUP_KEYS);
    assert.equal(byBody.auth, undefined);
    assert.equal(byBody.data.id, token.token);
    assert.equal(byBody.data.accessor, token.accessor);
    assert.equal(byBody.data.ttl, 3540);
    assert.equal(byBody.data.creation_ttl, 3600);
    assert.equal(byBody.data.creation_time, token.creationTime);
    assert.equal(byBody.data.expire_time, token.expireTime);
    assert.equal(byBody.data.issue_time, token.issueTime);
    assert.equal(byBody.data.display_name, 'token');
    assert.equal(byBody.data.explicit_max_ttl, 0);
    assert.deepEqual(byBody.data.meta, { team: 'a' });
    assert.deepEqual(byBody.data.policies, ['default', 'web']);
    assert.equal(byBody.data.path, 'auth/token/create');
    assert.equal(byBody.data.orphan, false);
    assert.equal(byBody.data.renewable, true);
    assert.equal(byBody.data.type, 'service');

    // A GET's query reaches the handler as its data (the parse stage puts it there, where the ACL checked it).
    const byQuery = envelope(await call(root, request('read', 'auth/token/lookup', { token: token.token }, `token=${token.token}`)));
    assert.deepEqual(byQuery.data, byBody.data);
    // The query string itself is never read: data the ACL did not see does not choose the token.
    const queryOnly = envelope(await call(token, request('update', 'auth/token/lookup', {}, 'token=someone-else')));
    assert.deepEqual(queryOnly.data, byBody.data);

    const self = envelope(await call(token, request('read', 'auth/token/lookup-self')));
    assert.deepEqual(self.data, byBody.data);
    const implicit = envelope(await call(token, request('update', 'auth/token/lookup', {})));
    assert.deepEqual(implicit.data, byBody.data, 'lookup without a token is the caller\'s own');

    const byAccessor = envelope(await call(root, request('update', 'auth/token/lookup-accessor', { accessor: token.accessor })));
    assert.deepEqual(byAccessor.data, { ...byBody.data, id: '' });

    const rootLookup = envelope(await call(root, request('read', 'auth/token/lookup-self')));
    assert.equal(rootLookup.data.expire_time, null);
    assert.equal(rootLookup.data.ttl, 0);
    assert.equal(rootLookup.data.creation_ttl, 0);
    assert.equal(rootLookup.data.path, 'auth/token/root');
    assert.equal(rootLookup.data.orphan, true);
    assert.equal(rootLookup.data.meta, null);
  });

  test('lookup errors: a bad token is 403 "bad token"; accessors are 400', async () => {
    await assert.rejects(call(root, request('update', 'auth/token/lookup', { token: 'hvs.nope' })), failure(403, 'bad token'));
    await assert.rejects(call(root, request('update', 'auth/token/lookup-accessor', {})), failure(400, 'missing accessor'));
    await assert.rejects(
      call(root, request('update', 'auth/token/lookup-accessor', { accessor: 'nope' })),
      failure(400, 'invalid accessor'),
    );
  });

  test('renew, renew-self and renew-accessor answer an auth block; the accessor form hides the token', async () => {
    const token = await issue({ policies: ['web'], ttl: '1h' });
    t.advance(600);
    const renewed = envelope(await call(root, request('update', 'auth/token/renew', { token: token.token, increment: '2h' })));
    assert.deepEqual(Object.keys(renewed.auth), AUTH_KEYS);
    assert.equal(renewed.data, null);
    assert.equal(renewed.auth.client_token, token.token);
    assert.equal(renewed.auth.lease_duration, 7200);
    assert.deepEqual(renewed.warnings, []);
    const afterRenew = envelope(await call(root, request('update', 'auth/token/lookup', { token: token.token })));
    assert.equal(afterRenew.data.ttl, 7200);
    assert.equal(afterRenew.data.creation_ttl, 3600);
    assert.equal(afterRenew.data.last_renewal_time, Math.floor(t.clock.now / 1000));
    assert.equal(typeof afterRenew.data.last_renewal, 'string');

    const self = envelope(await call(token, request('update', 'auth/token/renew-self', { increment: 1800 })));
    assert.equal(self.auth.client_token, token.token);
    assert.equal(self.auth.lease_duration, 1800);

    const byAccessor = envelope(await call(root, request('update', 'auth/token/renew-accessor', { accessor: token.accessor })));
    assert.equal(byAccessor.auth.client_token, '');
    assert.equal(byAccessor.auth.accessor, token.accessor);
    assert.equal(byAccessor.auth.lease_duration, 1800);
  });

  test('renew errors in Vault\'s words', async () => {
    await assert.rejects(call(root, request('update', 'auth/token/renew', {})), failure(400, 'missing token ID'));
    await assert.rejects(call(root, request('update', 'auth/token/renew', { token: 'hvs.nope' })), failure(400, 'token not found'));
    await assert.rejects(call(root, request('update', 'auth/token/renew-accessor', {})), failure(400, 'missing accessor'));
    await assert.rejects(
      call(root, request('update', 'auth/token/renew-accessor', { accessor: 'nope' })),
      failure(400, 'invalid accessor'),
    );
    await assert.rejects(call(root, request('update', 'auth/token/renew-self', {})), failure(400, 'lease is not renewable'));
    const fixed = await issue({ ttl: '1h', renewable: false, policies: ['web'] });
    await assert.rejects(call(fixed, request('update', 'auth/token/renew-self', {})), failure(400, 'lease is not renewable'));
  });

  test('revoke, revoke-self and revoke-accessor answer 204; unknown tokens are not errors', async () => {
    const parent = await issue({ policies: ['web'] });
    const kid = await issue({}, parent);
    assert.deepEqual(await call(root, request('update', 'auth/token/revoke', { token: parent.token })), { kind: 'empty' });
    assert.equal(await store.lookup(kid.token), undefined);
    assert.deepEqual(await call(root, request('update', 'auth/token/revoke', { token: parent.token })), { kind: 'empty' });
    await assert.rejects(call(root, request('update', 'auth/token/revoke', {})), failure(400, 'missing token ID'));

    const self = await issue({ policies: ['web'] });
    assert.deepEqual(await call(self, request('update', 'auth/token/revoke-self')), { kind: 'empty' });
    assert.equal(await store.lookup(self.token), undefined);

    const byAccessor = await issue({ policies: ['web'] });
    assert.deepEqual(
      await call(root, request('update', 'auth/token/revoke-accessor', { accessor: byAccessor.accessor })),
      { kind: 'empty' },
    );
    assert.equal(await store.lookup(byAccessor.token), undefined);
    assert.deepEqual(await call(root, request('update', 'auth/token/revoke-accessor', { accessor: byAccessor.accessor })), {
      kind: 'envelope',
      data: null,
      warnings: ['No token found with this accessor'],
    });
    await assert.rejects(call(root, request('update', 'auth/token/revoke-accessor', {})), failure(400, 'missing accessor'));
  });

  test('revoke-orphan: sudo only, children stay as orphans, an unknown token is 400', async () => {
    const parent = await issue({ policies: ['web'] });
    const kid = await issue({}, parent);
    await assert.rejects(
      call(parent, request('update', 'auth/token/revoke-orphan', { token: parent.token })),
      failure(400, 'root or sudo privileges required to revoke and orphan'),
    );
    assert.deepEqual(await call(root, request('update', 'auth/token/revoke-orphan', { token: parent.token })), { kind: 'empty' });
    assert.equal(await store.lookup(parent.token), undefined);
    assert.equal((await store.lookup(kid.token))?.orphan, true);
    await assert.rejects(
      call(root, request('update', 'auth/token/revoke-orphan', { token: parent.token })),
      failure(400, 'token to revoke not found'),
    );
    await assert.rejects(call(root, request('update', 'auth/token/revoke-orphan', {})), failure(400, 'missing token ID'));
  });

  test('a token on its last use can still look itself up, as in Vault', async () => {
    const once = await issue({ num_uses: 1, policies: ['web'] });
    const caller = await store.useOnce(once.token);
    assert.equal(caller?.numUses, -1);
    const self = envelope(await call({ ...caller!, token: once.token }, request('read', 'auth/token/lookup-self')));
    assert.equal(self.data.num_uses, -1);
    assert.equal(await store.lookup(once.token), undefined);
  });

  test('TOKEN_ROUTES: exact paths, Vault\'s operations, and the default policy\'s self rules', () => {
    const served = Object.fromEntries(
      TOKEN_ROUTES.map((route) => [route.name, Object.keys(route.operations).sort()]),
    );
    assert.deepEqual(served, {
      create: ['update'],
      'create-orphan': ['update'],
      lookup: ['read', 'update'],
      'lookup-self': ['read', 'update'],
      'lookup-accessor': ['update'],
      renew: ['update'],
      'renew-self': ['update'],
      'renew-accessor': ['update'],
      revoke: ['update'],
      'revoke-self': ['update'],
      'revoke-accessor': ['update'],
      'revoke-orphan': ['update'],
    });
    for (const route of TOKEN_ROUTES) {
      const path = `auth/token/${route.name}`;
      assert.deepEqual(
        TOKEN_ROUTES.filter((r) => r.pattern.test(path)).map((r) => r.name),
        [route.name],
        `${path} matches one route`,
      );
      assert.ok(!route.pattern.test(`${path}/x`));
      assert.ok(!route.pattern.test(`x/${path}`));
    }
    assert.match(DEFAULT_POLICY_TOKEN_HCL, /path "auth\/token\/lookup-self" \{\n {4}capabilities = \["read"\]\n\}/);
    assert.match(DEFAULT_POLICY_TOKEN_HCL, /path "auth\/token\/renew-self"/);
    assert.match(DEFAULT_POLICY_TOKEN_HCL, /path "auth\/token\/revoke-self"/);
  });
});
