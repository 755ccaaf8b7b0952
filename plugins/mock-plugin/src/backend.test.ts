import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHarness, type HarnessResult } from '#plugin-sdk';
import { createMockBackend, CREDS_TYPE, ERROR_TYPES, INTERNAL_DEFAULT, MOCK_VERSION, MOCK_VERSION_ENV, type MockOptions } from './backend.js';

class Exited extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function mock(options: MockOptions = {}) {
  return createHarness(
    createMockBackend({
      exit: (code) => {
        throw new Exited(code);
      },
      ...options,
    }),
    { mount: { id: 'mount-1', path: 'my-mock/', accessor: 'mock-plugin_1a2b3c4d', type: 'mock-plugin' } },
  );
}

function ok(result: HarnessResult) {
  assert.ok(!result.error, `unexpected error: ${result.error?.kind} ${result.error?.message}`);
  return result.response;
}

test('hello: a secret plugin named mock-plugin at v0.0.0+mock; the version can be overridden as in Vault', () => {
  assert.deepEqual(mock().implementation.hello, { type: 'secret', name: 'mock-plugin', version: MOCK_VERSION, multiplex: true });
  assert.equal(mock({ env: { [MOCK_VERSION_ENV]: 'v1.2.3' } }).implementation.hello.version, 'v1.2.3');
});

test('kv/<key>: write answers {value} (200), read adds version 0, delete then read is 404', async () => {
  const harness = mock();
  assert.deepEqual(ok(await harness.request('update', 'kv/foo', { value: 'bar' })), { data: { value: 'bar' } });
  assert.deepEqual(ok(await harness.request('read', 'kv/foo')), { data: { value: 'bar', version: 0 } });
  assert.deepEqual(ok(await harness.request('read', 'kv/foo', { version: '3' })), { data: { value: 'bar', version: 3 } });
  assert.equal(harness.storage.get('kv/foo')?.toString(), 'bar', 'stored as the raw string, under the request path');
  assert.equal(ok(await harness.request('delete', 'kv/foo')), null);
  assert.equal(ok(await harness.request('read', 'kv/foo')), null);
});

test('kv/<key>: patch merges into an existing entry (null empties, absent keeps) and is a bare 404 on nothing', async () => {
  const harness = mock();
  const missing = await harness.request('patch', 'kv/foo', { value: 'x' });
  assert.deepEqual([missing.error?.kind, missing.error?.message], ['not-found', '']);
  assert.equal(harness.storage.get('kv/foo'), null, 'a patch never creates');
  await harness.request('update', 'kv/foo', { value: 'bar' });
  assert.deepEqual(ok(await harness.request('patch', 'kv/foo', { value: 'baz' })), { data: { value: 'baz' } });
  assert.deepEqual(ok(await harness.request('patch', 'kv/foo', {})), { data: { value: 'baz' } });
  assert.deepEqual(ok(await harness.request('patch', 'kv/foo', { value: null })), { data: { value: '' } });
  assert.equal(harness.storage.get('kv/foo')?.toString(), '');
});

test('kv/<key>: the existence check makes the first write a create and the next an update', async () => {
  const harness = mock();
  assert.deepEqual(await harness.exists('kv/foo'), { checkFound: true, exists: false });
  await harness.request('create', 'kv/foo', { value: 'one' });
  assert.deepEqual(await harness.exists('kv/foo'), { checkFound: true, exists: true });
  assert.deepEqual(ok(await harness.request('update', 'kv/foo', { value: 2 })), { data: { value: '2' } });
  assert.equal(harness.storage.get('kv/foo')?.toString(), '2');
});

test('kv/<key>: names are \\w(([\\w.-]+)?\\w)?, no slashes', async () => {
  const harness = mock();
  for (const key of ['a', 'a.b', 'a-b_c', 'x1.2-3']) ok(await harness.request('update', `kv/${key}`, { value: key }));
  for (const key of ['a.', '-a', 'a/b', '']) {
    const result = await harness.request('read', `kv/${key}`);
    if (key === '') assert.equal(result.error?.kind, 'unsupported-operation', 'kv/ is the list path');
    else assert.equal(result.error?.message, 'unsupported path', key);
  }
});

