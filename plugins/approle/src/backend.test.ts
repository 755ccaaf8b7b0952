import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHarness, type HarnessResult } from '#plugin-sdk';
import { approleBackend, INVALID_CREDENTIALS } from './backend.js';

function ok(result: HarnessResult) {
  assert.ok(!result.error, `unexpected error: ${result.error?.kind} ${result.error?.message}`);
  return result.response;
}

function failure(result: HarnessResult) {
  return [result.error?.kind, result.error?.message];
}

async function roleWithSecret(harness: ReturnType<typeof createHarness>, role: Record<string, unknown> = {}, secret: Record<string, unknown> = {}) {
  assert.equal(ok(await harness.request('update', 'role/web', { token_policies: 'web', ...role })), null);
  const roleId = ok(await harness.request('read', 'role/web/role-id'))!.data!.role_id as string;
  const generated = ok(await harness.request('update', 'role/web/secret-id', secret))!.data!;
  return { roleId, secretId: generated.secret_id as string, accessor: generated.secret_id_accessor as string, generated };
}

test('hello: an auth plugin; only login needs no token', () => {
  const harness = createHarness(approleBackend);
  assert.deepEqual(harness.implementation.hello, { type: 'auth', name: 'approle', version: 'v0.1.0', multiplex: true });
  assert.deepEqual(harness.specialPaths(), ['login']);
});

test("a role reads back in Vault's shape, with Vault's defaults", async () => {
  const harness = createHarness(approleBackend);
  ok(await harness.request('update', 'role/Web', { token_policies: 'a,B', token_ttl: '1h', token_max_ttl: '2h', secret_id_ttl: '10m' }));
  assert.deepEqual(ok(await harness.request('read', 'role/web'))!.data, {
    bind_secret_id: true,
    local_secret_ids: false,
    secret_id_bound_cidrs: null,
    secret_id_num_uses: 0,
    secret_id_ttl: 600,
    token_bound_cidrs: [],
    token_explicit_max_ttl: 0,
    token_max_ttl: 7200,
    token_no_default_policy: false,
    token_num_uses: 0,
    token_period: 0,
    token_policies: ['a', 'b'],
    token_ttl: 3600,
    token_type: 'default',
  });
  assert.deepEqual(ok(await harness.request('list', 'role/')), { data: { keys: ['web'] } });
  // Deprecated `policies` still works and is shown back, as in Vault.
  ok(await harness.request('update', 'role/old', { policies: 'p1' }));
  const old = ok(await harness.request('read', 'role/old'))!.data!;
  assert.deepEqual([old.token_policies, old.policies], [['p1'], ['p1']]);
});

test("role checks with Vault's texts", async () => {
  const harness = createHarness(approleBackend);
  assert.deepEqual(failure(await harness.request('update', 'role/x', { bind_secret_id: false })), [
    'invalid-request',
    'at least one constraint should be enabled on the role',
  ]);
  assert.deepEqual(failure(await harness.request('update', 'role/x', { secret_id_num_uses: -1 })), ['invalid-request', 'secret_id_num_uses cannot be negative']);
  assert.deepEqual(failure(await harness.request('update', 'role/x', { secret_id_bound_cidrs: 'nonsense' })), ['invalid-request', 'invalid CIDR blocks']);
  assert.deepEqual(failure(await harness.request('update', 'role/x', { token_ttl: '2h', token_max_ttl: '1h' })), [
    'invalid-request',
    "'token_ttl' cannot be greater than 'token_max_ttl'",
  ]);
  ok(await harness.request('update', 'role/a', { role_id: 'shared' }));
  assert.deepEqual(failure(await harness.request('update', 'role/b', { role_id: 'shared' })), ['invalid-request', 'role_id already in use']);
  ok(await harness.request('update', 'role/a', {}));
  assert.deepEqual(failure(await harness.request('update', 'role/a', { local_secret_ids: true })), [
    'invalid-request',
    'local_secret_ids can only be modified during role creation',
  ]);
});

test('login: role ID and secret ID give an auth block with the role name and secret ID metadata', async () => {
  const harness = createHarness(approleBackend);
  const { roleId, secretId, generated } = await roleWithSecret(
    harness,
    { token_ttl: '5m', token_max_ttl: '1h', token_num_uses: 4, token_bound_cidrs: '127.0.0.1/32' },
    { metadata: '{"env":"prod"}' },
  );
  assert.deepEqual(Object.keys(generated).sort(), ['secret_id', 'secret_id_accessor', 'secret_id_num_uses', 'secret_id_ttl']);
  const login = ok(await harness.request('update', 'login', { role_id: roleId, secret_id: secretId }));
  assert.deepEqual(login, {
    auth: {
      policies: ['web'],
      renewable: true,
      ttl: 300,
      maxTtl: 3600,
      numUses: 4,
      boundCidrs: ['127.0.0.1/32'],
      metadata: { env: 'prod', role_name: 'web' },
      internal: { role_name: 'web' },
    },
  });
});

