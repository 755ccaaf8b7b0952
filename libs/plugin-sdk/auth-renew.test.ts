/**
 * Token renewal in the SDK (protocol 3): an auth backend declares `authRenew` as data (Vault's
 * framework.Backend.AuthRenew); the host's `renewAuth` reaches it through the harness and through the real plugin
 * side of the protocol; a backend without it answers -32601.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PluginError, RPC_ERRORS } from '#plugin-protocol';
import { createHarness, defineBackend, type Backend } from './index.js';
import { servedPeer, type ServedPeer } from './served-peer.test-support.js';

function backend(options: { renews: boolean }): Backend {
  return defineBackend({
    type: 'auth',
    name: 'renewing',
    version: 'v1.0.0',
    help: '',
    unauthenticated: ['login/*'],
    ...(options.renews
      ? {
          authRenew: async (req) => {
            const user = await req.storage.getJson<{ policies: string[] }>(`user/${req.internal.user}`);
            if (!user) throw new PluginError('invalid-request', `user ${JSON.stringify(req.metadata.username)} no longer exists`);
            if (user.policies.join(',') !== req.policies.join(',')) throw new PluginError('invalid-request', 'policies have changed, not renewing');
            return { ttl: req.increment || 90, maxTtl: 3600, warnings: [`renewed through ${req.path}`] };
          },
        }
      : {}),
    paths: [
      {
        pattern: 'users/(?<name>\\w+)',
        fields: { policies: { type: 'comma-list' } },
        operations: {
          update: async (req) => (await req.storage.putJson(`user/${req.raw.name}`, { policies: req.data.policies }), null),
          delete: async (req) => (await req.storage.delete(`user/${req.raw.name}`), null),
        },
      },
      {
        pattern: 'login/(?<name>\\w+)',
        operations: {
          update: async (req) => {
            const user = await req.storage.getJson<{ policies: string[] }>(`user/${req.raw.name}`);
            if (!user) throw new PluginError('invalid-request', 'invalid username or password');
            return { auth: { policies: user.policies, metadata: { username: String(req.raw.name) }, internal: { user: req.raw.name } } };
          },
        },
      },
    ],
  });
}

test('authRenew as data: the harness hands it the login it returned; it grants, or refuses in its own words', async () => {
  const h = createHarness(backend({ renews: true }));
  await h.request('update', 'users/alice', { policies: 'dev' });
  const login = await h.request('update', 'login/alice');
  assert.deepEqual(login.response?.auth?.internal, { user: 'alice' });
  const auth = h.authOf(login.response, 'login/alice');
  assert.deepEqual(await h.renewAuth(auth), { value: { ttl: 90, maxTtl: 3600, warnings: ['renewed through login/alice'] } });
  assert.deepEqual(await h.renewAuth(auth, 30), { value: { ttl: 30, maxTtl: 3600, warnings: ['renewed through login/alice'] } });

  await h.request('update', 'users/alice', { policies: 'dev,ops' });
  const changed = await h.renewAuth(auth);
  assert.ok('error' in changed && changed.error.message === 'policies have changed, not renewing');
  await h.request('delete', 'users/alice');
  const gone = await h.renewAuth(auth);
  assert.ok('error' in gone && gone.error.kind === 'invalid-request' && gone.error.message === 'user "alice" no longer exists');

  const plain = createHarness(backend({ renews: false }));
  assert.deepEqual(await plain.renewAuth(auth), { notImplemented: true });
  assert.equal(plain.implementation.renewAuth, undefined);
});

test('a declaration is checked: authRenew only on an auth method', () => {
  assert.throws(
    () => defineBackend({ type: 'secret', name: 'x', version: 'v1.0.0', help: '', paths: [], authRenew: () => {} }),
    /only an auth method declares authRenew/,
  );
});

const served = (protocols: string, renews: boolean) => servedPeer(backend({ renews }), protocols);

const mount = { id: 'm1', path: 'auth/renewing/', accessor: 'auth_renewing_0', type: 'renewing', config: { defaultLeaseTtl: 0, maxLeaseTtl: 0 }, options: {} };
const login = { operation: 'update', path: 'login/bob', data: {}, tokenAccessor: '', requestId: 'r' };
const auth = { path: 'login/bob', policies: ['dev'], metadata: { username: 'bob' }, internal: { user: 'bob' }, displayName: '', issueTime: '2026-01-01T00:00:00Z', ttl: 60 };

/** Plays the host for the plugin's storage calls until the reply to `id` arrives. */
async function replyTo(p: ServedPeer, id: number, store: Map<string, string>) {
  for (;;) {
    const m = await p.next();
    if (m.method === 'storage.get') p.send({ id: m.id, result: { value: store.get(m.params.key) ?? null } });
    else if (m.method) p.send({ id: m.id, error: { code: RPC_ERRORS.methodNotFound, message: 'no', data: { kind: 'unsupported-operation' } } });
    else if (m.id === id) return m;
  }
}

test('over the protocol: version 3 carries a login\'s internal data and serves renewAuth; without authRenew it is -32601', async () => {
  const store = new Map([['user/bob', Buffer.from(JSON.stringify({ policies: ['dev'] })).toString('base64')]]);
  const p = served('1,2,3', true);
  assert.equal((await p.next()).protocol, 3);
  p.send({ id: 1, method: 'setup', params: { mount } });
  await replyTo(p, 1, store);
  p.send({ id: 2, method: 'handle', params: { mount: 'm1', request: login } });
  assert.deepEqual((await replyTo(p, 2, store)).result.response.auth.internal, { user: 'bob' });
  p.send({ id: 3, method: 'renewAuth', params: { mount: 'm1', auth, increment: 0 } });
  assert.deepEqual((await replyTo(p, 3, store)).result, { ttl: 90, maxTtl: 3600, warnings: ['renewed through login/bob'] });
  store.delete('user/bob');
  p.send({ id: 4, method: 'renewAuth', params: { mount: 'm1', auth, increment: 0 } });
  assert.equal((await replyTo(p, 4, store)).error?.message, 'user "bob" no longer exists');
  p.end();

  const plain = served('1,2,3', false);
  await plain.next();
  plain.send({ id: 1, method: 'setup', params: { mount } });
  await replyTo(plain, 1, store);
  plain.send({ id: 2, method: 'renewAuth', params: { mount: 'm1', auth, increment: 0 } });
  assert.equal((await replyTo(plain, 2, store)).error?.code, RPC_ERRORS.methodNotFound);
  plain.end();
});

test('over the protocol: on a version-2 host a login\'s internal data is left out (that host would refuse the field)', async () => {
  const store = new Map([['user/bob', Buffer.from(JSON.stringify({ policies: ['dev'] })).toString('base64')]]);
  const p = served('1,2', true);
  assert.equal((await p.next()).protocol, 2);
  p.send({ id: 1, method: 'setup', params: { mount } });
  await replyTo(p, 1, store);
  p.send({ id: 2, method: 'handle', params: { mount: 'm1', request: login } });
  const { auth: issued } = (await replyTo(p, 2, store)).result.response;
  assert.deepEqual(issued, { policies: ['dev'], metadata: { username: 'bob' } });
  p.end();
});