test('kv/<key>: unknown parameters are ignored with the warning', async () => {
  const harness = mock();
  assert.deepEqual(ok(await harness.request('update', 'kv/foo', { value: 'bar', zeta: 1, alpha: true })), {
    data: { value: 'bar' },
    warnings: ['Endpoint ignored these unrecognized parameters: [alpha zeta]'],
  });
});

test('kv/ list: the keys, and nothing (404) when empty', async () => {
  const harness = mock();
  assert.equal(ok(await harness.request('list', 'kv/')), null);
  await harness.request('update', 'kv/b', { value: '1' });
  await harness.request('update', 'kv/a', { value: '2' });
  assert.deepEqual(ok(await harness.request('list', 'kv/')), { data: { keys: ['a', 'b'] } });
  assert.deepEqual(ok(await harness.request('list', 'kv')), { data: { keys: ['a', 'b'] } });
});

test('internal: "bar" after setup, update sets it (204), invalidate of "internal" clears it; per mount', async () => {
  const harness = mock();
  assert.deepEqual(ok(await harness.request('read', 'internal')), { data: { value: INTERNAL_DEFAULT } });
  assert.equal(ok(await harness.request('update', 'internal', { value: 'changed' })), null);
  assert.deepEqual(ok(await harness.request('read', 'internal')), { data: { value: 'changed' } });
  harness.invalidate('other');
  assert.deepEqual(ok(await harness.request('read', 'internal')), { data: { value: 'changed' } });
  harness.invalidate('internal');
  assert.deepEqual(ok(await harness.request('read', 'internal')), { data: { value: '' } });
});

test('special: served without a token, data {"data":"foo"}', async () => {
  const harness = mock();
  assert.deepEqual(harness.specialPaths(), ['special']);
  assert.deepEqual(ok(await harness.request('read', 'special', {}, { tokenAccessor: '' })), { data: { data: 'foo' } });
});

test('raw: a 200 text/plain body "Response"', async () => {
  assert.deepEqual(ok(await mock().request('read', 'raw')), {
    raw: { status: 200, contentType: 'text/plain', bodyBase64: Buffer.from('Response').toString('base64') },
  });
});

test('errors/type: err_type 0..9 give the kinds and texts of Vault\'s mock', async () => {
  const harness = mock();
  const expected = [
    ['internal', 'test'],
    ['invalid-request', 'test'],
    ['internal', 'test'],
    ['permission-denied', 'test'],
    ['invalid-request', 'test'],
    ['unsupported-operation', 'unsupported operation'],
    ['unsupported-path', 'unsupported path'],
    ['invalid-request', 'invalid request'],
    ['permission-denied', 'permission denied'],
    ['internal', 'request needs further approval'],
  ];
  assert.equal(ERROR_TYPES.length, expected.length);
  for (const [errType, [kind, message]] of expected.entries()) {
    for (const operation of ['create', 'update'] as const) {
      const result = await harness.request(operation, 'errors/type', { err_type: errType }, { existenceCheck: false });
      assert.deepEqual([result.error?.kind, result.error?.message], [kind, message], `${operation} err_type=${errType}`);
    }
  }
  // Numbers Vault does not know are no error at all.
  assert.equal(ok(await harness.request('update', 'errors/type', { err_type: 42 })), null);
  assert.equal((await harness.request('update', 'errors/type', { err_type: 'x' })).error?.kind, 'invalid-request');
  assert.equal((await harness.request('read', 'errors/type')).error?.message, 'unsupported operation');
});

test('errors/rpc and errors/type without err_type end the process (exit 1)', async () => {
  const harness = mock();
  await assert.rejects(harness.request('read', 'errors/rpc'), (err: unknown) => err instanceof Exited && err.code === 1);
  await assert.rejects(harness.request('update', 'errors/type', {}), (err: unknown) => err instanceof Exited && err.code === 1);
});

