import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { COFFER_VERSION } from '#contracts';
import { LOCK_SEED, MAX_KEY_BYTES, checkStorageKey, storageAad, type PluginStorage } from './plugin-storage.js';
import { HOUR, isCode, openTestDb, type TestDb } from './testing.js';

describe('PluginStorage on Postgres', () => {
  let db: TestDb;
  let storage: PluginStorage;
  const ttls = new Map<string, { defaultLeaseTtl: number; maxLeaseTtl: number }>();

  before(async () => {
    db = await openTestDb((uuid) => ttls.get(uuid));
    storage = db.storage();
  });
  after(() => db.drop());

  test('a value round-trips, and the table holds only ciphertext bound to mount and key', async () => {
    const mount = randomUUID();
    const secret = Buffer.from('the-plaintext-secret-value');
    assert.equal(await storage.get(mount, 'kv/a'), null, 'absent reads as null');
    await storage.put(mount, 'kv/a', secret);
    assert.deepEqual(await storage.get(mount, 'kv/a'), secret);

    const [row] = await db.dataSource.query(`SELECT key, value FROM ${db.table} WHERE mount_uuid = $1`, [mount]);
    assert.equal(row.key, 'kv/a', 'keys stay plain, as Vault physical paths do');
    assert.ok(Buffer.isBuffer(row.value));
    assert.equal(row.value.indexOf(secret), -1, 'the raw value does not contain the plaintext');
    assert.ok(!row.value.toString('latin1').includes('plaintext'));
    assert.deepEqual(db.barrier!.decrypt(row.value, storageAad(mount, 'kv/a')), secret);

    await storage.put(mount, 'kv/a', Buffer.from('second'));
    assert.equal((await storage.get(mount, 'kv/a'))?.toString(), 'second', 'a put replaces');
    const [{ count }] = await db.dataSource.query(`SELECT count(*)::int AS count FROM ${db.table} WHERE mount_uuid = $1`, [mount]);
    assert.equal(count, 1);

    await storage.put(mount, 'empty', Buffer.alloc(0));
    assert.deepEqual(await storage.get(mount, 'empty'), Buffer.alloc(0), 'an empty value is a value, not absent');

    await storage.delete(mount, 'kv/a');
    assert.equal(await storage.get(mount, 'kv/a'), null);
    await storage.delete(mount, 'kv/a');
  });

  test('exists: true or false without reading the value; scoped to the mount', async () => {
    const mount = randomUUID();
    assert.equal(await storage.exists(mount, 'k'), false);
    await storage.put(mount, 'k', Buffer.from('v'));
    assert.equal(await storage.exists(mount, 'k'), true);
    assert.equal(await storage.exists(randomUUID(), 'k'), false);
    await storage.delete(mount, 'k');
    assert.equal(await storage.exists(mount, 'k'), false);
  });

  test('txn: checks hold or nothing is written; all writes or none', async () => {
    const mount = randomUUID();
    assert.deepEqual(await storage.txn(mount, [{ key: 'a', exists: false }], [{ op: 'put', key: 'a', value: Buffer.from('1') }, { op: 'put', key: 'b', value: Buffer.from('x') }]), { ok: true });
    assert.deepEqual(await storage.txn(mount, [{ key: 'a', exists: false }], [{ op: 'put', key: 'a', value: Buffer.from('2') }]), { ok: false, failed: 0 });
    assert.deepEqual(
      await storage.txn(mount, [{ key: 'b', exists: true }, { key: 'a', value: Buffer.from('nope') }], [{ op: 'delete', key: 'b' }]),
      { ok: false, failed: 1 },
    );
    assert.equal((await storage.get(mount, 'a'))?.toString(), '1');
    assert.equal((await storage.get(mount, 'b'))?.toString(), 'x', 'a failed txn wrote nothing');
    assert.deepEqual(await storage.txn(mount, [{ key: 'a', value: Buffer.from('1') }], [{ op: 'put', key: 'a', value: Buffer.from('second value') }, { op: 'delete', key: 'b' }]), { ok: true });
    assert.deepEqual([(await storage.get(mount, 'a'))?.toString(), await storage.get(mount, 'b')], ['second value', null]);
    // The value check compares plaintext: the ciphertext differs per write, the check does not care. A plaintext of
    // many bytes, since a one-byte one turns up by chance in random ciphertext about one run in seven.
    const [row] = await db.dataSource.query(`SELECT value FROM ${db.table} WHERE mount_uuid = $1 AND key = 'a'`, [mount]);
    assert.equal(row.value.indexOf(Buffer.from('second value')), -1);
  });

  test('txn: of many concurrent compare-and-swaps from one read, exactly one wins, on separate storages (as two runners)', async () => {
    const mount = randomUUID();
    const other = db.storage();
    await storage.put(mount, 'counter', Buffer.from('0'));
    for (let round = 1; round <= 5; round++) {
      const seen = (await storage.get(mount, 'counter'))!;
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? other : storage).txn(mount, [{ key: 'counter', value: seen }], [{ op: 'put', key: 'counter', value: Buffer.from(String(round)) }, { op: 'put', key: `won/${round}/${i}`, value: Buffer.from('1') }]),
        ),
      );
      assert.equal(results.filter((r) => r.ok).length, 1, `round ${round}: one winner`);
      assert.deepEqual(await storage.list(mount, `won/${round}/`).then((k) => k.length), 1);
    }
    assert.equal((await storage.get(mount, 'counter'))?.toString(), '5');
  });

  test('a value moved to another key or another mount no longer decrypts', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await storage.put(a, 'secret', Buffer.from('for a only'));
    await db.dataSource.query(`INSERT INTO ${db.table} (mount_uuid, key, value) SELECT $2, key, value FROM ${db.table} WHERE mount_uuid = $1`, [a, b]);
    await assert.rejects(storage.get(b, 'secret'), isCode('internal'));
    await db.dataSource.query(`UPDATE ${db.table} SET key = 'other' WHERE mount_uuid = $1`, [a]);
    await assert.rejects(storage.get(a, 'other'), isCode('internal'));
  });

  test('the same key in two mounts is two entries', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await storage.put(a, 'k', Buffer.from('A'));
    await storage.put(b, 'k', Buffer.from('B'));
    assert.equal((await storage.get(a, 'k'))?.toString(), 'A');
    assert.equal((await storage.get(b, 'k'))?.toString(), 'B');
    await storage.delete(a, 'k');
    assert.equal((await storage.get(b, 'k'))?.toString(), 'B');
    assert.deepEqual(await storage.list(a, ''), []);
  });

  test("list: Vault's semantics (direct children, folders once as name/, byte order, scoped to the mount)", async () => {
    const mount = randomUUID();
    const other = randomUUID();
    for (const key of ['b', 'a', 'Z', 'dir/x', 'dir/y', 'dir/sub/deep', 'dir/sub/deeper/most', 'dirt', 'é', 'x/']) {
      await storage.put(mount, key, Buffer.from(key));
    }
    await storage.put(other, 'not-mine', Buffer.from('x'));
    assert.deepEqual(await storage.list(mount, ''), ['Z', 'a', 'b', 'dir/', 'dirt', 'x/', 'é']);
    assert.deepEqual(await storage.list(mount, 'dir/'), ['sub/', 'x', 'y']);
    assert.deepEqual(await storage.list(mount, 'dir/sub/'), ['deep', 'deeper/']);
    assert.deepEqual(await storage.list(mount, 'dir'), ['/', 't'], 'a prefix is a string prefix, as in Vault');
    assert.deepEqual(await storage.list(mount, 'x/'), [], 'a key equal to the prefix is not its own child');
    assert.deepEqual(await storage.list(mount, 'nothing/'), []);
    assert.deepEqual(await storage.list(mount, '%'), [], 'no LIKE wildcards');
    await storage.put(mount, '%_/a', Buffer.from('x'));
    assert.deepEqual(await storage.list(mount, '%_/'), ['a']);
  });

  test('keys: no .. segment, no NUL, at most 512 bytes, not empty', async () => {
    const mount = randomUUID();
    for (const key of ['..', '../x', 'a/../b', 'a/..']) {
      await assert.rejects(storage.put(mount, key, Buffer.from('x')), isCode('invalid-request', 'relative paths not supported'), key);
      await assert.rejects(storage.get(mount, key), isCode('invalid-request', 'relative paths not supported'), key);
    }
    await assert.rejects(storage.list(mount, '../'), isCode('invalid-request', 'relative paths not supported'));
    await assert.rejects(storage.delete(mount, 'a\0b'), isCode('invalid-request', 'invalid key: contains a NUL character'));
    await assert.rejects(storage.list(mount, 'a\0'), isCode('invalid-request', 'invalid prefix: contains a NUL character'));
    await assert.rejects(storage.put(mount, '', Buffer.from('x')), isCode('invalid-request', 'invalid key: empty'));
    await assert.rejects(storage.put(mount, 'k'.repeat(MAX_KEY_BYTES + 1), Buffer.from('x')), isCode('invalid-request', 'invalid key: longer than 512 bytes'));
    // Bytes, not characters: 171 three-byte characters are 513 bytes.
    await assert.rejects(storage.put(mount, '€'.repeat(171), Buffer.from('x')), isCode('invalid-request', /longer than 512 bytes/));
    await storage.put(mount, '€'.repeat(170), Buffer.from('fits'));
    await storage.put(mount, 'k'.repeat(MAX_KEY_BYTES), Buffer.from('fits'));
    for (const fine of ['a..b', '.../x', '.hidden', 'a/./b', '/leading']) {
      checkStorageKey(fine);
      await storage.put(mount, fine, Buffer.from(fine));
      assert.equal((await storage.get(mount, fine))?.toString(), fine);
    }
  });

  test('sealed: every call is refused with sealed, and nothing is read or written', async () => {
    const mount = randomUUID();
    ttls.set(mount, { defaultLeaseTtl: 60, maxLeaseTtl: 120 });
    await storage.put(mount, 'k', Buffer.from('v'));
    const barrier = db.barrier;
    db.barrier = undefined;
    try {
      const sealed = isCode('sealed', 'Vault is sealed');
      await assert.rejects(storage.get(mount, 'k'), sealed);
      await assert.rejects(storage.put(mount, 'k2', Buffer.from('v')), sealed);
      await assert.rejects(storage.delete(mount, 'k'), sealed);
      await assert.rejects(storage.list(mount, ''), sealed);
      await assert.rejects(storage.info(mount), sealed);
    } finally {
      db.barrier = barrier;
    }
    assert.deepEqual(await storage.list(mount, ''), ['k']);
  });

  test("info: the mount's TTLs, the system's where the mount says 0; an unknown mount is refused", async () => {
    const [own, inherits, half] = [randomUUID(), randomUUID(), randomUUID()];
    ttls.set(own, { defaultLeaseTtl: 60, maxLeaseTtl: 3600 });
    ttls.set(inherits, { defaultLeaseTtl: 0, maxLeaseTtl: 0 });
    ttls.set(half, { defaultLeaseTtl: 0, maxLeaseTtl: 7200 });
    assert.deepEqual(await storage.info(own), { defaultLeaseTtl: 60, maxLeaseTtl: 3600, version: COFFER_VERSION });
    assert.deepEqual(await storage.info(inherits), { defaultLeaseTtl: 768 * HOUR, maxLeaseTtl: 768 * HOUR, version: COFFER_VERSION });
    assert.deepEqual(await storage.info(half), { defaultLeaseTtl: 768 * HOUR, maxLeaseTtl: 7200, version: COFFER_VERSION });
    await assert.rejects(storage.info(randomUUID()), isCode('not-found', 'unknown mount'));
  });

  test("deleteMountStorage removes one mount's keys, and repeating it is harmless (every runner hears the broadcast)", async () => {
    const [gone, kept] = [randomUUID(), randomUUID()];
    for (const key of ['a', 'b/c', 'b/d']) await storage.put(gone, key, Buffer.from(key));
    await storage.put(kept, 'a', Buffer.from('kept'));
    const barrier = db.barrier;
    db.barrier = undefined;
    try {
      assert.equal(await storage.deleteMountStorage(gone), 3, 'works sealed too: nothing is decrypted');
    } finally {
      db.barrier = barrier;
    }
    assert.equal(await storage.deleteMountStorage(gone), 0);
    const [a, b] = await Promise.all([storage.deleteMountStorage(gone), storage.deleteMountStorage(gone)]);
    assert.deepEqual([a, b], [0, 0]);
    assert.deepEqual(await storage.list(gone, ''), []);
    assert.equal((await storage.get(kept, 'a'))?.toString(), 'kept');
  });
  test("deletePrefixes removes whole scopes of one mount (a revoked token's cubbyhole), nothing beside them", async () => {
    const [mount, other] = [randomUUID(), randomUUID()];
    for (const key of ['aa/x', 'aa/y/z', 'aab/x', 'bb/x', 'aa']) await storage.put(mount, key, Buffer.from(key));
    await storage.put(other, 'aa/x', Buffer.from('other mount'));
    assert.equal(await storage.deletePrefixes(mount, ['aa/', 'cc/']), 2);
    assert.deepEqual(await storage.list(mount, ''), ['aa', 'aab/', 'bb/'], 'a sibling sharing the prefix text and the bare key stay');
    assert.equal((await storage.get(other, 'aa/x'))?.toString(), 'other mount');
    assert.equal(await storage.deletePrefixes(mount, ['aa/']), 0, 'repeatable');
    await assert.rejects(storage.deletePrefixes(mount, ['aa']), isCode('invalid-request'), 'a scope ends in /');
    await assert.rejects(storage.deletePrefixes(mount, ['']), isCode('invalid-request'), 'never the whole mount');

    const cached = db.storage({ readCache: true });
    await cached.put(mount, 'bb/x', Buffer.from('v'));
    assert.equal((await cached.get(mount, 'bb/x'))?.toString(), 'v');
    await cached.deletePrefixes(mount, ['bb/']);
    assert.equal(await cached.get(mount, 'bb/x'), null, 'the read cache forgets the scope too');
  });

  test('the read cache (dev server, one runner) serves repeated reads and never outlives a write, a delete or a seal', async () => {
    const cached = db.storage({ readCache: true });
    const mount = randomUUID();
    await cached.put(mount, 'k', Buffer.from('one'));
    assert.equal((await cached.get(mount, 'k'))?.toString(), 'one');
    // Changed behind its back (only another runner could do that, and with one runner there is none): still served
    // from memory, which shows the cache answers instead of Postgres.
    await db.dataSource.query(`DELETE FROM ${db.table} WHERE mount_uuid = $1`, [mount]);
    assert.equal((await cached.get(mount, 'k'))?.toString(), 'one');
    await cached.put(mount, 'k', Buffer.from('two'));
    assert.equal((await cached.get(mount, 'k'))?.toString(), 'two', 'its own write replaces the cached value');
    const copy = (await cached.get(mount, 'k'))!;
    copy.fill(0);
    assert.equal((await cached.get(mount, 'k'))?.toString(), 'two', 'a caller changing its buffer does not change the cache');
    await cached.delete(mount, 'k');
    assert.equal(await cached.get(mount, 'k'), null, 'a delete is seen at once');
    await cached.put(mount, 'k', Buffer.from('three'));
    assert.equal((await cached.get(mount, 'k'))?.toString(), 'three');
    await cached.deleteMountStorage(mount);
    assert.equal(await cached.get(mount, 'k'), null, 'disabling the mount forgets its entries');

    await cached.put(mount, 'k', Buffer.from('four'));
    await cached.get(mount, 'k');
    const barrier = db.barrier;
    db.barrier = undefined;
    await assert.rejects(cached.get(mount, 'k'), isCode('sealed'), 'sealed: nothing is answered from memory');
    db.barrier = barrier;

    // A read that overlaps a write does not keep what it read: the next read sees the write.
    await Promise.all([cached.get(mount, 'k'), cached.put(mount, 'k', Buffer.from('five'))]);
    assert.equal((await cached.get(mount, 'k'))?.toString(), 'five');
  });
  test('two runners caching one mount: each write of one is announced to the other, which never serves what it replaced', async () => {
    const mount = randomUUID();
    const heard: string[] = [];
    // What NATS carries between two runners (affinity.ts): here the announcement goes straight to the other's handler.
    let a: PluginStorage;
    const b = db.storage({ readCache: true, announceWrite: (m, phase) => (heard.push(phase), a.heardWrite(m, phase)) });
    a = db.storage({ readCache: true, announceWrite: (m, phase) => b.heardWrite(m, phase) });
    let fromCache = 0;
    const counted = db.storage({ readCache: true, onRead: (cached) => (fromCache += cached ? 1 : 0) });
    await a.put(mount, 'k', Buffer.from('one'));
    assert.equal((await a.get(mount, 'k'))?.toString(), 'one');
    assert.equal((await b.get(mount, 'k'))?.toString(), 'one');
    await b.put(mount, 'k', Buffer.from('two'));
    assert.deepEqual(heard, ['start', 'end'], 'a write is announced as it starts and once it has committed');
    assert.equal((await a.get(mount, 'k'))?.toString(), 'two', "the other runner's write dropped what a cached");
    assert.equal(await a.exists(mount, 'gone'), false);
    await b.txn(mount, [], [{ op: 'put', key: 'gone', value: Buffer.from('now here') }]);
    assert.equal(await a.exists(mount, 'gone'), true, 'a txn is announced too');
    await b.delete(mount, 'k');
    assert.equal(await a.get(mount, 'k'), null);
    await a.get(mount, 'gone');
    await b.deleteMountStorage(mount);
    assert.equal(await a.get(mount, 'gone'), null, 'and a bulk delete');

    // A reconnect: announcements may have been missed, so nothing cached is trusted.
    await a.put(mount, 'k', Buffer.from('three'));
    await a.get(mount, 'k');
    await db.dataSource.query(`DELETE FROM ${db.table} WHERE mount_uuid = $1`, [mount]);
    assert.equal((await a.get(mount, 'k'))?.toString(), 'three', 'served from memory until told otherwise');
    a.forgetAll();
    assert.equal(await a.get(mount, 'k'), null);

    await counted.put(mount, 'c', Buffer.from('x'));
    await counted.get(mount, 'c');
    await counted.get(mount, 'c');
    assert.equal(fromCache, 1, 'the second read came from the cache, and the metric says so');
  });

  /** Rejects once `ms` have passed: a bound on how long a test waits for `promise`, not a figure it asserts. */
  const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
    Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms).unref())]);

  test('group commit on Postgres: a mount waits only for its own batch, so a key held by another writer holds up that mount alone', async () => {
    const s = db.storage({ groupCommit: true, readCache: true });
    const [held, free] = [randomUUID(), randomUUID()];
    // Another writer (another runner's transaction, say) holds the key's lock, as every writer of a key takes it.
    const runner = db.dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    await runner.query(`SELECT pg_advisory_xact_lock(hashtextextended($1::text || chr(1) || $2::text, ${LOCK_SEED}))`, [held, 'k']);
    let heldDone = false;
    const waiting = s.put(held, 'k', Buffer.from('after the lock')).then(() => (heldDone = true));
    const behind = s.put(held, 'k2', Buffer.from('same mount, next batch'));
    try {
      // Twenty writes of another mount in one turn: one batch, on another connection, while the first mount waits.
      await within(Promise.all(Array.from({ length: 20 }, (_, i) => s.put(free, `k${i}`, Buffer.from(`v${i}`)))), 20_000, 'the other mount');
      assert.equal(heldDone, false, "the held key's write is still waiting for its lock");
      const xids = await db.dataSource.query(`SELECT DISTINCT xmin::text FROM ${db.table} WHERE mount_uuid = $1`, [free]);
      assert.equal(xids.length, 1, "the other mount's twenty writes of one turn committed in one transaction");
    } finally {
      await runner.commitTransaction();
      await runner.release();
    }
    await within(Promise.all([waiting, behind]), 20_000, 'the held mount');
    assert.equal((await s.get(held, 'k'))?.toString(), 'after the lock');
    assert.equal((await s.get(held, 'k2'))?.toString(), 'same mount, next batch');
  });

  test('group commit on Postgres, two runners writing the same keys in opposite orders: every write answered, every batch whole, one cas winner', async () => {
    // Each runner's batch takes its keys' locks in the order its writes came: these two can deadlock on each other.
    // Postgres then aborts one, and each write of that batch runs again alone, so all are answered, none twice.
    let a: PluginStorage;
    const b = db.storage({ groupCommit: true, readCache: true, announceWrite: (m, phase) => a.heardWrite(m, phase) });
    a = db.storage({ groupCommit: true, readCache: true, announceWrite: (m, phase) => b.heardWrite(m, phase) });
    for (let round = 0; round < 4; round++) {
      const mount = randomUUID();
      const put = (s: PluginStorage, key: string, value: string) => s.put(mount, key, Buffer.from(value));
      const claim = (s: PluginStorage, who: string) => s.txn(mount, [{ key: 'claim', exists: false }], [{ op: 'put', key: 'claim', value: Buffer.from(who) }]);
      const results = await within(
        Promise.all([put(a, 'x', 'a1'), put(a, 'y', 'a2'), claim(a, 'a'), put(b, 'y', 'b1'), put(b, 'x', 'b2'), claim(b, 'b')]),
        30_000,
        `round ${round}`,
      );
      const claims = [results[2], results[5]] as { ok: boolean }[];
      assert.equal(claims.filter((c) => c.ok).length, 1, `round ${round}: exactly one claim wins`);
      const winner = claims[0]!.ok ? 'a' : 'b';
      assert.equal((await a.get(mount, 'claim'))?.toString(), winner, 'what the winner put is what both read');
      assert.equal((await b.get(mount, 'claim'))?.toString(), winner);
      for (const key of ['x', 'y']) {
        const [fromA, fromB] = [(await a.get(mount, key))?.toString(), (await b.get(mount, key))?.toString()];
        assert.ok(fromA !== undefined && ['a1', 'a2', 'b1', 'b2'].includes(fromA), `round ${round}: ${key} holds one of the writes`);
        assert.equal(fromB, fromA, `round ${round}: both runners read the same ${key}`);
      }
      const [{ count }] = await db.dataSource.query(`SELECT count(*)::int AS count FROM ${db.table} WHERE mount_uuid = $1`, [mount]);
      assert.equal(count, 3, 'x, y and the claim: no write lost, none doubled');
    }
  });
});
