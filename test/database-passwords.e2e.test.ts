import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
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
  const STATIC_USER = 'app_static';
  const STATIC_INITIAL = 'static-initial-password';

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
    // An existing user for the static role, and a table its rotation statements count into.
    await admin.query(`CREATE ROLE ${STATIC_USER} WITH LOGIN PASSWORD '${STATIC_INITIAL}'`);
    await admin.query('CREATE TABLE rotations (username text NOT NULL, at timestamptz NOT NULL DEFAULT now())');
    await admin.query(`GRANT INSERT ON rotations TO ${ROOT_ROLE}`);
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

  it('static-roles: creating one takes the password over; it then changes on schedule, each new one logs in and the old is refused', async () => {
    await ok('POST', 'database/static-roles/svc', {
      db_name: 'scram',
      username: STATIC_USER,
      rotation_period: '5s',
      rotation_statements: [`ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}'`, `INSERT INTO rotations (username) VALUES ('{{name}}')`],
    });
    await assert.rejects(loginAs(STATIC_USER, STATIC_INITIAL), /password authentication failed/, 'the initial password no longer works');
    const first = (await ok('GET', 'database/static-creds/svc')).data!;
    assert.equal(first.username, STATIC_USER);
    assert.equal(first.rotation_period, 5);
    assert.ok(first.ttl <= 5);
    assert.equal(await loginAs(STATIC_USER, first.password), STATIC_USER, 'the password static-creds gives logs in');
    const read = (await ok('GET', 'database/static-roles/svc', undefined, B)).data!;
    assert.equal(read.username, STATIC_USER);
    assert.ok(!JSON.stringify(read).includes(first.password), 'the role never shows the password');

    // No client request: the runners' periodic call rotates it once rotation_period has run out.
    let second: Record<string, any> = first;
    await eventually(async () => {
      second = (await ok('GET', 'database/static-creds/svc', undefined, B)).data!;
      assert.notEqual(second.password, first.password, 'rotated on schedule');
    }, 60_000);
    assert.ok(Date.parse(second.last_vault_rotation) >= Date.parse(first.last_vault_rotation) + 5_000, 'not before rotation_period ran out');
    // Read and log in again on failure: the next scheduled rotation may fall between the two on a busy machine.
    await eventually(async () => {
      const now = (await ok('GET', 'database/static-creds/svc')).data!;
      assert.equal(await loginAs(STATIC_USER, now.password), STATIC_USER, 'the rotated password logs in');
    }, 30_000);
    await assert.rejects(loginAs(STATIC_USER, first.password), /password authentication failed/, 'the previous password is refused');

    // rotate-role, through the other gateway: a new password at once.
    const before = (await ok('GET', 'database/static-creds/svc')).data!;
    const manualAt = Date.now();
    await ok('POST', 'database/rotate-role/svc', undefined, B);
    await eventually(async () => {
      const manual = (await ok('GET', 'database/static-creds/svc')).data!;
      assert.notEqual(manual.password, before.password);
      assert.equal(await loginAs(STATIC_USER, manual.password), STATIC_USER);
    }, 30_000);

    // Two runners tick, yet no rotation ran twice: the scheduled ones (before the manual one) are at least
    // rotation_period apart. A busy machine only makes the gaps longer.
    await ok('DELETE', 'database/static-roles/svc');
    const rows = (await admin.query('SELECT at FROM rotations WHERE username = $1 ORDER BY at', [STATIC_USER])).rows as { at: Date }[];
    const scheduled = rows.filter((r) => r.at.getTime() < manualAt);
    assert.ok(scheduled.length >= 2, `rotations before rotate-role: ${scheduled.length} of ${JSON.stringify(rows)}, rotate-role at ${new Date(manualAt).toISOString()}`);
    for (let i = 1; i < scheduled.length; i++) {
      const gap = scheduled[i]!.at.getTime() - scheduled[i - 1]!.at.getTime();
      assert.ok(gap >= 4_500, `rotation ${i} came ${gap} ms after the one before`);
    }
    assert.deepEqual((await call('GET', 'database/static-creds/svc')).body.errors, ['unknown role: svc']);
  });

  it('mysql-database-plugin on the same mount (MariaDB checks passwords): creds log in, a wrong password and a revoked user are refused', async () => {
    const MY = { host: '127.0.0.1', port: 3306 };
    const db = `coffer_dbp_${randomBytes(3).toString('hex')}`;
    const myAdmin = await mysql.createConnection({ ...MY, user: 'root', password: '' });
    const myLogin = async (user: string, password: string) => {
      const c = await mysql.createConnection({ ...MY, user, password, database: db });
      try {
        return ((await c.query('SELECT CURRENT_USER() AS u'))[0] as { u: string }[])[0]!.u;
      } finally {
        await c.end();
      }
    };
    try {
      await myAdmin.query(`CREATE DATABASE ${db}`);
      await ok('POST', 'database/config/maria', {
        plugin_name: 'mysql-database-plugin',
        connection_url: `{{username}}:{{password}}@tcp(127.0.0.1:3306)/${db}`,
        username: 'root',
        password: '',
        allowed_roles: 'maria-reader',
      });
      await ok('POST', 'database/roles/maria-reader', {
        db_name: 'maria',
        creation_statements: `CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT SELECT ON ${db}.* TO '{{name}}'@'%'`,
        default_ttl: '1h',
      });
      // Both connections live side by side on one mount, each with its plugin_name.
      assert.equal((await ok('GET', 'database/config/scram')).data!.plugin_name, 'postgresql-database-plugin');
      assert.equal((await ok('GET', 'database/config/maria', undefined, B)).data!.plugin_name, 'mysql-database-plugin');
      const creds = await ok('GET', 'database/creds/maria-reader', undefined, B);
      const { username, password } = creds.data! as { username: string; password: string };
      assert.ok(username.length <= 32, username);
      assert.match(await myLogin(username, password), new RegExp(`^${username}@`));
      await assert.rejects(myLogin(username, `${password}x`), /Access denied/);
      await ok('PUT', 'sys/leases/revoke', { lease_id: creds.lease_id });
      await eventually(async () => {
        await assert.rejects(myLogin(username, password), /Access denied/, 'revoked: the user is dropped');
      }, 30_000);
    } finally {
      await myAdmin.query(`DROP DATABASE IF EXISTS ${db}`).catch(() => {});
      const [left] = await myAdmin.query(`SELECT User FROM mysql.user WHERE User LIKE 'v-token-maria%'`);
      for (const { User } of left as { User: string }[]) await myAdmin.query(`DROP USER IF EXISTS '${User}'@'%'`).catch(() => {});
      await myAdmin.end();
    }
  });
});
