import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHarness, type HarnessResult } from '#plugin-sdk';
import { INVALID_CREDENTIALS, userpassBackend, type UserEntry } from './backend.js';
import { parseHash, SCRYPT } from './password.js';

function ok(result: HarnessResult) {
  assert.ok(!result.error, `unexpected error: ${result.error?.kind} ${result.error?.message}`);
  return result.response;
}

/** Vault's PopulateTokenData for a user with these policies and TTL and nothing else set. */
function tokenFields(policies: string[], ttl: number) {
  return {
    token_bound_cidrs: [],
    token_explicit_max_ttl: 0,
    token_max_ttl: 0,
    token_no_default_policy: false,
    token_num_uses: 0,
    token_period: 0,
    token_policies: policies,
    token_type: 'default',
    token_ttl: ttl,
  };
}

function failure(result: HarnessResult) {
  return [result.error?.kind, result.error?.message];
}

test('hello: an auth plugin; login/* needs no token', () => {
  const harness = createHarness(userpassBackend);
  assert.deepEqual(harness.implementation.hello, { type: 'auth', name: 'userpass', version: 'v0.1.0', multiplex: true });
  assert.deepEqual(harness.specialPaths(), ['login/*']);
});

test('create a user, then log in: policies, metadata, display name and TTL', async () => {
  const harness = createHarness(userpassBackend);
  assert.equal(ok(await harness.request('update', 'users/alice', { password: 's3cret', policies: 'dev, ops', ttl: '1h' })), null);
  assert.deepEqual(ok(await harness.request('update', 'login/alice', { password: 's3cret' })), {
    auth: { policies: ['dev', 'ops'], metadata: { username: 'alice' }, displayName: 'userpass-alice', ttl: 3600, renewable: true },
  });
});

test('policies may be a list; names are folded to lower case as in Vault', async () => {
  const harness = createHarness(userpassBackend);
  await harness.request('update', 'users/Bob', { password: 'pw', policies: ['a', 'B', 'a', ' '] });
  assert.deepEqual(ok(await harness.request('read', 'users/bob')), { data: { ...tokenFields(['a', 'b'], 0), policies: ['a', 'b'] } });
  const login = ok(await harness.request('update', 'login/BOB', { password: 'pw' }));
  assert.deepEqual(login?.auth?.metadata, { username: 'bob' });
});

test('a wrong password and an unknown user get the same answer', async () => {
  const harness = createHarness(userpassBackend);
  await harness.request('update', 'users/alice', { password: 'right' });
  assert.deepEqual(failure(await harness.request('update', 'login/alice', { password: 'wrong' })), ['invalid-request', INVALID_CREDENTIALS]);
  assert.deepEqual(failure(await harness.request('update', 'login/mallory', { password: 'right' })), ['invalid-request', INVALID_CREDENTIALS]);
  assert.deepEqual(failure(await harness.request('update', 'login/alice', {})), ['invalid-request', 'missing password']);
});

test('an unknown user costs a full scrypt, like a wrong password', async () => {
  const harness = createHarness(userpassBackend);
  await harness.request('update', 'users/alice', { password: 'right' });
  const time = async (name: string) => {
    const start = performance.now();
    await harness.request('update', `login/${name}`, { password: 'wrong' });
    return performance.now() - start;
  };
  await time('alice'); // warm up
  const known = Math.min(await time('alice'), await time('alice'));
  const unknown = Math.min(await time('nobody'), await time('nobody'));
  // Generous bounds: the point is that the unknown user is not answered without hashing.
  assert.ok(unknown > known / 3, `unknown user took ${unknown.toFixed(1)} ms, known ${known.toFixed(1)} ms`);
});

