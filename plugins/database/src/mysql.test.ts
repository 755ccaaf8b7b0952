/**
 * mysql-database-plugin against the machine's MariaDB (127.0.0.1:3306, root without a password, database `test`;
 * scripts/ensure-services.sh starts it), through the backend as the host drives it (the SDK harness, real driver).
 * MariaDB checks passwords over TCP, so here a login with the issued password, a wrong one and a revoked one mean what
 * they say.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { createHarness, type HarnessResult } from '#plugin-sdk';
import { createDatabaseBackend } from './backend.js';
import { mysqlOptions } from './mysql.js';

const ADMIN = mysqlOptions(process.env.COFFER_TEST_MYSQL_URL ?? 'root@tcp(127.0.0.1:3306)/test');
const ok = (result: HarnessResult) => {
  assert.ok(!result.error, `unexpected error: ${result.error?.kind} ${result.error?.message}`);
  return result.response;
};

describe('mysql-database-plugin on MariaDB: passwords that log in, and stop', () => {
  const suffix = randomBytes(3).toString('hex');
  const ROOT = `coffer_root_${suffix}`;
  const STATIC = `coffer_static_${suffix}`;
  const DB = `coffer_my_${suffix}`;
  let admin: mysql.Connection;
  const harness = createHarness(createDatabaseBackend(), { mount: { path: 'database/', type: 'database' } });
  const loginAs = async (user: string, password: string) => {
    const c = await mysql.createConnection({ host: ADMIN.host, port: ADMIN.port, user, password, database: DB });
    try {
      const [rows] = await c.query('SELECT CURRENT_USER() AS u');
      return (rows as { u: string }[])[0]!.u;
    } finally {
      await c.end();
    }
  };
  const userExists = async (user: string) => ((await admin.query('SELECT 1 FROM mysql.user WHERE User = ?', [user]))[0] as unknown[]).length > 0;

  before(async () => {
    admin = await mysql.createConnection(ADMIN);
    await admin.query(`CREATE DATABASE ${DB}`);
    await admin.query(`CREATE TABLE ${DB}.things (id int)`);
    await admin.query(`CREATE USER '${ROOT}'@'%' IDENTIFIED BY 'root-initial'`);
    await admin.query(`GRANT ALL PRIVILEGES ON *.* TO '${ROOT}'@'%' WITH GRANT OPTION`);
    await admin.query(`CREATE USER '${STATIC}'@'%' IDENTIFIED BY 'static-initial'`);
    await admin.query(`GRANT SELECT ON ${DB}.* TO '${STATIC}'@'%'`);
    ok(await harness.request('update', 'config/maria', {
      plugin_name: 'mysql-database-plugin',
      connection_url: `{{username}}:{{password}}@tcp(${ADMIN.host}:${ADMIN.port})/${DB}`,
      username: ROOT,
      password: 'root-initial',
      allowed_roles: '*',
    }));
    ok(await harness.request('update', 'roles/reader', {
      db_name: 'maria',
      creation_statements: `CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT SELECT ON ${DB}.* TO '{{name}}'@'%'`,
      default_ttl: '1h',
    }));
  });

  after(async () => {
    await harness.cleanup().catch(() => {});
    if (!admin) return;
    const [left] = await admin.query(`SELECT User FROM mysql.user WHERE User LIKE 'v-token-%' OR User IN (?, ?)`, [ROOT, STATIC]);
    for (const { User } of left as { User: string }[]) await admin.query(`DROP USER IF EXISTS '${User}'@'%'`).catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`).catch(() => {});
    await admin.end();
  });

  it('a config with a wrong root password is refused at write', async () => {
    const refused = await harness.request('update', 'config/wrong', {
      plugin_name: 'mysql-database-plugin',
      connection_url: `{{username}}:{{password}}@tcp(${ADMIN.host}:${ADMIN.port})/${DB}`,
      username: ROOT,
      password: 'not-it',
    });
    assert.match(refused.error!.message, /^error creating database object: error verifying connection: Access denied for user/);
  });

  it('creds: a user of at most 32 characters whose password logs in; a wrong one is refused; revoke drops it', async () => {
    const response = ok(await harness.request('read', 'creds/reader'))!;
    const { username, password } = response.data as { username: string; password: string };
    assert.match(username, /^v-token-reader-[0-9A-Za-z]+$/);
    assert.ok(username.length <= 32, username);
    assert.match(await loginAs(username, password), new RegExp(`^${username}@`));
    await assert.rejects(loginAs(username, `${password}x`), /Access denied/);
    const renewed = await harness.renew(harness.leaseOf(response), 600);
    assert.ok('value' in renewed, 'renewal runs nothing on MySQL, and succeeds');
    assert.ok('value' in (await harness.revoke(harness.leaseOf(response))));
    assert.equal(await userExists(username), false, 'the user is dropped');
    await assert.rejects(loginAs(username, password), /Access denied/);
    assert.ok('value' in (await harness.revoke(harness.leaseOf(response))), 'a second revoke is harmless');
  });

  it('static role: creating it takes the password over; rotations log in and the old password is refused', async () => {
    ok(await harness.request('update', 'static-roles/svc', { db_name: 'maria', username: STATIC, rotation_period: '1h' }));
    await assert.rejects(loginAs(STATIC, 'static-initial'), /Access denied/);
    const first = ok(await harness.request('read', 'static-creds/svc'))!.data!.password as string;
    assert.match(await loginAs(STATIC, first), new RegExp(`^${STATIC}@`));
    ok(await harness.request('update', 'rotate-role/svc'));
    const second = ok(await harness.request('read', 'static-creds/svc'))!.data!.password as string;
    assert.notEqual(second, first);
    assert.match(await loginAs(STATIC, second), new RegExp(`^${STATIC}@`));
    await assert.rejects(loginAs(STATIC, first), /Access denied/);
  });

  it('rotate-root: the old root password is refused and the engine works on with the new one', async () => {
    ok(await harness.request('update', 'rotate-root/maria'));
    await assert.rejects(loginAs(ROOT, 'root-initial'), /Access denied/);
    const response = ok(await harness.request('read', 'creds/reader'))!;
    const { username, password } = response.data as { username: string; password: string };
    assert.match(await loginAs(username, password), new RegExp(`^${username}@`));
    assert.ok('value' in (await harness.revoke(harness.leaseOf(response))));
    assert.equal(await userExists(username), false);
  });
});
