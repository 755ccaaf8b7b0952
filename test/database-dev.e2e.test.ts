import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { adminQuery, TEST_DATABASE_URL } from './support/cluster.js';
import { startDevServer, type DevServer } from './support/dev-server.js';
import { eventually, type Envelope } from './support/http.js';

/**
 * The database engine's whole flow on `coffer server -dev` against the machine's Postgres (127.0.0.1:5432, a database
 * of the test's own): config, role, creds, login as the new role, revoke, the role is gone. The dev server's default
 * sandbox gives plugins no network where bubblewrap works, so the engine runs with -dev-plugin-sandbox=uid, as
 * docs/engines.md says (the same level its runners need in a cluster).
 */
describe('the database engine on the dev server, against the machine\'s Postgres', () => {
  let server: DevServer;
  let db: pg.Client;
  const dbName = `coffer_dbdev_${randomBytes(4).toString('hex')}`;
  const issued: string[] = [];
  const dbUrl = (user = 'postgres') => {
    const u = new URL(TEST_DATABASE_URL);
    u.username = user;
    u.password = '';
    u.pathname = `/${dbName}`;
    return u.toString();
  };
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${server.url}/v1/${path}`, { method, headers: { 'x-vault-token': server.rootToken }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as Envelope };
  };
  const ok = async (method: string, path: string, body?: unknown) => {
    const r = await call(method, path, body);
    assert.ok(r.status === 200 || r.status === 204, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const roleExists = async (name: string) => (await db.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1;
  const loginAs = async (user: string) => {
    const client = new pg.Client({ connectionString: dbUrl(user) });
    await client.connect();
    try {
      return (await client.query('SELECT current_user AS u')).rows[0].u as string;
    } finally {
      await client.end();
    }
  };

  before(async () => {
    await adminQuery(`CREATE DATABASE ${dbName}`);
    db = new pg.Client({ connectionString: dbUrl() });
    await db.connect();
    await db.query('CREATE TABLE revocations (name text NOT NULL)');
    server = await startDevServer({ args: ['-dev-plugin-sandbox=uid'], env: { COFFER_LEASE_TICK_MS: '200' } });
  });

  after(async () => {
    await server?.stop();
    await db?.end().catch(() => {});
    await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    for (const role of issued) await adminQuery(`DROP ROLE IF EXISTS "${role}"`).catch(() => {});
  });

  it('says which sandbox its plugins run in', () => {
    assert.match(server.output(), /Plugin Sandbox: uid as /);
  });

  it('config → role → creds → login → revoke → the role is gone, revoked once', async () => {
    await ok('POST', 'sys/mounts/database', { type: 'database' });
    // verify_connection (the default): the write itself proves the plugin reaches 127.0.0.1:5432.
    await ok('POST', 'database/config/pg', {
      plugin_name: 'postgresql-database-plugin',
      connection_url: dbUrl().replace('postgres@', '{{username}}:{{password}}@'),
      username: 'postgres',
      password: 'unused-under-trust',
      allowed_roles: 'app',
    });
    await ok('POST', 'database/roles/app', {
      db_name: 'pg',
      creation_statements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
      revocation_statements: `INSERT INTO revocations (name) VALUES ('{{name}}'); DROP ROLE IF EXISTS "{{name}}"`,
      default_ttl: '1h',
    });
    const creds = await ok('GET', 'database/creds/app');
    const username = creds.data!.username as string;
    issued.push(username);
    assert.match(creds.lease_id, /^database\/creds\/app\/[0-9A-Za-z]{24}$/);
    assert.equal(creds.lease_duration, 3600);
    assert.equal(await loginAs(username), username, 'the new role logs in');

    assert.equal((await ok('PUT', 'sys/leases/renew', { lease_id: creds.lease_id, increment: 600 })).lease_duration, 600);
    assert.equal((await call('PUT', 'sys/leases/revoke', { lease_id: creds.lease_id })).status, 204);
    await eventually(async () => assert.equal(await roleExists(username), false, 'revoked: the role is gone'));
    await assert.rejects(loginAs(username), /role .* does not exist/);
    const counted = await db.query('SELECT count(*)::int AS n FROM revocations WHERE name = $1', [username]);
    assert.equal(counted.rows[0].n, 1);
    assert.deepEqual((await call('PUT', 'sys/leases/lookup', { lease_id: creds.lease_id })).body.errors, ['invalid lease']);
  });

  it('a short lease expires on the dev server and its role is dropped', async () => {
    await ok('POST', 'database/roles/app', {
      db_name: 'pg',
      creation_statements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}'`,
      revocation_statements: `INSERT INTO revocations (name) VALUES ('{{name}}'); DROP ROLE IF EXISTS "{{name}}"`,
      default_ttl: 1,
    });
    const creds = await ok('GET', 'database/creds/app');
    const username = creds.data!.username as string;
    issued.push(username);
    await eventually(async () => assert.equal(await roleExists(username), false, 'expired: the role is gone'), 30_000);
    const counted = await db.query('SELECT count(*)::int AS n FROM revocations WHERE name = $1', [username]);
    assert.equal(counted.rows[0].n, 1);
  });
});