test('env/<key>: the variable as the plugin process sees it, "" when unset', async () => {
  const harness = mock({ env: { ONLY_THIS: 'here' } });
  assert.deepEqual(ok(await harness.request('read', 'env/ONLY_THIS')), { data: { key: 'here' } });
  assert.deepEqual(ok(await harness.request('read', 'env/HOME')), { data: { key: '' } });
});

test('init-req: what the host said about the mount', async () => {
  assert.deepEqual(ok(await mock().request('read', 'init-req')), {
    data: {
      mount_point: 'my-mock/',
      mount_type: 'mock-plugin',
      mount_accessor: 'mock-plugin_1a2b3c4d',
      backend_uuid: 'mount-1',
      mount_running_version: MOCK_VERSION,
    },
  });
});

test('unknown paths and verbs', async () => {
  const harness = mock();
  assert.equal((await harness.request('read', 'nope')).error?.message, 'unsupported path');
  assert.equal((await harness.request('delete', 'special')).error?.message, 'unsupported operation');
  assert.equal((await harness.request('list', 'internal')).error?.kind, 'unsupported-operation');
});

test('creds/<name>: a secret under a lease (TTLs from the request, renewable by default); internal data stays off data', async () => {
  const harness = mock();
  const issued = ok(await harness.request('read', 'creds/app', { ttl: '90s', max_ttl: '10m' }));
  assert.match(String(issued?.data?.username), /^app-[0-9a-f]{8}$/);
  assert.equal(typeof issued?.data?.password, 'string');
  assert.deepEqual(issued?.secret, {
    type: CREDS_TYPE,
    internal: { username: issued?.data?.username, ttl: 90, refuse_renew: false },
    ttl: 90,
    maxTtl: 600,
    renewable: true,
  });
  const other = ok(await harness.request('read', 'creds/app'));
  assert.notEqual(other?.data?.username, issued?.data?.username, 'each read issues new credentials');
  assert.deepEqual([other?.secret?.ttl, other?.secret?.maxTtl], [0, 0], "no ttl: the mount's defaults apply");
  assert.equal(ok(await harness.request('read', 'creds/app', { renewable: false }))?.secret?.renewable, false);
});

test('creds/<name>: renew grants the increment, else the issued ttl; refuse_renew makes the plugin say no', async () => {
  const harness = mock();
  const lease = harness.leaseOf(ok(await harness.request('read', 'creds/app', { ttl: '60s' })));
  assert.deepEqual(await harness.renew(lease, 300), { value: { ttl: 300 } });
  assert.deepEqual(await harness.renew(lease), { value: { ttl: 60 } });
  const refused = await harness.renew(harness.leaseOf(ok(await harness.request('read', 'creds/app', { refuse_renew: true }))));
  assert.ok('error' in refused && refused.error.message === 'the mock refuses to renew this lease');
});

test('revocations: each revoke is counted per lease id, two revokes of one lease count two (a double revocation shows)', async () => {
  const harness = mock();
  assert.deepEqual(ok(await harness.request('read', 'revocations')), { data: { count: 0, leases: {} } });
  const a = harness.leaseOf(ok(await harness.request('read', 'creds/a')));
  const b = harness.leaseOf(ok(await harness.request('read', 'creds/b')));
  assert.deepEqual(await harness.revoke(a), { value: undefined });
  assert.deepEqual(ok(await harness.request('read', 'revocations')), { data: { count: 1, leases: { [a.id]: 1 } } });
  await harness.revoke(b);
  await harness.revoke(b);
  assert.deepEqual(ok(await harness.request('read', 'revocations')), { data: { count: 3, leases: { [a.id]: 1, [b.id]: 2 } } });
  assert.deepEqual(ok(await harness.request('list', 'kv/')), null, 'the counts live apart from kv/');
});