test("renewal (Vault's pathLoginRenew): the role's current TTLs while it exists; refused once it is deleted", async () => {
  const harness = createHarness(approleBackend);
  const { roleId, secretId } = await roleWithSecret(harness, { token_ttl: '5m', token_max_ttl: '1h' });
  const auth = harness.authOf(ok(await harness.request('update', 'login', { role_id: roleId, secret_id: secretId })), 'login');
  assert.deepEqual(await harness.renewAuth(auth), { value: { ttl: 300, maxTtl: 3600 } });
  ok(await harness.request('update', 'role/web', { token_ttl: '10m' }));
  assert.deepEqual(await harness.renewAuth(auth, 60), { value: { ttl: 600, maxTtl: 3600 } }, 'the role as it is now');
  const forged = await harness.renewAuth({ ...auth, internal: {} });
  assert.ok('error' in forged && forged.error.message === 'failed to fetch role_name during renewal');
  ok(await harness.request('delete', 'role/web'));
  const gone = await harness.renewAuth(auth);
  assert.ok('error' in gone && gone.error.kind === 'invalid-request' && gone.error.message === 'role "web" does not exist during renewal');
});

test("login refusals: Vault's texts; unknown role ID and wrong secret ID are told apart by nothing", async () => {
  const harness = createHarness(approleBackend);
  const { roleId, secretId } = await roleWithSecret(harness);
  assert.deepEqual(failure(await harness.request('update', 'login', {})), ['invalid-request', 'missing role_id']);
  assert.deepEqual(failure(await harness.request('update', 'login', { role_id: roleId })), ['invalid-request', 'missing secret_id']);
  assert.deepEqual(failure(await harness.request('update', 'login', { role_id: 'nope', secret_id: secretId })), ['invalid-request', INVALID_CREDENTIALS]);
  assert.deepEqual(failure(await harness.request('update', 'login', { role_id: roleId, secret_id: 'nope' })), ['invalid-request', INVALID_CREDENTIALS]);
});

test('secret_id_num_uses: the last use deletes the secret ID; concurrent logins never overspend it', async () => {
  const harness = createHarness(approleBackend);
  const { roleId, secretId } = await roleWithSecret(harness, { secret_id_num_uses: 2 });
  const results = await Promise.all([1, 2, 3, 4].map(() => harness.request('update', 'login', { role_id: roleId, secret_id: secretId })));
  assert.equal(results.filter((r) => !r.error).length, 2);
  assert.deepEqual(failure(results.find((r) => r.error)!), ['invalid-request', INVALID_CREDENTIALS]);
  assert.equal(ok(await harness.request('update', 'role/web/secret-id/lookup', { secret_id: secretId })), null);
});

test('secret ID lookup, list, destroy; by accessor too', async () => {
  const harness = createHarness(approleBackend);
  const { roleId, secretId, accessor } = await roleWithSecret(harness, { secret_id_num_uses: 5 }, { num_uses: 3, cidr_list: '127.0.0.0/8' });
  const looked = ok(await harness.request('update', 'role/web/secret-id/lookup', { secret_id: secretId }))!.data!;
  assert.deepEqual(Object.keys(looked).sort(), [
    'cidr_list',
    'creation_time',
    'expiration_time',
    'last_updated_time',
    'metadata',
    'secret_id_accessor',
    'secret_id_num_uses',
    'secret_id_ttl',
    'token_bound_cidrs',
  ]);
  assert.deepEqual([looked.secret_id_accessor, looked.secret_id_num_uses, looked.cidr_list, looked.expiration_time], [
    accessor,
    3,
    ['127.0.0.0/8'],
    '0001-01-01T00:00:00Z',
  ]);
  assert.deepEqual(ok(await harness.request('update', 'role/web/secret-id-accessor/lookup', { secret_id_accessor: accessor }))!.data, looked);
  assert.deepEqual(ok(await harness.request('list', 'role/web/secret-id')), { data: { keys: [accessor] } });

  const missing = ok(await harness.request('update', 'role/web/secret-id-accessor/lookup', { secret_id_accessor: 'nope' }));
  assert.equal(missing?.raw?.status, 404);
  assert.deepEqual(JSON.parse(Buffer.from(missing!.raw!.bodyBase64, 'base64').toString()), {
    errors: ['failed to find accessor entry for secret_id_accessor: "nope"'],
  });

  assert.equal(ok(await harness.request('update', 'role/web/secret-id-accessor/destroy', { secret_id_accessor: accessor })), null);
  assert.deepEqual(failure(await harness.request('update', 'login', { role_id: roleId, secret_id: secretId })), ['invalid-request', INVALID_CREDENTIALS]);

  const second = ok(await harness.request('update', 'role/web/secret-id', {}))!.data!;
  assert.equal(ok(await harness.request('delete', 'role/web/secret-id/destroy', { secret_id: second.secret_id })), null);
  assert.equal(ok(await harness.request('update', 'role/web/secret-id/lookup', { secret_id: second.secret_id })), null);
  assert.equal(ok(await harness.request('list', 'role/web/secret-id')), null);
});