test('read never returns the password or its hash; the stored entry holds only a salted scrypt hash', async () => {
  const harness = createHarness(userpassBackend);
  await harness.request('update', 'users/alice', { password: 'correct horse battery staple', policies: 'p' });
  const read = ok(await harness.request('read', 'users/alice'));
  assert.deepEqual(read, { data: { ...tokenFields(['p'], 0), policies: ['p'] } });
  assert.doesNotMatch(JSON.stringify(read), /correct horse|scrypt|hash/);

  const entries = harness.storage.entries();
  assert.deepEqual(entries.map(([key]) => key), ['user/alice']);
  const stored = entries[0]![1];
  assert.equal(stored.includes('correct horse'), false, 'the password is not stored');
  assert.equal(stored.includes(Buffer.from('correct horse battery staple').toString('base64')), false);
  const entry = JSON.parse(stored.toString('utf8')) as UserEntry;
  const hash = parseHash(entry.password_hash);
  assert.ok(hash, entry.password_hash);
  assert.ok(hash.N >= 2 ** 14, `scrypt N = ${hash.N}`);
  assert.equal(hash.N, SCRYPT.N);
  assert.ok(hash.salt.length >= 16);

  // Same password, another user: another salt, another hash.
  await harness.request('update', 'users/bob', { password: 'correct horse battery staple' });
  const bob = JSON.parse(harness.storage.get('user/bob')!.toString()) as UserEntry;
  assert.notEqual(bob.password_hash, entry.password_hash);
});

test('create needs a password; an update without one keeps it and changes only what it names', async () => {
  const harness = createHarness(userpassBackend);
  assert.deepEqual(failure(await harness.request('update', 'users/alice', { policies: 'p' })), ['invalid-request', 'missing password']);
  await harness.request('update', 'users/alice', { password: 'pw', policies: 'p', ttl: 60 });
  await harness.request('update', 'users/alice', { ttl: '2m' });
  assert.deepEqual(ok(await harness.request('read', 'users/alice')), { data: { ...tokenFields(['p'], 120), policies: ['p'], ttl: 120 } });
  ok(await harness.request('update', 'login/alice', { password: 'pw' }));
  assert.deepEqual(failure(await harness.request('update', 'users/alice', { password: '' })), ['invalid-request', 'missing password']);

  await harness.request('update', 'users/alice', { password: 'new' });
  assert.deepEqual(failure(await harness.request('update', 'login/alice', { password: 'pw' })), ['invalid-request', INVALID_CREDENTIALS]);
  ok(await harness.request('update', 'login/alice', { password: 'new' }));
});

test('list and delete users; a deleted user cannot log in', async () => {
  const harness = createHarness(userpassBackend);
  assert.equal(ok(await harness.request('list', 'users/')), null);
  await harness.request('update', 'users/bob', { password: 'pw' });
  await harness.request('update', 'users/alice', { password: 'pw' });
  assert.deepEqual(ok(await harness.request('list', 'users')), { data: { keys: ['alice', 'bob'] } });
  assert.equal(ok(await harness.request('delete', 'users/bob')), null);
  assert.equal(ok(await harness.request('read', 'users/bob')), null);
  assert.deepEqual(failure(await harness.request('update', 'login/bob', { password: 'pw' })), ['invalid-request', INVALID_CREDENTIALS]);
});

test('a bad TTL is refused with the field validation text', async () => {
  const harness = createHarness(userpassBackend);
  assert.deepEqual(failure(await harness.request('update', 'users/alice', { password: 'pw', ttl: 'forever' })), [
    'invalid-request',
    'error converting input forever for field "ttl": time: invalid duration "forever"',
  ]);
});

