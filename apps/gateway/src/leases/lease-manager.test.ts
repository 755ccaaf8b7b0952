/**
 * The lease manager against real Postgres (its own schema) with a real barrier. The runner is played by a small bus
 * stand-in that records the renew/revoke calls a plugin would receive (the e2e tests cover the real runners).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runnerSubjects, type LeaseCall } from '#contracts';
import { openTestTokens, type TestTokens } from '../tokens/testing.js';
import { LeaseManager } from './lease-manager.js';

const MOUNT = { uuid: '6f1b7a3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b', config: { defaultLeaseTtl: 0, maxLeaseTtl: 0 } };
const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('LeaseManager on Postgres', () => {
  let t: TestTokens;
  const calls: { subject: string; call: LeaseCall }[] = [];
  let failRevoke = false;
  /** Runs inside the plugin's renew, as if a client did something else meanwhile. */
  let duringRenew: (() => Promise<void>) | undefined;
  const bus = {
    async request<T>(subject: string, data: unknown): Promise<T> {
      calls.push({ subject, call: data as LeaseCall });
      if (subject === runnerSubjects.renew && duringRenew) await duringRenew();
      if (subject === runnerSubjects.revoke && failRevoke) throw new Error('plugin down');
      if (subject === runnerSubjects.renew) return { ttl: (data as LeaseCall).increment } as T;
      return {} as T;
    },
  };
  const manager = () =>
    new LeaseManager(t.dataSource, { barrier: () => t.barrier, bus, log: silent, defaultLeaseTtl: 3600, maxLeaseTtl: 7200, now: () => t.clock.now });
  const revokes = () => calls.filter((c) => c.subject === runnerSubjects.revoke);
  let root: { accessor: string };

  before(async () => {
    t = await openTestTokens();
    t.clock.now = Date.now();
    root = (await t.store.createRoot()).entry;
  });
  after(() => t.drop());

  test('register, lookup (no internal data), list, renew capped at the max TTL', async () => {
    const m = manager();
    const lease = await m.register({ mount: MOUNT, path: 'database/creds/ro', secret: { type: 'creds', internal: { username: 'v-1' }, ttl: 60 } }, root.accessor);
    assert.match(lease.id, /^database\/creds\/ro\/[0-9A-Za-z]{24}$/);
    assert.deepEqual({ duration: lease.duration, renewable: lease.renewable }, { duration: 60, renewable: true });
    const looked = await m.lookup(lease.id);
    assert.deepEqual(Object.keys(looked).sort(), ['expire_time', 'id', 'issue_time', 'last_renewal', 'renewable', 'ttl']);
    assert.equal(looked.ttl, 60);
    assert.deepEqual(await m.list('database/creds/'), ['ro/']);
    assert.deepEqual(await m.list('database/creds/ro/'), [lease.id.slice('database/creds/ro/'.length)]);
    await assert.rejects(m.lookup('nope'), /invalid lease/);

    const renewed = await m.renew(lease.id, '2h');
    assert.equal(renewed.duration, 7200, 'capped at the system max_lease_ttl from issue');
    assert.deepEqual(calls.at(-1)?.call.lease.internal, { username: 'v-1' });
    const raw = await t.dataSource.query(`SELECT data FROM ${t.table.replace('coffer_tokens', 'coffer_leases')}`);
    assert.ok(!raw[0].data.toString('latin1').includes('v-1'), 'internal data is encrypted');
    await m.revoke(lease.id, true);
    assert.equal(revokes().length, 1);
    await assert.rejects(m.lookup(lease.id), /invalid lease/);
  });

  test('two instances expire concurrently: each due lease is revoked exactly once', async () => {
    calls.length = 0;
    const [a, b] = [manager(), manager()];
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push((await a.register({ mount: MOUNT, path: 'database/creds/many', secret: { type: 'creds', internal: { i }, ttl: 30 } }, root.accessor)).id);
    assert.equal(await a.expireDue(), 0, 'nothing is due yet');
    t.advance(60);
    const counted = (await Promise.all([a.expireDue(), b.expireDue(), a.expireDue(), b.expireDue()])).reduce((x, y) => x + y, 0);
    assert.equal(counted, 20);
    assert.deepEqual(revokes().map((c) => c.call.lease.id).sort(), ids.sort());
  });

  test('a backlog larger than a batch drains in one pass; a pass whose revocations all fail still ends', async () => {
    calls.length = 0;
    const small = new LeaseManager(t.dataSource, {
      barrier: () => t.barrier,
      bus,
      log: silent,
      defaultLeaseTtl: 3600,
      maxLeaseTtl: 7200,
      now: () => t.clock.now,
      batch: 4,
    });
    const ids: string[] = [];
    // 13: three full batches and a short one.
    for (let i = 0; i < 13; i++) ids.push((await small.register({ mount: MOUNT, path: 'database/creds/backlog', secret: { type: 'creds', internal: { i }, ttl: 30 } }, root.accessor)).id);
    t.advance(60);
    assert.equal(await small.expireDue(), 13, 'one pass, batch after batch');
    assert.deepEqual(revokes().map((c) => c.call.lease.id).sort(), [...ids].sort());
    assert.deepEqual(await small.list('database/creds/backlog/'), []);

    // Every revocation fails: each lease is tried once, goes into backoff, and the pass returns.
    calls.length = 0;
    const failing: string[] = [];
    for (let i = 0; i < 9; i++) failing.push((await small.register({ mount: MOUNT, path: 'database/creds/stuck', secret: { type: 'creds', internal: { i }, ttl: 30 } }, root.accessor)).id);
    t.advance(60);
    failRevoke = true;
    try {
      assert.equal(await small.expireDue(), 0);
    } finally {
      failRevoke = false;
    }
    assert.deepEqual(revokes().map((c) => c.call.lease.id).sort(), [...failing].sort(), 'each tried once, none twice');
    t.advance(5);
    assert.equal(await small.expireDue(), 9, 'after the backoff they go');
  });

  test('a failed revocation stays, is retried after a backoff, and then goes', async () => {
    calls.length = 0;
    const m = manager();
    const lease = await m.register({ mount: MOUNT, path: 'database/creds/flaky', secret: { type: 'creds', internal: {}, ttl: 10 } }, root.accessor);
    t.advance(20);
    failRevoke = true;
    assert.equal(await m.expireDue(), 0);
    assert.equal(await m.expireDue(), 0);
    assert.equal(revokes().length, 1, 'not retried before its backoff');
    await assert.rejects(m.renew(lease.id, 0), /failed previous revocation attempts/);
    failRevoke = false;
    t.advance(5);
    assert.equal(await m.expireDue(), 1);
    assert.equal(revokes().length, 2);
  });

  test("a lease whose token is gone (revoked or never known) becomes due and is revoked", async () => {
    calls.length = 0;
    const m = manager();
    const child = await t.store.create({ policies: ['default'] } as never, { ...(await t.store.lookupByAccessor(root.accessor))!, token: '' } as never).catch(() => undefined);
    const accessor = child?.entry.accessor ?? 'accessor-without-token';
    await m.register({ mount: MOUNT, path: 'database/creds/tok', secret: { type: 'creds', internal: {}, ttl: 3000 } }, accessor);
    if (child) {
      assert.equal(await m.expireDue(), 0, 'its token is alive');
      await t.store.revoke(child.token);
    }
    assert.equal(await m.expireDue(), 1);
    assert.equal(revokes().length, 1);
  });

  test('a lease another instance holds is left alone until its claim runs out (a crashed holder); a renewal then fails', async () => {
    calls.length = 0;
    const m = manager();
    const lease = await m.register({ mount: MOUNT, path: 'database/creds/held', secret: { type: 'creds', internal: {}, ttl: 10 } }, root.accessor);
    const leases = t.table.replace('coffer_tokens', 'coffer_leases');
    await t.dataSource.query(`UPDATE ${leases} SET claimed_until = $2 WHERE lease_id = $1`, [lease.id, new Date(t.clock.now + 30_000).toISOString()]);
    await assert.rejects(m.renew(lease.id, 0), /lease is being renewed or revoked/);
    t.advance(20);
    assert.equal(await m.expireDue(), 0, 'due, but held');
    await m.revoke(lease.id, true);
    assert.equal(revokes().length, 0, 'a sync revoke leaves a held lease to its holder, queued');
    t.advance(61);
    assert.equal(await m.expireDue(), 1, 'the claim ran out: taken again');
    assert.equal(revokes().length, 1);
    await assert.rejects(m.lookup(lease.id), /invalid lease/);
  });

  test('a revocation queued while the plugin renews wins: the renewal does not push the lease back', async () => {
    calls.length = 0;
    const m = manager();
    const lease = await m.register({ mount: MOUNT, path: 'database/creds/racing', secret: { type: 'creds', internal: {}, ttl: 600 } }, root.accessor);
    duringRenew = () => m.revoke(lease.id, false);
    try {
      assert.equal((await m.renew(lease.id, '1h')).duration, 3600);
    } finally {
      duringRenew = undefined;
    }
    assert.equal(await m.expireDue(), 1);
    assert.equal(revokes().length, 1);
    await assert.rejects(m.renew(lease.id, 0), /lease not found/);
  });
});