test("secret ID limits stay within the role's", async () => {
  const harness = createHarness(approleBackend);
  ok(await harness.request('update', 'role/web', { secret_id_num_uses: 2, secret_id_ttl: '1h', secret_id_bound_cidrs: '10.0.0.0/8' }));
  assert.deepEqual(failure(await harness.request('update', 'role/web/secret-id', { num_uses: 3 })), [
    'invalid-request',
    "num_uses cannot be higher than the role's secret_id_num_uses",
  ]);
  assert.deepEqual(failure(await harness.request('update', 'role/web/secret-id', { ttl: '2h' })), [
    'invalid-request',
    "ttl cannot be longer than the role's secret_id_ttl",
  ]);
  assert.deepEqual(failure(await harness.request('update', 'role/web/secret-id', { cidr_list: '192.168.0.0/16' })), [
    'invalid-request',
    'failed to verify subset relationship between CIDR blocks on the role ["10.0.0.0/8"] and CIDR blocks on the secret ID ["192.168.0.0/16"]: %!w(<nil>)',
  ]);
  const within = ok(await harness.request('update', 'role/web/secret-id', { cidr_list: '10.1.0.0/16' }))!.data!;
  assert.equal(within.secret_id_ttl, 3600);
  assert.deepEqual(failure(await harness.request('update', 'role/nope/secret-id', {})), ['invalid-request', 'role "nope" does not exist']);
});

test("CIDR bindings: the secret ID's and the role's, checked against the client's address", async () => {
  const harness = createHarness(approleBackend);
  const { roleId, secretId } = await roleWithSecret(harness, { secret_id_bound_cidrs: '10.0.0.0/8' }, { cidr_list: '10.1.0.0/16' });
  assert.deepEqual(failure(await harness.request('update', 'login', { role_id: roleId, secret_id: secretId }, { remoteAddress: '10.2.0.1' })), [
    'invalid-request',
    'source address "10.2.0.1" unauthorized through CIDR restrictions on the secret ID',
  ]);
  ok(await harness.request('update', 'login', { role_id: roleId, secret_id: secretId }, { remoteAddress: '10.1.2.3' }));

  const other = ok(await harness.request('update', 'role/web/secret-id', {}))!.data!;
  assert.deepEqual(failure(await harness.request('update', 'login', { role_id: roleId, secret_id: other.secret_id }, { remoteAddress: '192.168.0.1' })), [
    'invalid-request',
    'source address "192.168.0.1" unauthorized by CIDR restrictions on the role: %!w(<nil>)',
  ]);
  // No address from the host: the check cannot pass.
  assert.deepEqual(failure(await harness.request('update', 'login', { role_id: roleId, secret_id: other.secret_id }, { remoteAddress: '' })), [
    'invalid-request',
    'failed to get connection information',
  ]);
});

test('bind_secret_id=false: the role ID alone logs in, within the bound CIDRs; no secret IDs can be made', async () => {
  const harness = createHarness(approleBackend);
  ok(await harness.request('update', 'role/bot', { bind_secret_id: false, secret_id_bound_cidrs: '127.0.0.1/32', token_policies: 'bot' }));
  const roleId = ok(await harness.request('read', 'role/bot/role-id'))!.data!.role_id;
  assert.deepEqual(ok(await harness.request('update', 'login', { role_id: roleId }))?.auth?.metadata, { role_name: 'bot' });
  assert.deepEqual(failure(await harness.request('update', 'login', { role_id: roleId }, { remoteAddress: '10.9.9.9' }))[0], 'invalid-request');
  assert.deepEqual(failure(await harness.request('update', 'role/bot/secret-id', {})), ['invalid-request', 'bind_secret_id is not set on the role']);
});

test('a custom role ID replaces the old one; deleting the role deletes its secret IDs', async () => {
  const harness = createHarness(approleBackend);
  const { roleId, secretId } = await roleWithSecret(harness);
  ok(await harness.request('update', 'role/web/role-id', { role_id: 'my-custom-id' }));
  assert.deepEqual(failure(await harness.request('update', 'login', { role_id: roleId, secret_id: secretId })), ['invalid-request', INVALID_CREDENTIALS]);
  ok(await harness.request('update', 'login', { role_id: 'my-custom-id', secret_id: secretId }));
  assert.equal(ok(await harness.request('delete', 'role/web')), null);
  assert.deepEqual(harness.storage.keys(), []);
  assert.equal(ok(await harness.request('read', 'role/web')), null);
});

test('nothing secret is in a storage key, and the secret ID is stored only as an HMAC', async () => {
  const harness = createHarness(approleBackend);
  const { roleId, secretId, accessor } = await roleWithSecret(harness);
  const keys = harness.storage.keys().join('\n');
  for (const secret of [roleId, secretId, accessor]) assert.equal(keys.includes(secret), false);
  const values = harness.storage.entries().map(([, v]) => v.toString()).join('\n');
  assert.equal(values.includes(secretId), false);
});
