import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import NodeVault from 'node-vault';
import pg from 'pg';
import { Cluster } from './support/cluster.js';
import { startDevServer, type DevServer } from './support/dev-server.js';
import { eventually } from './support/http.js';

interface Target {
  url: string;
  rootToken: string;
}

interface Answer {
  status: number;
  body: any;
}

/** The scope plugins/cubbyhole files a token's keys under (and the gateway deletes on revocation). */
const cubbyholeScope = (accessor: string) => createHash('sha256').update(`cubbyhole:${accessor}`).digest('hex');

/**
 * AppRole, userpass's token_* fields and cubbyhole as a Vault user meets them, over HTTP. The same scenarios run
 * against the dev server and against the services as separate processes; the cluster also looks into Postgres to
 * see a revoked token's cubbyhole gone.
 */
function scenarios(target: () => Target) {
  const call = async (method: string, path: string, body?: unknown, token: string | null = target().rootToken): Promise<Answer> => {
    const headers: Record<string, string> = token ? { 'x-vault-token': token } : {};
    const r = await fetch(`${target().url}/v1/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
  const ok = (a: Answer, status = 200) => {
    assert.equal(a.status, status, JSON.stringify(a.body));
    return a.body;
  };
  const login = (role_id: string, secret_id?: string) => call('POST', 'auth/approle/login', secret_id === undefined ? { role_id } : { role_id, secret_id }, null);
  const newSecret = async (role: string, body: Record<string, unknown> = {}) => ok(await call('POST', `auth/approle/role/${role}/secret-id`, body)).data;
  const roleIdOf = async (role: string) => ok(await call('GET', `auth/approle/role/${role}/role-id`)).data.role_id as string;

  before(async () => {
    ok(await call('POST', 'sys/auth/approle', { type: 'approle' }), 204);
    ok(await call('POST', 'sys/auth/userpass', { type: 'userpass' }), 204);
    ok(await call('PUT', 'sys/policies/acl/app', { policy: 'path "sys/policies/acl/app" { capabilities = ["read"] }' }), 204);
  });

  it('approle, userpass and cubbyhole are builtins: in the catalog with builtin: true, enabled with no registration', async () => {
    const detailed = ok(await call('GET', 'sys/plugins/catalog')).data.detailed as { type: string; name: string; builtin: boolean }[];
    const builtins = detailed.filter((e) => e.builtin).map((e) => `${e.type}/${e.name}`);
    for (const name of ['auth/approle', 'auth/userpass', 'secret/cubbyhole']) assert.ok(builtins.includes(name), `${name} is a builtin`);
    assert.equal(detailed.filter((e) => !e.builtin && ['approle', 'userpass', 'cubbyhole'].includes(e.name)).length, 0, 'nothing registered under their names');
    const auths = ok(await call('GET', 'sys/auth')).data;
    assert.equal(auths['approle/'].type, 'approle');
  });

  it('AppRole: role, role ID, secret ID, login; the token works within its policies and carries the role', async () => {
    ok(await call('POST', 'auth/approle/role/web', { token_policies: 'app', token_ttl: '10m', token_max_ttl: '30m', secret_id_num_uses: 2 }), 204);
    const role = ok(await call('GET', 'auth/approle/role/web')).data;
    assert.deepEqual(
      [role.token_policies, role.token_ttl, role.token_max_ttl, role.secret_id_num_uses, role.bind_secret_id, role.token_type],
      [['app'], 600, 1800, 2, true, 'default'],
    );
    assert.deepEqual(ok(await call('LIST', 'auth/approle/role')).data.keys, ['web']);
    const roleId = await roleIdOf('web');
    assert.match(roleId, /^[0-9a-f-]{36}$/);
    const secret = await newSecret('web');
    assert.deepEqual(Object.keys(secret).sort(), ['secret_id', 'secret_id_accessor', 'secret_id_num_uses', 'secret_id_ttl']);
    assert.equal(secret.secret_id_num_uses, 2);

    const first = ok(await login(roleId, secret.secret_id));
    assert.equal(first.data, null);
    const auth = first.auth;
    assert.match(auth.client_token, /^hvs\./);
    assert.deepEqual([auth.policies, auth.token_policies, auth.metadata, auth.lease_duration, auth.renewable], [
      ['app', 'default'],
      ['app', 'default'],
      { role_name: 'web' },
      600,
      true,
    ]);
    ok(await call('GET', 'sys/policies/acl/app', undefined, auth.client_token));
    assert.equal((await call('GET', 'sys/mounts', undefined, auth.client_token)).status, 403);
    const self = ok(await call('GET', 'auth/token/lookup-self', undefined, auth.client_token)).data;
    assert.deepEqual([self.display_name, self.meta, self.path], ['approle', { role_name: 'web' }, 'auth/approle/login']);

    // The accessor lists, and looks up, the secret ID without revealing it.
    assert.deepEqual(ok(await call('LIST', 'auth/approle/role/web/secret-id')).data.keys, [secret.secret_id_accessor]);
    const byAccessor = ok(await call('POST', 'auth/approle/role/web/secret-id-accessor/lookup', { secret_id_accessor: secret.secret_id_accessor })).data;
    assert.equal(byAccessor.secret_id_num_uses, 1, 'one use spent');
    assert.equal(JSON.stringify(byAccessor).includes(secret.secret_id), false);
  });

  it('AppRole: secret_id_num_uses is exhausted, then the secret ID is gone; lookup and destroy, by value and by accessor', async () => {
    const roleId = await roleIdOf('web');
    const secret = await newSecret('web');
    ok(await login(roleId, secret.secret_id));
    ok(await login(roleId, secret.secret_id));
    const third = await login(roleId, secret.secret_id);
    assert.deepEqual([third.status, third.body], [400, { errors: ['invalid role or secret ID'] }]);
    assert.equal((await call('POST', 'auth/approle/role/web/secret-id/lookup', { secret_id: secret.secret_id })).status, 204);

    const other = await newSecret('web');
    const looked = ok(await call('POST', 'auth/approle/role/web/secret-id/lookup', { secret_id: other.secret_id })).data;
    assert.deepEqual([looked.secret_id_accessor, looked.secret_id_num_uses, looked.metadata, looked.cidr_list], [other.secret_id_accessor, 2, {}, []]);
    ok(await call('POST', 'auth/approle/role/web/secret-id/destroy', { secret_id: other.secret_id }), 204);
    assert.equal((await login(roleId, other.secret_id)).status, 400);

    const third2 = await newSecret('web');
    ok(await call('POST', 'auth/approle/role/web/secret-id-accessor/destroy', { secret_id_accessor: third2.secret_id_accessor }), 204);
    assert.equal((await login(roleId, third2.secret_id)).status, 400);
    const gone = await call('POST', 'auth/approle/role/web/secret-id-accessor/lookup', { secret_id_accessor: third2.secret_id_accessor });
    assert.deepEqual([gone.status, gone.body], [404, { errors: [`failed to find accessor entry for secret_id_accessor: "${third2.secret_id_accessor}"`] }]);

    assert.deepEqual((await login('no-such-role', 'x')).body, { errors: ['invalid role or secret ID'] });
    assert.deepEqual((await call('POST', 'auth/approle/login', {}, null)).body, { errors: ['missing role_id'] });
  });

  it("AppRole: a login from outside the role's secret_id_bound_cidrs is refused", async () => {
    ok(await call('POST', 'auth/approle/role/fenced', { token_policies: 'app', secret_id_bound_cidrs: '10.0.0.0/8' }), 204);
    const refused = await login(await roleIdOf('fenced'), (await newSecret('fenced')).secret_id);
    assert.deepEqual([refused.status, refused.body], [400, { errors: ['source address "127.0.0.1" unauthorized by CIDR restrictions on the role: %!w(<nil>)'] }]);

    ok(await call('POST', 'auth/approle/role/near', { token_policies: 'app', secret_id_bound_cidrs: '127.0.0.0/8' }), 204);
    const fromHere = await newSecret('near', { cidr_list: ['127.0.0.1/32'] });
    ok(await login(await roleIdOf('near'), fromHere.secret_id));
  });

  it('AppRole: bind_secret_id=false logs in with the role ID alone, within its CIDRs', async () => {
    ok(await call('POST', 'auth/approle/role/bot', { bind_secret_id: false, secret_id_bound_cidrs: '127.0.0.1/32', token_policies: 'app' }), 204);
    const answer = ok(await login(await roleIdOf('bot')));
    ok(await call('GET', 'sys/policies/acl/app', undefined, answer.auth.client_token));
    const refused = await call('POST', 'auth/approle/role/bot/secret-id', {});
    assert.deepEqual([refused.status, refused.body], [400, { errors: ['bind_secret_id is not set on the role'] }]);
    const none = await call('POST', 'auth/approle/role/lax', { bind_secret_id: false });
    assert.deepEqual([none.status, none.body], [400, { errors: ['at least one constraint should be enabled on the role'] }]);
  });

  it('AppRole: token_num_uses and token_bound_cidrs are honoured by the gateway on every later request', async () => {
    ok(await call('POST', 'auth/approle/role/twice', { token_policies: 'app', token_num_uses: 2 }), 204);
    const twice = ok(await login(await roleIdOf('twice'), (await newSecret('twice')).secret_id)).auth;
    assert.equal(twice.num_uses, 2);
    ok(await call('GET', 'sys/policies/acl/app', undefined, twice.client_token));
    ok(await call('GET', 'sys/policies/acl/app', undefined, twice.client_token));
    assert.equal((await call('GET', 'sys/policies/acl/app', undefined, twice.client_token)).status, 403);

    // A token bound elsewhere is issued, but refused here: the binding travels with the token, not the login.
    ok(await call('POST', 'auth/approle/role/elsewhere', { token_policies: 'app', token_bound_cidrs: '10.0.0.0/8' }), 204);
    const elsewhere = ok(await login(await roleIdOf('elsewhere'), (await newSecret('elsewhere')).secret_id)).auth;
    const denied = await call('GET', 'sys/policies/acl/app', undefined, elsewhere.client_token);
    assert.equal(denied.status, 403);
    const root = ok(await call('POST', 'auth/token/lookup-accessor', { accessor: elsewhere.accessor })).data;
    assert.deepEqual(root.bound_cidrs, ['10.0.0.0/8']);
    assert.equal(root.num_uses, 0, 'refused requests spend no use');

    ok(await call('POST', 'auth/approle/role/here', { token_policies: 'app', token_bound_cidrs: '127.0.0.1' }), 204);
    const here = ok(await login(await roleIdOf('here'), (await newSecret('here')).secret_id)).auth;
    ok(await call('GET', 'sys/policies/acl/app', undefined, here.client_token));
  });

  it("userpass: Vault's token_* fields are stored, read back and honoured", async () => {
    ok(await call('POST', 'auth/userpass/users/carol', { password: 'pw', token_policies: 'app', token_ttl: '5m', token_num_uses: 2, token_bound_cidrs: '127.0.0.1/32' }), 204);
    const user = ok(await call('GET', 'auth/userpass/users/carol')).data;
    assert.deepEqual([user.token_policies, user.token_ttl, user.token_num_uses, user.token_bound_cidrs], [['app'], 300, 2, ['127.0.0.1/32']]);
    const auth = ok(await call('POST', 'auth/userpass/login/carol', { password: 'pw' }, null)).auth;
    assert.deepEqual([auth.policies, auth.lease_duration, auth.num_uses], [['app', 'default'], 300, 2]);
    ok(await call('GET', 'sys/policies/acl/app', undefined, auth.client_token));
    ok(await call('GET', 'sys/policies/acl/app', undefined, auth.client_token));
    assert.equal((await call('GET', 'sys/policies/acl/app', undefined, auth.client_token)).status, 403);

    ok(await call('POST', 'auth/userpass/users/dave', { password: 'pw', token_bound_cidrs: '10.0.0.0/8' }), 204);
    const refused = await call('POST', 'auth/userpass/login/dave', { password: 'pw' }, null);
    assert.equal(refused.status, 403);
  });

  // Protocol 3 renewAuth: a login's token renews only while its user or role exists (Vault's pathLoginRenew).
  const expiryOf = async (token: string) => ok(await call('POST', 'auth/token/lookup', { token })).data.expire_time as string;
  const refusedRenewal = async (renewal: Promise<Answer>, text: string) => {
    const a = await renewal;
    assert.equal(a.status, 400, JSON.stringify(a.body));
    assert.deepEqual(a.body, { errors: [`failed to renew entry: ${text}`] });
  };

  it("userpass: a token renews through the plugin (its current TTL), and not once the user's policies changed or the user is deleted", async () => {
    ok(await call('POST', 'auth/userpass/users/erin', { password: 'pw', token_policies: 'app', token_ttl: '5m', token_max_ttl: '1h' }), 204);
    const auth = ok(await call('POST', 'auth/userpass/login/erin', { password: 'pw' }, null)).auth;
    assert.equal(auth.lease_duration, 300);
    const token = auth.client_token as string;
    // The user's TTL changed after the login: the renewal grants the plugin's answer, not the token's own 5m.
    ok(await call('POST', 'auth/userpass/users/erin', { token_ttl: '7m' }), 204);
    const renewed = ok(await call('POST', 'auth/token/renew-self', {}, token)).auth;
    assert.deepEqual([renewed.client_token, renewed.lease_duration], [token, 420]);
    assert.equal(ok(await call('POST', 'auth/token/renew', { token, increment: '2m' })).auth.lease_duration, 120, 'the increment wins');

    ok(await call('POST', 'auth/userpass/users/erin', { token_policies: 'app,other' }), 204);
    let expiry = await expiryOf(token);
    await refusedRenewal(call('POST', 'auth/token/renew-self', { increment: '30m' }, token), 'policies have changed, not renewing');
    assert.equal(await expiryOf(token), expiry, 'a refused renewal leaves the TTL as it was');
    ok(await call('POST', 'auth/userpass/users/erin', { token_policies: 'app' }), 204);
    ok(await call('POST', 'auth/token/renew-self', {}, token));

    ok(await call('DELETE', 'auth/userpass/users/erin'), 204);
    expiry = await expiryOf(token);
    const gone = 'user "erin" no longer exists, not renewing';
    await refusedRenewal(call('POST', 'auth/token/renew-self', {}, token), gone);
    await refusedRenewal(call('POST', 'auth/token/renew', { token, increment: '30m' }), gone);
    await refusedRenewal(call('POST', 'auth/token/renew-accessor', { accessor: auth.accessor }), gone);
    assert.equal(await expiryOf(token), expiry, 'the TTL is unchanged');
    // The token itself still works until it expires (Vault does not revoke it either).
    ok(await call('GET', 'sys/policies/acl/app', undefined, token));
  });

  it('AppRole: a token renews through the plugin while its role exists, and not once the role is deleted', async () => {
    ok(await call('POST', 'auth/approle/role/renewing', { token_policies: 'app', token_ttl: '5m', token_max_ttl: '1h' }), 204);
    const secret = await newSecret('renewing');
    const auth = ok(await login(await roleIdOf('renewing'), secret.secret_id)).auth;
    const token = auth.client_token as string;
    ok(await call('POST', 'auth/approle/role/renewing', { token_ttl: '6m' }), 204);
    assert.equal(ok(await call('POST', 'auth/token/renew-self', {}, token)).auth.lease_duration, 360, "the role's current TTL");

    ok(await call('DELETE', 'auth/approle/role/renewing'), 204);
    const expiry = await expiryOf(token);
    await refusedRenewal(call('POST', 'auth/token/renew-self', { increment: '20m' }, token), 'role "renewing" does not exist during renewal');
    await refusedRenewal(call('POST', 'auth/token/renew', { token }), 'role "renewing" does not exist during renewal');
    assert.equal(await expiryOf(token), expiry, 'the TTL is unchanged');
  });

  it('cubbyhole: mounted as in Vault, private to each token', async () => {
    const mounts = await eventually(async () => {
      const listed = ok(await call('GET', 'sys/mounts')).data;
      assert.ok(listed['cubbyhole/'], 'cubbyhole/ is mounted');
      return listed;
    });
    assert.deepEqual([mounts['cubbyhole/'].type, mounts['cubbyhole/'].description, mounts['cubbyhole/'].local], ['cubbyhole', 'per-token private secret storage', true]);
    assert.match(mounts['cubbyhole/'].accessor, /^cubbyhole_[0-9a-f]{8}$/);
    assert.deepEqual((await call('DELETE', 'sys/mounts/cubbyhole')).body, { errors: ['cannot unmount "cubbyhole/"'] });

    const a = ok(await call('POST', 'auth/token/create', { policies: ['default'] })).auth.client_token;
    const b = ok(await call('POST', 'auth/token/create', { policies: ['default'] })).auth.client_token;
    ok(await call('POST', 'cubbyhole/app/pw', { value: 'for-a-only' }, a), 204);
    assert.deepEqual(ok(await call('GET', 'cubbyhole/app/pw', undefined, a)).data, { value: 'for-a-only' });
    assert.equal((await call('GET', 'cubbyhole/app/pw', undefined, b)).status, 404);
    assert.equal((await call('LIST', 'cubbyhole/', undefined, b)).status, 404);
    assert.deepEqual(ok(await call('LIST', 'cubbyhole/', undefined, a)).data.keys, ['app/']);
    ok(await call('POST', 'cubbyhole/app/pw', { value: 'for-b' }, b), 204);
    assert.deepEqual(ok(await call('GET', 'cubbyhole/app/pw', undefined, a)).data, { value: 'for-a-only' });
    // The root token has a cubbyhole of its own too, and it does not see theirs either.
    assert.equal((await call('GET', 'cubbyhole/app/pw')).status, 404);
  });

  it('an unmodified Vault client (node-vault) runs the AppRole login', async () => {
    const admin = NodeVault({ apiVersion: 'v1', endpoint: target().url, token: target().rootToken });
    await admin.addApproleRole({ role_name: 'nodevault', policies: 'app', token_ttl: 900 });
    const { data: roleIdData } = await admin.getApproleRoleId({ role_name: 'nodevault' });
    const { data: secretData } = await admin.getApproleRoleSecret({ role_name: 'nodevault' });
    const client = NodeVault({ apiVersion: 'v1', endpoint: target().url });
    const result = await client.approleLogin({ role_id: roleIdData.role_id, secret_id: secretData.secret_id });
    assert.deepEqual([result.auth.policies, result.auth.metadata, result.auth.lease_duration], [['app', 'default'], { role_name: 'nodevault' }, 900]);
    assert.equal(client.token, result.auth.client_token, 'node-vault adopted the token');
    const self = await client.tokenLookupSelf();
    assert.equal(self.data.meta.role_name, 'nodevault');
    const looked = await admin.approleSecretAccessorLookup({ role_name: 'nodevault', secret_id_accessor: secretData.secret_id_accessor });
    assert.equal(looked.data.secret_id_accessor, secretData.secret_id_accessor);
  });

  it('the same client gets a secret ID response-wrapped, unwraps it once and logs in with it', async () => {
    const admin = NodeVault({ apiVersion: 'v1', endpoint: target().url, token: target().rootToken });
    await admin.addApproleRole({ role_name: 'nodevault-wrap', policies: 'app' });
    const { data: roleIdData } = await admin.getApproleRoleId({ role_name: 'nodevault-wrap' });
    const wrapped = await admin.write('auth/approle/role/nodevault-wrap/secret-id', {}, { headers: { 'X-Vault-Wrap-TTL': '60s' } });
    assert.equal(wrapped.data, null, 'the secret ID is only in the wrapping token');
    assert.equal(wrapped.wrap_info.ttl, 60);
    assert.equal(wrapped.wrap_info.creation_path, 'auth/approle/role/nodevault-wrap/secret-id');
    const holder = NodeVault({ apiVersion: 'v1', endpoint: target().url, token: wrapped.wrap_info.token });
    const unwrapped = await holder.unwrap();
    assert.match(unwrapped.data.secret_id, /^[0-9a-f-]{36}$/);
    const login = await NodeVault({ apiVersion: 'v1', endpoint: target().url }).approleLogin({ role_id: roleIdData.role_id, secret_id: unwrapped.data.secret_id });
    assert.deepEqual(login.auth.policies, ['app', 'default']);
    // Spent: as the request's own token it is now unknown, which Vault answers 403 permission denied.
    await assert.rejects(holder.unwrap(), /permission denied/, 'a wrapping token unwraps once');
  });
}

describe('AppRole, userpass token fields and cubbyhole on the dev server', () => {
  let server: DevServer;
  before(async () => {
    server = await startDevServer();
  });
  after(() => server?.stop());
  scenarios(() => ({ url: server.url, rootToken: server.rootToken }));
});

describe('AppRole, userpass token fields and cubbyhole on the services as processes', () => {
  let cluster: Cluster;
  let rootToken: string;
  const call = async (method: string, path: string, body?: unknown, token = rootToken) => {
    const r = await fetch(`${cluster.url}/v1/${path}`, { method, headers: { 'x-vault-token': token }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
  const rows = async (sql: string, params: unknown[]) => {
    const client = new pg.Client({ connectionString: cluster.databaseUrl });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  const cubbyholeKeys = async (accessor: string) => {
    const uuid = (await call('GET', 'sys/mounts')).body.data['cubbyhole/'].uuid;
    return rows('SELECT key FROM coffer_plugin_storage WHERE mount_uuid = $1 AND starts_with(key, $2)', [uuid, `${cubbyholeScope(accessor)}/`]);
  };

  before(async () => {
    cluster = await Cluster.create();
    await cluster.startAll();
    // No registration: approle, userpass and cubbyhole are builtins, and the server mounts cubbyhole/ itself.
    ({ rootToken } = await cluster.initAndUnseal());
  });
  after(() => cluster?.stop());

  scenarios(() => ({ url: cluster.url, rootToken }));

  it("cubbyhole: revoking a token deletes its cubbyhole's rows, its subtree's too, and only theirs", async () => {
    const create = async (token = rootToken, body: Record<string, unknown> = { policies: ['default'] }) =>
      (await call('POST', 'auth/token/create', body, token)).body.auth as { client_token: string; accessor: string };
    const spawner = 'path "auth/token/create" { capabilities = ["update"] }';
    assert.equal((await call('PUT', 'sys/policies/acl/spawner', { policy: spawner })).status, 204);
    const parent = await create(rootToken, { policies: ['default', 'spawner'] });
    const child = await create(parent.client_token);
    const bystander = await create();
    for (const t of [parent, child, bystander]) assert.equal((await call('POST', 'cubbyhole/k', { v: t.accessor }, t.client_token)).status, 204);
    for (const t of [parent, child, bystander]) assert.equal((await cubbyholeKeys(t.accessor)).length, 1);

    assert.equal((await call('POST', 'auth/token/revoke', { token: parent.client_token })).status, 204);
    await eventually(async () => {
      assert.equal((await cubbyholeKeys(parent.accessor)).length, 0);
      assert.equal((await cubbyholeKeys(child.accessor)).length, 0, "the child's cubbyhole goes with its parent");
    });
    assert.deepEqual((await call('GET', 'cubbyhole/k', undefined, bystander.client_token)).body.data, { v: bystander.accessor });

    // revoke-self, and a token's last use (revoked before its request reaches the plugin) clean up too.
    assert.equal((await call('POST', 'auth/token/revoke-self', {}, bystander.client_token)).status, 204);
    await eventually(async () => assert.equal((await cubbyholeKeys(bystander.accessor)).length, 0));
    const once = await create(rootToken, { policies: ['default'], num_uses: 1 });
    assert.equal((await call('POST', 'cubbyhole/k', { v: 'last' }, once.client_token)).status, 204);
    await eventually(async () => assert.equal((await cubbyholeKeys(once.accessor)).length, 0));
  });

  it('cubbyhole: an expired token cannot reach its cubbyhole, and the rows go when the expiry is found', async () => {
    const short = (await call('POST', 'auth/token/create', { policies: ['default'], ttl: '2s' })).body.auth;
    assert.equal((await call('POST', 'cubbyhole/k', { v: 'brief' }, short.client_token)).status, 204);
    assert.equal((await cubbyholeKeys(short.accessor)).length, 1);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await call('GET', 'cubbyhole/k', undefined, short.client_token)).status, 403);
    await eventually(async () => assert.equal((await cubbyholeKeys(short.accessor)).length, 0));
  });
});