test("Vault's token_* fields: stored, read back, carried by the login's auth block", async () => {
  const harness = createHarness(userpassBackend);
  await harness.request('update', 'users/carol', {
    password: 'pw',
    token_policies: 'Dev,ops',
    token_ttl: '10m',
    token_max_ttl: '1h',
    token_num_uses: 3,
    token_bound_cidrs: '127.0.0.1/32,10.0.0.0/8',
  });
  assert.deepEqual(ok(await harness.request('read', 'users/carol')), {
    data: {
      ...tokenFields(['dev', 'ops'], 600),
      token_max_ttl: 3600,
      token_num_uses: 3,
      token_bound_cidrs: ['127.0.0.1/32', '10.0.0.0/8'],
    },
  });
  const login = ok(await harness.request('update', 'login/carol', { password: 'pw' }));
  assert.deepEqual(login?.auth, {
    policies: ['dev', 'ops'],
    metadata: { username: 'carol' },
    displayName: 'userpass-carol',
    ttl: 600,
    maxTtl: 3600,
    numUses: 3,
    boundCidrs: ['127.0.0.1/32', '10.0.0.0/8'],
    renewable: true,
  });
  // From outside the bound CIDRs the login is refused, after the password check.
  assert.deepEqual(failure(await harness.request('update', 'login/carol', { password: 'pw' }, { remoteAddress: '192.168.1.9' })), [
    'permission-denied',
    'permission denied',
  ]);
  assert.deepEqual(failure(await harness.request('update', 'login/carol', { password: 'bad' }, { remoteAddress: '192.168.1.9' })), [
    'invalid-request',
    INVALID_CREDENTIALS,
  ]);
  // Vault's checks and texts.
  assert.deepEqual(failure(await harness.request('update', 'users/carol', { token_ttl: '2h' })), [
    'invalid-request',
    "'token_ttl' cannot be greater than 'token_max_ttl'",
  ]);
  assert.deepEqual(failure(await harness.request('update', 'users/carol', { token_num_uses: -1 })), ['invalid-request', "'token_num_uses' cannot be negative"]);
  assert.deepEqual(failure(await harness.request('update', 'users/carol', { token_type: 'odd' })), ['invalid-request', `invalid 'token_type' value "odd"`]);
});

test('an entry stored before the token_* fields reads and logs in as before', async () => {
  const harness = createHarness(userpassBackend);
  await harness.request('update', 'users/dave', { password: 'pw' });
  const stored = JSON.parse(harness.storage.get('user/dave')!.toString()) as UserEntry;
  await harness.storage.put('user/dave', Buffer.from(JSON.stringify({ password_hash: stored.password_hash, policies: ['old'], ttl: 60 })));
  const login = ok(await harness.request('update', 'login/dave', { password: 'pw' }));
  assert.deepEqual([login?.auth?.policies, login?.auth?.ttl], [['old'], 60]);
  const read = ok(await harness.request('read', 'users/dave'));
  assert.deepEqual([read?.data?.token_policies, read?.data?.token_ttl, read?.data?.ttl], [['old'], 60, 60]);
});

test("renewal (Vault's pathLoginRenew): while the user exists with the same policies; refused when deleted or changed", async () => {
  const harness = createHarness(userpassBackend);
  ok(await harness.request('update', 'users/alice', { password: 's3cret', token_policies: 'dev,ops', token_ttl: '1h', token_max_ttl: '4h' }));
  const auth = harness.authOf(ok(await harness.request('update', 'login/Alice', { password: 's3cret' })), 'login/alice');
  assert.deepEqual(await harness.renewAuth(auth), { value: { ttl: 3600, maxTtl: 4 * 3600 } });
  ok(await harness.request('update', 'users/alice', { token_policies: 'ops,dev,default', token_ttl: '2h' }));
  assert.deepEqual(await harness.renewAuth(auth, 60), { value: { ttl: 7200, maxTtl: 4 * 3600 } }, '`default` aside, the same policies');
  ok(await harness.request('update', 'users/alice', { token_policies: 'dev' }));
  const changed = await harness.renewAuth(auth);
  assert.ok('error' in changed && changed.error.message === 'policies have changed, not renewing');
  ok(await harness.request('update', 'users/alice', { token_policies: 'dev,ops' }));
  assert.ok('value' in (await harness.renewAuth(auth)));
  ok(await harness.request('delete', 'users/alice'));
  const gone = await harness.renewAuth(auth);
  assert.ok('error' in gone && gone.error.kind === 'invalid-request' && gone.error.message === 'user "alice" no longer exists, not renewing');
});
