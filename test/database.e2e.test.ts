import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { TEST_DATABASE_URL } from './support/cluster.js';
import { DatabaseEngineCluster } from './support/database-engine.js';
import { eventually } from './support/http.js';

const LEASE_ID = /^database\/creds\/[\w-]+\/[0-9A-Za-z]{24}$/;

/**
 * The database secrets engine (the builtin `database`) on the services as processes (two gateways, two runners),
 * against the machine's Postgres: a database of the test's own, in which the engine creates real roles. Postgres
 * trusts local connections, so "the credentials work" is: connecting as the new role succeeds; "revoked" is: the role
 * no longer exists (test/support/database-engine.ts). The whole lease lifecycle, restarts included, is
 * test/leases-lifecycle.e2e.test.ts.
 */
describe('database secrets engine on the services: PostgreSQL roles under leases', () => {
  let t: DatabaseEngineCluster;
  let A: string;
  let B: string;
  let admin: pg.Client;
  let db: pg.Client;
  const rootRole = `coffer_dbe_root_${randomBytes(4).toString('hex')}`;
  const dbUrl = (user?: string) => t.dbUrl(user);
  const templatedUrl = () => t.templatedUrl();
  const call = (method: string, path: string, body?: unknown, base?: string) => t.call(method, path, body, base);
  const ok = (method: string, path: string, body?: unknown, base?: string) => t.ok(method, path, body, base);
  const roleExists = (name: string) => t.roleExists(name);
  const loginAs = (user: string) => t.loginAs(user);

  before(async () => {
    process.env.COFFER_LEASE_TICK_MS = '200';
    admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    t = await DatabaseEngineCluster.start('coffer_dbe');
    await admin.query(`CREATE ROLE ${rootRole} WITH LOGIN CREATEROLE PASSWORD 'initial'`);
    ({ A, B, db } = t);
    await db.query('CREATE TABLE revocations (username text NOT NULL)');
    await db.query('CREATE TABLE things (id int)');
  });

  after(async () => {
    delete process.env.COFFER_LEASE_TICK_MS;
    await t?.stop([rootRole]);
    await admin?.end();
  });

  it('config: verifies the connection at write in Vault\'s words, never returns the password, lists and deletes', async () => {
    const bad = await call('POST', 'database/config/nowhere', {
      plugin_name: 'postgresql-database-plugin',
      connection_url: dbUrl().replace(t.dbName, `${t.dbName}_missing`),
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body.errors![0], /^error creating database object: error verifying connection: database ".*_missing" does not exist$/);
    assert.equal((await call('GET', 'database/config/nowhere')).status, 404, 'nothing stored');

    const wrong = await call('POST', 'database/config/my', { plugin_name: 'mongodb-database-plugin', connection_url: templatedUrl() });
    assert.equal(wrong.status, 400);
    assert.deepEqual(wrong.body.errors, ['error creating database object: unknown database plugin: mongodb-database-plugin']);
    assert.deepEqual((await call('POST', 'database/config/my', { connection_url: templatedUrl() })).body.errors, ['empty plugin name']);

    // Not verified: the write succeeds although nothing listens there.
    await ok('POST', 'database/config/later', { plugin_name: 'postgresql-database-plugin', connection_url: 'postgres://x@127.0.0.1:1/x', verify_connection: false });

    await ok('POST', 'database/config/pg', {
      plugin_name: 'postgresql-database-plugin',
      connection_url: templatedUrl(),
      username: 'postgres',
      password: 'not-checked-by-trust',
      allowed_roles: 'reader,counted,short,renewing',
    });
    const read = (await ok('GET', 'database/config/pg')).data!;
    assert.equal(read.plugin_name, 'postgresql-database-plugin');
    assert.deepEqual(read.allowed_roles, ['reader', 'counted', 'short', 'renewing']);
    assert.equal(read.verify_connection, true);
    assert.equal(read.connection_details.username, 'postgres');
    assert.equal(read.connection_details.connection_url, templatedUrl());
    assert.ok(!('password' in read.connection_details), 'the password is never returned');
    assert.ok(!JSON.stringify(read).includes('not-checked-by-trust'));

    const literal = await ok('POST', 'database/config/literal', {
      plugin_name: 'postgresql-database-plugin',
      connection_url: dbUrl().replace('postgres@', 'postgres:secret@'),
    });
    assert.deepEqual(literal!.warnings, ['Password found in connection_url, use a templated url to enable root rotation and prevent read access to password information.']);
    assert.match((await ok('GET', 'database/config/literal')).data!.connection_details.connection_url, /postgres:xxxxx@/);

    assert.deepEqual((await ok('LIST', 'database/config')).data!.keys, ['later', 'literal', 'pg']);
    await ok('DELETE', 'database/config/literal');
    await ok('DELETE', 'database/config/later');
    assert.deepEqual((await ok('LIST', 'database/config')).data!.keys, ['pg']);
  });

  it('roles: db_name is required; statements and TTLs read back as Vault shows them', async () => {
    assert.deepEqual((await call('POST', 'database/roles/reader', { creation_statements: 'SELECT 1' })).body.errors, ['database name is required']);
    await ok('POST', 'database/roles/reader', {
      db_name: 'pg',
      creation_statements: [`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON things TO "{{name}}"`],
      default_ttl: '1h',
      max_ttl: '24h',
    });
    const role = (await ok('GET', 'database/roles/reader')).data!;
    assert.equal(role.db_name, 'pg');
    assert.deepEqual(role.creation_statements, [`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`, 'GRANT SELECT ON things TO "{{name}}"']);
    assert.deepEqual(role.revocation_statements, []);
    assert.equal(role.default_ttl, 3600);
    assert.equal(role.max_ttl, 86400);
    assert.equal(role.credential_type, 'password');
    assert.deepEqual((await ok('LIST', 'database/roles')).data!.keys, ['reader']);
    assert.deepEqual((await call('GET', 'database/creds/nobody')).body.errors, ['unknown role: nobody']);
  });

  it('creds: a real role that can connect, under a lease; sys/leases/revoke drops it (default revocation)', async () => {
    const creds = await ok('GET', 'database/creds/reader');
    assert.match(creds.lease_id, LEASE_ID);
    assert.equal(creds.lease_duration, 3600);
    assert.equal(creds.renewable, true);
    const { username, password } = creds.data!;
    assert.match(username, /^v-token-reader-[0-9A-Za-z]{20}-\d+$/);
    assert.equal(password.length, 20);
    assert.equal(await loginAs(username), username, 'the new role logs in');
    const grants = await db.query(`SELECT has_table_privilege($1, 'things', 'SELECT') AS s`, [username]);
    assert.equal(grants.rows[0].s, true, 'the creation statements ran');

    const renewed = await ok('PUT', 'sys/leases/renew', { lease_id: creds.lease_id, increment: 600 });
    assert.equal(renewed.lease_duration, 600);
    const until = (await db.query('SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1', [username])).rows[0].rolvaliduntil as Date;
    assert.ok(until instanceof Date, 'renewal set VALID UNTIL');

    await ok('PUT', 'sys/leases/revoke', { lease_id: creds.lease_id }, B);
    await eventually(async () => assert.equal(await roleExists(username), false, 'revoked: the role is gone'));
    await assert.rejects(loginAs(username), /role .* does not exist/);
    const lookup = await call('PUT', 'sys/leases/lookup', { lease_id: creds.lease_id });
    assert.deepEqual(lookup.body.errors, ['invalid lease']);
  });

  it('a role not in allowed_roles gets no credentials', async () => {
    await ok('POST', 'database/roles/outsider', { db_name: 'pg', creation_statements: `CREATE ROLE "{{name}}" LOGIN` });
    assert.deepEqual((await call('GET', 'database/creds/outsider')).body.errors, ['"outsider" is not an allowed role']);
  });

  it('a short-TTL lease expires and its role is dropped', async () => {
    await ok('POST', 'database/roles/short', {
      db_name: 'pg',
      creation_statements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
      default_ttl: 1,
    });
    const creds = await ok('GET', 'database/creds/short');
    assert.equal(creds.lease_duration, 1);
    const { username } = creds.data!;
    await eventually(async () => assert.equal(await roleExists(username), false, 'expired: the role is gone'), 30_000);
  });

  it('two gateways, two runners: every lease is revoked exactly once (revocation_statements count into a table)', async () => {
    await ok('POST', 'database/roles/counted', {
      db_name: 'pg',
      creation_statements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}'`,
      revocation_statements: `INSERT INTO revocations (username) VALUES ('{{name}}'); DROP ROLE IF EXISTS "{{name}}"`,
      default_ttl: 2,
    });
    const issued = await Promise.all(Array.from({ length: 8 }, (_, i) => ok('GET', 'database/creds/counted', undefined, i % 2 ? A : B)));
    const users = issued.map((c) => c.data!.username as string);
    for (const user of users) assert.equal(await roleExists(user), true);
    // Half are revoked by hand through both gateways while the others expire.
    await Promise.all(issued.slice(0, 4).map((c, i) => ok('PUT', 'sys/leases/revoke', { lease_id: c.lease_id }, i % 2 ? B : A)));
    await eventually(async () => {
      for (const user of users) assert.equal(await roleExists(user), false, `${user} still exists`);
      for (const c of issued) assert.deepEqual((await call('PUT', 'sys/leases/lookup', { lease_id: c.lease_id })).body.errors, ['invalid lease']);
    }, 30_000);
    const counts = await db.query('SELECT username, count(*)::int AS n FROM revocations GROUP BY username');
    const byUser = new Map(counts.rows.map((r) => [r.username as string, r.n as number]));
    for (const user of users) assert.equal(byUser.get(user), 1, `${user} revoked ${byUser.get(user) ?? 0} times`);
  });

  it('rotate-root sets a new password only Coffer knows; reset reopens the pool', async () => {
    await ok('POST', 'database/config/rotating', {
      plugin_name: 'postgresql-database-plugin',
      connection_url: templatedUrl(),
      username: rootRole,
      password: 'initial',
    });
    const hash = async () => (await admin.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [rootRole])).rows[0].rolpassword as string;
    const before = await hash();
    await ok('POST', 'database/rotate-root/rotating');
    assert.notEqual(await hash(), before, 'the password changed');
    assert.ok(!('password' in (await ok('GET', 'database/config/rotating')).data!.connection_details));

    await ok('POST', 'database/config/nopass', { plugin_name: 'postgresql-database-plugin', connection_url: templatedUrl(), username: rootRole });
    assert.deepEqual((await call('POST', 'database/rotate-root/nopass')).body.errors, ['unable to rotate root credentials: no password in configuration']);

    assert.equal((await call('POST', 'database/reset/pg')).status, 204);
    // The pool works after the reset.
    const creds = await ok('GET', 'database/creds/reader');
    assert.equal(await loginAs(creds.data!.username), creds.data!.username);
    await ok('PUT', 'sys/leases/revoke', { lease_id: creds.lease_id });
    assert.deepEqual((await call('POST', 'database/reset/missing')).body.errors, ['failed to find entry for connection with name: "missing"']);
  });
});
