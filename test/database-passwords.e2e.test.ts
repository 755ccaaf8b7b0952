import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { Cluster } from './support/cluster.js';
import { eventually, type Envelope } from './support/http.js';
import { OwnPostgres } from './support/own-postgres.js';

/**
 * The database secrets engine against a Postgres cluster of the test's own that checks passwords (scram-sha-256):
 * the machine's cluster trusts loopback, so only here does "the password works" or "the old password is refused"
 * mean anything. Services as processes: two runners, two gateways.
 */
describe('database secrets engine: passwords checked by a scram-sha-256 Postgres', () => {
  let server: OwnPostgres;
  let cluster: Cluster;
  let root: Record<string, string>;
  let A: string;
  let B: string;
  let admin: pg.Client;
  const ROOT_ROLE = 'coffer_root';
  const ROOT_PASSWORD = 'root-initial-password';

  const call = async (method: string, path: string, body?: unknown, base = A) => {
    const r = await fetch(`${base}/v1/${path}`, { method, headers: root, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as Envelope };
  };
  const ok = async (method: string, path: string, body?: unknown, base = A) => {
    const r = await call(method, path, body, base);
    assert.ok(r.status === 200 || r.status === 204, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  /** Logs in with a password over TCP (scram-sha-256) and says who it is. */
  const loginAs = async (user: string, password: string) => {
    const client = new pg.Client({ connectionString: server.url('postgres', user, password) });
    await client.connect();
    try {
      return (await client.query('SELECT current_user AS u')).rows[0].u as string;
    } finally {
      await client.end();
    }
  };
  const templatedUrl = () => `postgres://{{username}}:{{password}}@127.0.0.1:${server.port}/postgres`;

  before(async () => {
    process.env.COFFER_LEASE_TICK_MS = '200';
    process.env.COFFER_PERIODIC_TICK_MS = '500';
    server = await OwnPostgres.start({ auth: 'scram-sha-256' });
    admin = new pg.Client({ connectionString: server.url() });
    await admin.connect();
    // The engine's root user is not the superuser: rotate-root must not lock the test's own admin out.
    await admin.query(`CREATE ROLE ${ROOT_ROLE} WITH LOGIN CREATEROLE PASSWORD '${ROOT_PASSWORD}'`);
    cluster = await Cluster.create({ extraConfig: 'plugin_sandbox = "uid"\n' });
    await cluster.startAll();
    await cluster.start('plugin-runner', 'plugin-runner-2');
    await cluster.start('gateway', 'gateway-b');
    A = cluster.urlOf('gateway');
    B = cluster.urlOf('gateway-b');
    root = { 'x-vault-token': (await cluster.initAndUnseal()).rootToken };
    await ok('POST', 'sys/mounts/database', { type: 'database' });
    await ok('POST', 'database/config/scram', {
      plugin_name: 'postgresql-database-plugin',
      connection_url: templatedUrl(),
      username: ROOT_ROLE,
      password: ROOT_PASSWORD,
      allowed_roles: '*',
    });
    await ok('POST', 'database/roles/app', {
      db_name: 'scram',
      creation_statements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
      default_ttl: '1h',
    });
  });

  after(async () => {
    delete process.env.COFFER_LEASE_TICK_MS;
    delete process.env.COFFER_PERIODIC_TICK_MS;
    await cluster?.stop();
    await admin?.end().catch(() => {});
    await server?.destroy();
  });

  it("creds: the issued password logs in, a wrong one is refused, and after revoke the creds are refused", async () => {
    const creds = await ok('GET', 'database/creds/app');
    const { username, password } = creds.data! as { username: string; password: string };
    assert.equal(await loginAs(username, password), username, 'the issued password logs in');
    await assert.rejects(loginAs(username, `${password}x`), /password authentication failed/, 'a wrong password is refused');

    await ok('PUT', 'sys/leases/revoke', { lease_id: creds.lease_id }, B);
    await eventually(async () => {
      await assert.rejects(loginAs(username, password), /password authentication failed|role .* does not exist/, 'revoked creds are refused');
    }, 30_000);
  });

  it('rotate-root: the old root password is refused, and the engine keeps working with the new one', async () => {
    assert.equal(await loginAs(ROOT_ROLE, ROOT_PASSWORD), ROOT_ROLE, 'before: the initial root password logs in');
    await ok('POST', 'database/rotate-root/scram');
    await assert.rejects(loginAs(ROOT_ROLE, ROOT_PASSWORD), /password authentication failed/, 'the old root password is refused');

    // Both gateways (and so both runners' pools): creds are created and revoked with the rotated root password.
    for (const base of [A, B]) {
      const creds = await ok('GET', 'database/creds/app', undefined, base);
      const { username, password } = creds.data! as { username: string; password: string };
      assert.equal(await loginAs(username, password), username);
      await ok('PUT', 'sys/leases/revoke', { lease_id: creds.lease_id }, base);
      await eventually(async () => {
        const left = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username]);
        assert.equal(left.rowCount, 0, 'revoked with the new root password: the role is gone');
      }, 30_000);
    }
    assert.equal((await call('POST', 'database/reset/scram')).status, 204, 'a reset reconnects with the stored (new) password');
  });
});
