/**
 * Leases in the SDK (protocol 3): a secret declared as data, issued by a handler, renewed and revoked through the
 * harness and through the real plugin side of the protocol.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PluginError } from '#plugin-protocol';
import { createHarness, defineBackend } from './index.js';
import { servedPeer } from './served-peer.test-support.js';

function backend(revoked: string[]) {
  return defineBackend({
    type: 'secret',
    name: 'leasing',
    version: 'v1.0.0',
    help: '',
    secrets: [
      {
        type: 'creds',
        defaultTtl: 60,
        maxTtl: 600,
        renew: (req) => {
          if (req.internal.user === 'gone') throw new PluginError('permission-denied', 'user was deleted');
          return { ttl: req.increment || 0 };
        },
        revoke: (req) => void revoked.push(String(req.internal.user)),
      },
      { type: 'fixed', revoke: () => {} },
    ],
    paths: [
      {
        pattern: 'creds/(?<user>\\w+)',
        operations: { read: (req) => ({ data: { user: req.raw.user }, secret: { type: 'creds', internal: { user: req.raw.user } } }) },
      },
      { pattern: 'fixed', operations: { read: () => ({ data: {}, secret: { type: 'fixed', internal: {}, ttl: 5 } }) } },
      { pattern: 'undeclared', operations: { read: () => ({ data: {}, secret: { type: 'nope', internal: {} } }) } },
    ],
  });
}

test('a handler returns a secret: the declaration fills in TTLs and renewable; renew and revoke reach the secret type', async () => {
  const revoked: string[] = [];
  const h = createHarness(backend(revoked));
  const issued = await h.request('read', 'creds/alice');
  assert.deepEqual(issued.response?.secret, { type: 'creds', internal: { user: 'alice' }, ttl: 60, maxTtl: 600, renewable: true });
  assert.equal((await h.request('read', 'fixed')).response?.secret?.renewable, false, 'a secret without renew is not renewable');

  const lease = h.leaseOf(issued.response);
  assert.deepEqual(await h.renew(lease, 120), { value: { ttl: 120 } });
  assert.deepEqual(await h.renew(lease), { value: { ttl: 60 } }, 'no increment: the secret type default');
  const refused = await h.renew({ ...lease, internal: { user: 'gone' } });
  assert.ok('error' in refused && refused.error.kind === 'permission-denied' && refused.error.message === 'user was deleted');
  const fixed = await h.renew(h.leaseOf((await h.request('read', 'fixed')).response));
  assert.ok('error' in fixed && fixed.error.message === 'lease is not renewable');

  assert.deepEqual(await h.revoke(lease), { value: undefined });
  assert.deepEqual(revoked, ['alice']);
  const undeclared = await h.request('read', 'undeclared');
  assert.ok(undeclared.error?.kind === 'internal' && /secret type "nope" is not declared/.test(undeclared.error.message));
});

test('a declaration is checked: secrets only in secrets engines, each with a type and revoke', () => {
  const base = { type: 'secret' as const, name: 'x', version: 'v1.0.0', help: '', paths: [] };
  assert.throws(() => defineBackend({ ...base, type: 'auth', secrets: [{ type: 'a', revoke: () => {} }] }), /only a secrets engine/);
  assert.throws(() => defineBackend({ ...base, secrets: [{ type: 'a', revoke: () => {} }, { type: 'a', revoke: () => {} }] }), /two secrets/);
  assert.throws(() => defineBackend({ ...base, secrets: [{ type: 'a' } as never] }), /needs revoke/);
});

const served = (protocols: string, revoked: string[]) => servedPeer(backend(revoked), protocols);

const mount = { id: 'm1', path: 'leasing/', accessor: 'leasing_00000000', type: 'leasing', config: { defaultLeaseTtl: 0, maxLeaseTtl: 0 }, options: {} };
const read = (path: string) => ({ operation: 'read', path, data: {}, tokenAccessor: 'acc', requestId: 'r' });

test('over the protocol: version 3 carries the secret and serves renew and revoke', async () => {
  const revoked: string[] = [];
  const p = served('1,2,3', revoked);
  assert.equal((await p.next()).protocol, 3);
  p.send({ id: 1, method: 'setup', params: { mount } });
  await p.next();
  p.send({ id: 2, method: 'handle', params: { mount: 'm1', request: read('creds/bob') } });
  const { response } = (await p.next()).result;
  assert.deepEqual(response.secret.internal, { user: 'bob' });
  const lease = { id: 'leasing/creds/bob/x', type: 'creds', internal: response.secret.internal, issueTime: new Date().toISOString(), ttl: 60 };
  p.send({ id: 3, method: 'renew', params: { mount: 'm1', lease, increment: 30 } });
  assert.deepEqual((await p.next()).result, { ttl: 30 });
  p.send({ id: 4, method: 'revoke', params: { mount: 'm1', lease } });
  assert.deepEqual((await p.next()).result, {});
  assert.deepEqual(revoked, ['bob']);
  p.end();
});

test('over the protocol: on a version-2 host a secret is refused in the plugin (the host would call it malformed)', async () => {
  const p = served('1,2', []);
  assert.equal((await p.next()).protocol, 2);
  p.send({ id: 1, method: 'setup', params: { mount } });
  await p.next();
  p.send({ id: 2, method: 'handle', params: { mount: 'm1', request: read('creds/bob') } });
  assert.equal((await p.next()).error?.message, 'internal error');
  p.end();
});
