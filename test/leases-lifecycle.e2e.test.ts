import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { DatabaseEngineCluster } from './support/database-engine.js';
import { eventually, type Envelope } from './support/http.js';

/**
 * Issue 13's lifecycle on the services as processes: two gateways (each runs the lease manager, so they are the two
 * lease owners), two runners, catalog and mount-manager, with the database engine creating real roles in the
 * machine's Postgres. Every role's revocation_statements also insert its name into a `revocations` table, so "revoked
 * exactly once" is a count read from Postgres; "the login is refused" is: the role is gone (Postgres trusts local
 * connections, so a password cannot be refused here; database.e2e and own-postgres tests cover passwords).
 */
describe('the lease lifecycle on the services: database creds from issue to revocation, across restarts and outages', () => {
  let t: DatabaseEngineCluster;
  let A: string;
  let B: string;
  /** The cluster's own database (where coffer_leases lives), to read a lease's retry state. */
  let store: pg.Client;

  const creds = async (role: string, base?: string, headers?: Record<string, string>) => {
    const c = await t.ok('GET', `database/creds/${role}`, undefined, base, headers);
    assert.match(c.lease_id, new RegExp(`^database/creds/${role}/[0-9A-Za-z]{24}$`));
    return c as Envelope & { data: { username: string; password: string } };
  };
  const revocations = async (name: string) => Number((await t.db.query('SELECT count(*) AS n FROM revocations WHERE name = $1', [name])).rows[0].n);
  const lookup = (id: string, base?: string) => t.call('PUT', 'sys/leases/lookup', { lease_id: id }, base);
  /** Waits until every lease is gone (lookup says so on both gateways), its role dropped, its statements run once. */
  const revokedOnce = (leases: { lease_id: string; data: { username: string } }[], ms = 60_000) =>
    eventually(async () => {
      for (const { lease_id, data } of leases) {
        assert.equal(await t.roleExists(data.username), false, `${data.username} still exists`);
        for (const base of [A, B]) assert.deepEqual((await lookup(lease_id, base)).body.errors, ['invalid lease'], lease_id);
        assert.equal(await revocations(data.username), 1, `${data.username} revoked ${await revocations(data.username)} times`);
      }
    }, ms);
  const role = (name: string, options: Record<string, unknown> = {}) =>
    t.ok('POST', `database/roles/${name}`, {
      db_name: 'pg',
      creation_statements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}'`,
      // The count first: a revocation that ran counts even if the drop were to fail (it does not; IF EXISTS).
      revocation_statements: `INSERT INTO revocations (name) VALUES ('{{name}}'); DROP ROLE IF EXISTS "{{name}}"`,
      default_ttl: '1h',
      max_ttl: '24h',
      ...options,
    });
  const restartEverything = async () => {
    const members = t.cluster.running();
    for (const m of members) await t.cluster.kill(m.name);
    return async () => {
      for (const m of members) await t.cluster.start(m.service, m.name);
    };
  };

  before(async () => {
    // The services inherit these: expiry passes every 200 ms, and a failing revocation is retried at least every 2 s.
    process.env.COFFER_LEASE_TICK_MS = '200';
    process.env.COFFER_LEASE_MAX_BACKOFF_MS = '2000';
    t = await DatabaseEngineCluster.start('coffer_lcy');
    ({ A, B } = t);
    store = new pg.Client({ connectionString: t.cluster.databaseUrl });
    await store.connect();
    await t.db.query('CREATE TABLE revocations (name text NOT NULL, at timestamptz NOT NULL DEFAULT now())');
    await t.ok('POST', 'database/config/pg', {
      plugin_name: 'postgresql-database-plugin',
      connection_url: t.templatedUrl(),
      username: 'postgres',
      password: 'unused-under-trust',
      allowed_roles: '*',
    });
    for (const name of ['app', 'tok', 'restart', 'outage', 'both']) await role(name);
    await role('short', { default_ttl: 1 });
    await role('race', { default_ttl: 2 });
  });

  after(async () => {
    delete process.env.COFFER_LEASE_TICK_MS;
    delete process.env.COFFER_LEASE_MAX_BACKOFF_MS;
    await store?.end().catch(() => {});
    await t?.stop();
  });

  it('creds are issued and log in; renew extends the lease; revoke drops the role, once, and the login is refused', async () => {
    const c = await creds('app', B);
    assert.equal(c.lease_duration, 3600);
    assert.equal(c.renewable, true);
    assert.equal(await t.loginAs(c.data.username), c.data.username, 'the new role logs in');

    const renewed = await t.ok('PUT', 'sys/leases/renew', { lease_id: c.lease_id, increment: '2h' }, A);
    assert.deepEqual([renewed.lease_id, renewed.lease_duration], [c.lease_id, 7200]);
    const looked = (await lookup(c.lease_id, B)).body.data!;
    assert.notEqual(looked.last_renewal, null);
    assert.ok(looked.ttl > 3600, `renewed past the first TTL (ttl ${looked.ttl})`);
    assert.equal(await t.loginAs(c.data.username), c.data.username, 'still logs in after the renewal');
    assert.equal(await revocations(c.data.username), 0);

    assert.equal((await t.call('PUT', 'sys/leases/revoke', { lease_id: c.lease_id }, A)).status, 204);
    await revokedOnce([c]);
    await assert.rejects(t.loginAs(c.data.username), /role .* does not exist/);
    // Revoking again (the other gateway) finds nothing and runs no statement.
    assert.equal((await t.call('PUT', 'sys/leases/revoke', { lease_id: c.lease_id }, B)).status, 204);
    assert.equal(await revocations(c.data.username), 1);
  });

  it('a lease expires by itself: its role is dropped once and the login is refused', async () => {
    const c = await creds('short');
    assert.equal(c.lease_duration, 1);
    await revokedOnce([c]);
    await assert.rejects(t.loginAs(c.data.username), /role .* does not exist/);
  });

  it("revoking a token takes its leases and its children's with it, and leaves the others", async () => {
    await t.ok('PUT', 'sys/policies/acl/db-creds', { policy: 'path "database/creds/*" { capabilities = ["read"] }\npath "auth/token/create" { capabilities = ["update"] }\n' });
    const token = async (base: string, headers?: Record<string, string>) =>
      ({ 'x-vault-token': ((await t.ok('POST', 'auth/token/create', { policies: ['db-creds'] }, base, headers)) as unknown as { auth: { client_token: string } }).auth.client_token });
    const parent = await token(A);
    const child = await token(B, parent);
    const theirs = [await creds('tok', A, parent), await creds('tok', B, child)];
    const other = await creds('tok');
    for (const c of theirs) assert.equal(await t.loginAs(c.data.username), c.data.username);

    assert.equal((await t.call('POST', 'auth/token/revoke', { token: parent['x-vault-token'] }, B)).status, 204);
    await revokedOnce(theirs);
    assert.equal((await lookup(other.lease_id)).status, 200, "the root token's lease stays");
    assert.equal(await t.loginAs(other.data.username), other.data.username);
    assert.equal(await revocations(other.data.username), 0);
  });

  it('across a full restart of every process: a live lease survives and expires afterwards; one due meanwhile is revoked once after unseal', async () => {
    const survivor = await creds('restart');
    const due = await creds('restart', B);
    // Made due now by a shorter renewal: its expiry comes while everything is stopped.
    const short = await t.ok('PUT', 'sys/leases/renew', { lease_id: due.lease_id, increment: 15 }, B);
    assert.equal(short.lease_duration, 15);
    const dueAt = Date.parse((await lookup(due.lease_id)).body.data!.expire_time);
    const dueUser = due.data.username;

    const startAgain = await restartEverything();
    assert.equal(await t.roleExists(dueUser), true, 'stopped before its expiry');
    // Stopped until the lease has been due a while: no one is left to revoke it.
    while (Date.now() < dueAt + 2_000) await new Promise((r) => setTimeout(r, 250));
    assert.equal(await t.roleExists(dueUser), true, 'due, but nothing runs');
    assert.equal(await revocations(dueUser), 0);

    await startAgain();
    // Sealed after the restart: the lease manager needs the barrier to read a lease, so nothing expires yet.
    assert.equal((await lookup(survivor.lease_id)).status, 503);
    assert.equal(await t.roleExists(dueUser), true, 'sealed: not revoked yet');
    await t.cluster.unseal(t.keys.slice(0, 1), 'gateway-b');

    await revokedOnce([due]);
    for (const base of [A, B]) {
      const found = await eventually(async () => {
        const r = await lookup(survivor.lease_id, base);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.data!;
      });
      assert.ok(found.ttl > 60, `the survivor keeps its hour (ttl ${found.ttl})`);
    }
    assert.equal(await t.loginAs(survivor.data.username), survivor.data.username, 'the survivor still logs in');
    assert.equal(await revocations(survivor.data.username), 0);

    // It expires afterwards: renewed down to a second, the restarted lease managers revoke it.
    assert.equal((await t.ok('PUT', 'sys/leases/renew', { lease_id: survivor.lease_id, increment: 1 }, A)).lease_duration, 1);
    await revokedOnce([survivor]);
  });

  it('with both runners stopped, a due lease is retried with backoff and revoked once a runner returns', async () => {
    const c = await creds('outage');
    await t.cluster.kill('plugin-runner');
    await t.cluster.kill('plugin-runner-2');
    // Queued: due now, for the expiry passes of both gateways.
    assert.equal((await t.call('PUT', 'sys/leases/revoke', { lease_id: c.lease_id, sync: false }, A)).status, 202);
    const retried = await eventually(async () => {
      const [row] = (await store.query('SELECT attempts, retry_at FROM coffer_leases WHERE lease_id = $1', [c.lease_id])).rows;
      assert.ok(row, 'the lease is kept while its revocation fails');
      assert.ok(row.attempts >= 3, `attempts ${row.attempts}`);
      return row as { attempts: number; retry_at: Date };
    }, 120_000);
    assert.ok(retried.retry_at instanceof Date, 'the next attempt is scheduled');
    assert.equal(await t.roleExists(c.data.username), true, 'no runner, no revocation');
    assert.equal(await revocations(c.data.username), 0);
    const logs = t.cluster.logOf('gateway') + t.cluster.logOf('gateway-b');
    assert.match(logs, /"msg":"lease revocation failed; will retry"/);
    assert.doesNotMatch(logs, new RegExp(c.data.password), 'the password is never logged');

    // One runner back is enough; the other returns after, so the next test has two again.
    await t.cluster.start('plugin-runner', 'plugin-runner-2');
    await revokedOnce([c]);
    await t.cluster.start('plugin-runner');
  });

  it('expiry on both gateways racing a revoke-prefix through both: every lease is revoked exactly once', async () => {
    // Expiring: both gateways' passes see the same due leases.
    const expiring = await Promise.all(Array.from({ length: 12 }, (_, i) => creds('race', i % 2 ? A : B)));
    // Revoked: the same prefix revoked on both gateways at once, while the expiries run.
    const revoking = await Promise.all(Array.from({ length: 12 }, (_, i) => creds('both', i % 2 ? B : A)));
    for (const c of [...expiring, ...revoking]) assert.equal(await t.roleExists(c.data.username), true);
    const [a, b] = await Promise.all([A, B].map((base) => t.call('PUT', 'sys/leases/revoke-prefix/database/creds/both', {}, base)));
    assert.deepEqual([a.status, b.status], [204, 204], JSON.stringify([a.body, b.body]));
    await revokedOnce([...expiring, ...revoking]);
    // Every revocation of this file, counted: each role once, never twice.
    const counts = (await t.db.query('SELECT name, count(*)::int AS n FROM revocations GROUP BY name')).rows as { name: string; n: number }[];
    assert.ok(counts.every((r) => r.n === 1), JSON.stringify(counts.filter((r) => r.n !== 1)));
    const mine = new Set([...expiring, ...revoking].map((c) => c.data.username));
    assert.equal(counts.filter((r) => mine.has(r.name)).length, 24);
  });
});
