import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CofferError } from '#contracts';
import { openTestTokens, type TestTokens } from './testing.js';
import type { AuthRenewal, CallerToken, CreateTokenParams, TokenEntry, TokenStore } from './token-store.js';

const HOUR = 3600;

function isCode(code: string, message?: string | RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof CofferError, `expected a CofferError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    return true;
  };
}

describe('TokenStore on Postgres', () => {
  let t: TestTokens;
  let store: TokenStore;
  let root: CallerToken;

  before(async () => {
    t = await openTestTokens({ defaultLeaseTtl: 768 * HOUR, maxLeaseTtl: 768 * HOUR });
    store = t.store;
    const issued = await store.createRoot();
    root = { ...issued.entry, token: issued.token };
  });
  after(() => t.drop());

  async function child(params: CreateTokenParams, parent: CallerToken = root): Promise<CallerToken> {
    const issued = await store.create(params, parent);
    return { ...issued.entry, token: issued.token };
  }

  test('the root token looks like a Vault service token and never expires', async () => {
    assert.match(root.token, /^hvs\.[A-Za-z0-9]{24}$/);
    assert.match(root.accessor, /^[A-Za-z0-9]{24}$/);
    assert.deepEqual(root.policies, ['root']);
    assert.equal(root.displayName, 'root');
    assert.equal(root.path, 'auth/token/root');
    assert.equal(root.expireTime, null);
    assert.equal(root.orphan, true);
    assert.equal(root.renewable, false);
    t.advance(10 * 365 * 24 * HOUR);
    const found = await store.lookup(root.token);
    const { token: _token, ...rootEntry } = root;
    assert.deepEqual(found, rootEntry);
    assert.deepEqual(await store.lookupByAccessor(root.accessor), found);
  });

  test('a root token may have a chosen id (the dev server), with Vault\'s rules for it', async () => {
    const chosen = await store.createRoot({ id: 'dev-root' });
    assert.equal(chosen.token, 'dev-root');
    assert.deepEqual((await store.lookup('dev-root'))?.policies, ['root']);
    await assert.rejects(store.createRoot({ id: 'dev-root' }), isCode('invalid-request', 'cannot create a token with a duplicate ID'));
    await assert.rejects(store.createRoot({ id: 'a.b' }), isCode('invalid-request', "custom token ID cannot have a '.' in the value"));
    await assert.rejects(store.createRoot({ id: 'hvs.x' }), isCode('invalid-request', "custom token ID cannot have the 'hvs.' prefix"));
  });

  test('a child of root: policies sorted with default, default TTL, display name, meta, found by token and accessor', async () => {
    const issued = await store.create(
      { policies: ['web', 'Admin ', 'web'], meta: { user: 'armon' }, displayName: 'my app!', numUses: 0 },
      root,
    );
    assert.match(issued.token, /^hvs\.[A-Za-z0-9]{24}$/);
    assert.notEqual(issued.token, root.token);
    const entry = issued.entry;
    assert.deepEqual(entry.policies, ['admin', 'default', 'web']);
    assert.deepEqual(entry.meta, { user: 'armon' });
    assert.equal(entry.displayName, 'token-my-app');
    assert.equal(entry.path, 'auth/token/create');
    assert.equal(entry.ttl, 768 * HOUR);
    assert.equal(entry.creationTtl, 768 * HOUR);
    assert.equal(entry.creationTime, Math.floor(t.clock.now / 1000));
    assert.equal(entry.expireTime, new Date(t.clock.now + 768 * HOUR * 1000).toISOString());
    assert.equal(entry.renewable, true);
    assert.equal(entry.orphan, false);
    assert.equal(entry.parentAccessor, root.accessor);
    assert.equal(entry.type, 'service');
    assert.equal(entry.entityId, '');
    assert.deepEqual(await store.lookup(issued.token), entry);
    assert.deepEqual(await store.lookupByAccessor(entry.accessor), entry);
    assert.equal(await store.lookup('hvs.nosuchtokennosuchtoken12'), undefined);
    assert.equal(await store.lookupByAccessor('nosuchaccessor'), undefined);
  });

  test('policies: inherited from the parent when none are given; no_default_policy removes default', async () => {
    assert.deepEqual((await child({})).policies, ['root']);
    const web = await child({ policies: ['web'] });
    assert.deepEqual((await child({}, web)).policies, ['default', 'web']);
    assert.deepEqual((await child({ policies: ['web'], noDefaultPolicy: true })).policies, ['web']);
    assert.deepEqual((await child({ policies: ['web', 'root'] })).policies, ['root']);
  });

  test('a non-root parent cannot grant a policy it lacks, unless it has sudo; only root makes root', async () => {
    const web = await child({ policies: ['web'] });
    await assert.rejects(store.create({ policies: ['admin'] }, web), isCode('invalid-request', 'child policies must be subset of parent'));
    await assert.rejects(
      store.create({ policies: ['web', 'admin'] }, web),
      isCode('invalid-request', 'child policies must be subset of parent'),
    );
    assert.deepEqual((await store.create({ policies: ['web'] }, web)).entry.policies, ['default', 'web']);
    assert.deepEqual((await store.create({ policies: ['admin'], parentHasSudo: true }, web)).entry.policies, ['admin', 'default']);
    await assert.rejects(
      store.create({ policies: ['root'], parentHasSudo: true }, web),
      isCode('invalid-request', 'root tokens may not be created without parent token being root'),
    );
    await assert.rejects(
      store.create({ policies: ['response-wrapping'] }, root),
      isCode('invalid-request', 'cannot assign policy "response-wrapping"'),
    );
  });

  test('orphans need sudo through no_parent, not through create-orphan; periods and chosen ids need sudo', async () => {
    const web = await child({ policies: ['web'] });
    await assert.rejects(store.create({ noParent: true }, web), isCode('invalid-request', 'root or sudo privileges required to create orphan token'));
    const orphan = await store.create({ orphan: true, path: 'auth/token/create-orphan' }, web);
    assert.equal(orphan.entry.orphan, true);
    assert.equal(orphan.entry.parentAccessor, undefined);
    assert.equal(orphan.entry.path, 'auth/token/create-orphan');
    assert.equal((await store.create({ noParent: true, parentHasSudo: true }, web)).entry.orphan, true);
    await assert.rejects(store.create({ period: '1h' }, web), isCode('invalid-request', 'root or sudo privileges required to create periodic token'));
    await assert.rejects(store.create({ id: 'mine' }, web), isCode('invalid-request', 'root or sudo privileges required to specify token id'));
  });

  test('bad parameters are refused in Vault\'s words', async () => {
    await assert.rejects(store.create({ numUses: -1 }, root), isCode('invalid-request', 'number of uses cannot be negative'));
    await assert.rejects(store.create({ ttl: '-1h' }, root), isCode('invalid-request', 'ttl must be positive'));
    await assert.rejects(store.create({ ttl: 'soon' }, root), isCode('invalid-request', 'time: invalid duration "soon"'));
    await assert.rejects(store.create({ ttl: '1.5d' }, root), isCode('invalid-request', 'strconv.ParseInt: parsing "1.5": invalid syntax'));
    await assert.rejects(store.create({ ttl: '1y' }, root), isCode('invalid-request', 'time: unknown unit "y" in duration "1y"'));
    await assert.rejects(store.create({ type: 'batch' }, root), isCode('invalid-request'));
    await assert.rejects(store.create({ type: 'other' }, root), isCode('invalid-request', "invalid 'token_type' value"));
    await assert.rejects(
      store.create({ entityAlias: 'x' }, root),
      isCode('invalid-request', "'entity_alias' is only allowed in combination with token role"),
    );
  });

  test('durations: "1h", "30m", "90s", "1h30m", integer seconds and "2d"', async () => {
    const cases: [string | number, number][] = [
      ['1h', HOUR],
      ['30m', 1800],
      ['90s', 90],
      ['1h30m', 5400],
      [600, 600],
      ['600', 600],
      ['2d', 48 * HOUR],
    ];
    for (const [ttl, seconds] of cases) assert.equal((await child({ ttl })).ttl, seconds, `ttl ${ttl}`);
  });

  test('TTL is enforced on lookup: an expired token is revoked on sight', async () => {
    const token = await child({ ttl: '1h', policies: ['web'] });
    t.advance(59 * 60);
    assert.ok(await store.lookup(token.token));
    t.advance(60);
    assert.equal(await store.lookup(token.token), undefined);
    assert.equal(await store.lookupByAccessor(token.accessor), undefined);
    assert.equal(await store.useOnce(token.token), undefined);
    // Revoked, not merely hidden: the row is gone even if the clock went back.
    t.advance(-3600);
    assert.equal(await store.lookup(token.token), undefined);
  });

  test('the encrypted expiry is the authority: clearing the plain column does not extend a token', async () => {
    const token = await child({ ttl: '10m' });
    await t.dataSource.query(`UPDATE ${t.table} SET expires_at = NULL WHERE id_hmac = $1`, [t.barrier!.hmac(`id:${token.token}`)]);
    t.advance(11 * 60);
    assert.equal(await store.lookup(token.token), undefined);
  });

  test('a root-policy child without a TTL lives forever, but an expiring root cannot make one', async () => {
    const forever = await child({ policies: ['root'] });
    assert.equal(forever.expireTime, null);
    assert.equal(forever.renewable, false);
    const expiringRoot = await child({ policies: ['root'], ttl: '1h' });
    await assert.rejects(
      store.create({}, expiringRoot),
      isCode('invalid-request', 'expiring root tokens cannot create non-expiring root tokens'),
    );
  });

  test("a child never outlives its parent unless it is an orphan", async () => {
    const parent = await child({ ttl: '1h', policies: ['web'] });
    t.advance(40 * 60);
    const kid = await child({ ttl: '1h' }, parent);
    assert.equal(kid.ttl, 20 * 60);
    assert.equal(kid.expireTime, parent.expireTime);
    const orphan = await child({ ttl: '1h', orphan: true }, parent);
    assert.equal(orphan.ttl, HOUR);
    t.advance(20 * 60);
    assert.equal(await store.lookup(kid.token), undefined);
    assert.ok(await store.lookup(orphan.token));
  });

  test('renew: the TTL again from now, or the increment; the explicit max TTL caps it', async () => {
    const token = await child({ ttl: '1h', explicitMaxTtl: '90m' });
    t.advance(30 * 60);
    const again = await store.renew(token.token);
    assert.equal(again?.entry.ttl, HOUR);
    assert.deepEqual(again?.warnings, []);
    assert.equal(again?.entry.expireTime, new Date(t.clock.now + HOUR * 1000).toISOString());
    assert.equal(again?.entry.lastRenewalTime, Math.floor(t.clock.now / 1000));
    assert.equal(again?.entry.creationTtl, HOUR, 'creation_ttl stays what it was');

    t.advance(20 * 60);
    const capped = await store.renewByAccessor(token.accessor, '1h');
    assert.equal(capped?.entry.ttl, 40 * 60);
    assert.deepEqual(capped?.warnings, ['TTL of "1h" exceeded the effective max_ttl of "40m"; TTL value is capped accordingly']);
    t.advance(40 * 60);
    assert.equal(await store.lookup(token.token), undefined, 'gone at issue + explicit max TTL');
    assert.equal(await store.renew(token.token), undefined);
  });

  test('renew: the server max lease TTL caps it too; a periodic token gets its period each time', async () => {
    const small = t.another({ defaultLeaseTtl: HOUR, maxLeaseTtl: 2 * HOUR });
    const token = await small.create({ policies: ['web'] }, root);
    assert.equal(token.entry.ttl, HOUR);
    t.advance(50 * 60);
    assert.equal((await small.renew(token.token, 3600))?.entry.ttl, HOUR);
    t.advance(50 * 60);
    assert.equal((await small.renew(token.token, 3600))?.entry.ttl, 20 * 60, 'issue + 2h max lease TTL');

    const periodic = await child({ period: '10m', ttl: '1h' });
    assert.equal(periodic.ttl, 600);
    t.advance(5 * 60);
    assert.equal((await store.renew(periodic.token, '1h'))?.entry.ttl, 600);
  });

  test('renew: a non-renewable token and a token that never expires refuse', async () => {
    const fixed = await child({ ttl: '1h', renewable: false });
    assert.equal(fixed.renewable, false);
    await assert.rejects(store.renew(fixed.token), isCode('invalid-request', 'lease is not renewable'));
    await assert.rejects(store.renew(root.token), isCode('invalid-request', 'lease is not renewable'));
  });

  test('num_uses: each use counts down, the last one revokes; a limited token cannot have children', async () => {
    const token = await child({ numUses: 2, policies: ['web'] });
    await assert.rejects(store.create({}, token), isCode('invalid-request', 'restricted use token cannot generate child tokens'));
    assert.equal((await store.useOnce(token.token))?.numUses, 1);
    assert.equal((await store.lookup(token.token))?.numUses, 1);
    assert.equal((await store.useOnce(token.token))?.numUses, -1, 'the last use passes and says so');
    assert.equal(await store.lookup(token.token), undefined);
    assert.equal(await store.useOnce(token.token), undefined);
    const unlimited = await child({ policies: ['web'] });
    for (let i = 0; i < 3; i++) assert.equal((await store.useOnce(unlimited.token))?.numUses, 0);
  });

  test('a login token keeps its bound CIDRs; useOnce refuses it through admit before a use is spent', async () => {
    const issued = await store.createForLogin({ policies: ['web'], displayName: 'approle', path: 'auth/approle/login', numUses: 2, boundCidrs: ['10.0.0.0/8'] });
    assert.deepEqual(issued.entry.boundCidrs, ['10.0.0.0/8']);
    const refuse = () => false;
    for (let i = 0; i < 3; i++) assert.equal(await store.useOnce(issued.token, refuse), undefined);
    assert.equal((await store.lookup(issued.token))?.numUses, 2, 'refused requests spent no use');
    assert.equal((await store.useOnce(issued.token, (e) => e.boundCidrs?.[0] === '10.0.0.0/8'))?.numUses, 1);
  });

  test('num_uses holds under concurrency: of 10 simultaneous uses of a 3-use token, exactly 3 pass', async () => {
    const token = await child({ numUses: 3 });
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => store.useOnce(token.token)));
    assert.equal(outcomes.filter((entry) => entry !== undefined).length, 3);
    assert.deepEqual(
      outcomes.filter((entry) => entry !== undefined).map((entry) => entry!.numUses).sort(),
      [-1, 1, 2],
    );
  });

  test('revoking a parent revokes its children and grandchildren, and nothing else', async () => {
    const parent = await child({ policies: ['web'] });
    const kids = [await child({}, parent), await child({}, parent)];
    const grandkid = await child({}, kids[0]);
    const orphan = await child({ orphan: true }, parent);
    const sibling = await child({ policies: ['web'] });
    assert.equal(await store.revoke(parent.token), 4);
    for (const gone of [parent, ...kids, grandkid]) assert.equal(await store.lookup(gone.token), undefined);
    assert.ok(await store.lookup(orphan.token));
    assert.ok(await store.lookup(sibling.token));
    assert.equal(await store.revoke(parent.token), 0, 'revoking again finds nothing');

    const byAccessor = await child({});
    const itsKid = await child({}, byAccessor);
    assert.equal(await store.revokeByAccessor(byAccessor.accessor), 2);
    assert.equal(await store.lookup(itsKid.token), undefined);
  });

  test('revoke-orphan revokes the token alone: its children become orphans and keep their own children', async () => {
    const parent = await child({ policies: ['web'] });
    const kid = await child({}, parent);
    const grandkid = await child({}, kid);
    assert.equal(await store.revokeOrphan(parent.token), true);
    assert.equal(await store.lookup(parent.token), undefined);
    const orphaned = await store.lookup(kid.token);
    assert.equal(orphaned?.orphan, true);
    assert.equal(orphaned?.parentAccessor, undefined);
    assert.equal((await store.lookup(grandkid.token))?.parentAccessor, kid.accessor);
    assert.equal(await store.revokeOrphan(parent.token), false);
    assert.equal(await store.revoke(kid.token), 2);
  });

  test('children created while their parent is being revoked are revoked too: no row is left dangling', async () => {
    for (let round = 0; round < 5; round++) {
      const parent = await child({ policies: ['web'] });
      const kids = await Promise.all(Array.from({ length: 3 }, () => child({}, parent)));
      const racing = await Promise.allSettled([
        ...Array.from({ length: 8 }, (_, i) => child({}, kids[i % 3])),
        store.revoke(parent.token),
        ...Array.from({ length: 8 }, () => child({}, parent)),
      ]);
      for (const outcome of racing) {
        if (outcome.status === 'rejected') {
          assert.ok(isCode('invalid-request', 'parent token lookup failed: no parent found')(outcome.reason));
        } else if (typeof outcome.value === 'object') {
          assert.equal(await store.lookup(outcome.value.token), undefined, 'every child that was created went with the tree');
        }
      }
      const dangling: unknown[] = await t.dataSource.query(
        `SELECT c.id_hmac FROM ${t.table} c WHERE c.parent_hmac IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM ${t.table} p WHERE p.id_hmac = c.parent_hmac)`,
      );
      assert.deepEqual(dangling, []);
    }
  });

  test('sweepExpired revokes what has expired, with its subtree', async () => {
    const soon = await child({ ttl: '5m', policies: ['web'] });
    const soonKid = await child({ ttl: '1h' }, soon);
    const later = await child({ ttl: '2h' });
    t.advance(10 * 60);
    assert.ok((await store.sweepExpired()) >= 2);
    const left: { id_hmac: string }[] = await t.dataSource.query(`SELECT id_hmac FROM ${t.table}`);
    assert.equal(left.length, (await countLive()));
    assert.equal(await store.lookup(soonKid.token), undefined);
    assert.ok(await store.lookup(later.token));
    assert.equal(await store.sweepExpired(), 0);

    async function countLive(): Promise<number> {
      const rows: { n: string }[] = await t.dataSource.query(
        `SELECT count(*) AS n FROM ${t.table} WHERE expires_at IS NULL OR expires_at > $1`,
        [new Date(t.clock.now).toISOString()],
      );
      return Number(rows[0].n);
    }
  });

  test('the raw rows hold neither a token, an accessor, a policy name nor a meta value', async () => {
    const secretPolicy = 'policy-zq7vbx';
    const secretMeta = 'meta-value-k3j9wq';
    const issued = await child({ policies: [secretPolicy], meta: { owner: secretMeta }, displayName: 'display-p2m8' });
    const grand = await child({}, issued);
    const needles = [
      issued.token,
      issued.token.slice(4),
      issued.accessor,
      grand.token,
      grand.accessor,
      root.token,
      root.accessor,
      secretPolicy,
      secretMeta,
      'owner',
      'display-p2m8',
      'root',
    ];
    const rows: { id_hmac: string; accessor_hmac: string; parent_hmac: string | null; data: Buffer; whole: string }[] =
      await t.dataSource.query(`SELECT id_hmac, accessor_hmac, parent_hmac, data, r::text AS whole FROM ${t.table} r`);
    assert.ok(rows.length >= 3);
    for (const row of rows) {
      for (const needle of needles) {
        for (const text of [row.id_hmac, row.accessor_hmac, row.parent_hmac ?? '', row.whole]) {
          assert.ok(!text.includes(needle), `a column holds ${needle}`);
          assert.ok(!text.includes(Buffer.from(needle).toString('hex')), `a column holds ${needle} in hex`);
        }
        for (const encoding of ['utf8', 'utf16le'] as const) {
          assert.ok(!row.data.includes(Buffer.from(needle, encoding)), `data holds ${needle} (${encoding})`);
        }
      }
    }
  });

  test('an entry moved onto another row does not decrypt', async () => {
    const a = await child({ policies: ['web'] });
    const b = await child({ policies: ['db'] });
    const rows: { id_hmac: string; data: Buffer }[] = await t.dataSource.query(`SELECT id_hmac, data FROM ${t.table}`);
    const aHmac = t.barrier!.hmac(`id:${a.token}`);
    const bHmac = t.barrier!.hmac(`id:${b.token}`);
    const aData = rows.find((row) => row.id_hmac === aHmac)!.data;
    await t.dataSource.query(`UPDATE ${t.table} SET data = $1 WHERE id_hmac = $2`, [aData, bHmac]);
    await assert.rejects(store.lookup(b.token), isCode('internal'));
    await store.revoke(b.token);
  });

  test('a sealed store refuses everything with `sealed`', async () => {
    const token = await child({ ttl: '1h' });
    const barrier = t.barrier;
    t.barrier = undefined;
    try {
      const sealed = isCode('sealed', 'Vault is sealed');
      await assert.rejects(store.createRoot(), sealed);
      await assert.rejects(store.create({}, root), sealed);
      await assert.rejects(store.lookup(token.token), sealed);
      await assert.rejects(store.lookupByAccessor(token.accessor), sealed);
      await assert.rejects(store.renew(token.token), sealed);
      await assert.rejects(store.renewByAccessor(token.accessor), sealed);
      await assert.rejects(store.revoke(token.token), sealed);
      await assert.rejects(store.revokeByAccessor(token.accessor), sealed);
      await assert.rejects(store.revokeOrphan(token.token), sealed);
      await assert.rejects(store.useOnce(token.token), sealed);
      await assert.rejects(store.sweepExpired(), sealed);
      // sys/init issues the root token under the new keyring before anything is unsealed.
      const issued = await store.createRoot({ barrier });
      t.barrier = barrier;
      assert.deepEqual((await store.lookup(issued.token))?.policies, ['root']);
    } finally {
      t.barrier = barrier;
    }
    assert.ok(await store.lookup(token.token));
  });
  test('two gateways: a cached entry never outlives a revocation or renewal elsewhere, broadcast or not', async () => {
    // Two stores over one table stand for two gateways; onChange stands for the bus broadcast.
    let b!: TokenStore;
    const a = t.another({ onChange: () => b.forgetCached() });
    b = t.another();
    const tok = await child({ policies: ['p'], ttl: '1h' });
    assert.ok(await b.lookup(tok.token), 'b caches the entry');
    await a.revoke(tok.token);
    assert.equal(await a.lookup(tok.token), undefined, 'the revoking gateway forgets at once');
    assert.equal(await b.lookup(tok.token), undefined, 'the other forgets on the broadcast');

    // No broadcast at all (a lost message): the cache age bounds how long the other gateway answers from memory.
    const silent = t.another({ cacheMs: 2_000 });
    const other = t.another({ cacheMs: 2_000 });
    const tok2 = await child({ policies: ['p'], ttl: '1h' });
    assert.ok(await other.lookup(tok2.token));
    await silent.revoke(tok2.token);
    t.advance(3);
    assert.equal(await other.lookup(tok2.token), undefined, 'past the cache age the row is read again');

    // A cached entry is never trusted past the token's own expiry.
    const short = await child({ policies: ['p'], ttl: '60s' });
    assert.ok(await other.lookup(short.token));
    t.advance(61);
    assert.equal(await other.lookup(short.token), undefined);

    // A renewal on one gateway is seen by the lookup of the renewing one at once (no stale TTL in lookup-self).
    const renewable = await child({ policies: ['p'], ttl: '1h', renewable: true });
    const before = await a.lookup(renewable.token);
    t.advance(60);
    await a.renew(renewable.token, '2h');
    const afterRenew = await a.lookup(renewable.token);
    assert.notEqual(afterRenew?.expireTime, before?.expireTime);

    // Limited-use tokens are counted in the row on every use: never answered from memory.
    const twice = await child({ policies: ['p'], ttl: '1h', numUses: 2 });
    assert.ok(await other.useOnce(twice.token));
    assert.equal((await other.useOnce(twice.token))?.numUses, -1, 'the second use is the last');
    assert.equal(await other.useOnce(twice.token), undefined);
  });

  test("a login's token asks its auth plugin first: the plugin's TTLs apply, its refusal leaves the expiry, none renews as before", async () => {
    const asked: { entry: TokenEntry; increment: number }[] = [];
    let answer: AuthRenewal | undefined | Error = { ttl: 600, maxTtl: 2 * HOUR, warnings: ['from the plugin'] };
    const judged = t.another({
      renewAuth: async (entry, increment) => {
        asked.push({ entry, increment });
        if (answer instanceof Error) throw answer;
        return answer;
      },
    });
    const origin = { mount: '4b0c7a52-0000-4000-8000-000000000001', path: 'login/alice', policies: ['Dev'], displayName: 'alice', internal: { user: 'alice' } };
    const issued = await judged.createForLogin({ policies: ['Dev'], meta: { username: 'alice' }, displayName: 'userpass-alice', path: 'auth/userpass/login/alice', ttl: 60, origin });
    assert.deepEqual(issued.entry.login, origin, 'the login is kept with the token');
    const raw = await t.dataSource.query(`SELECT data FROM ${t.table}`);
    assert.ok(raw.every((r: { data: Buffer }) => !r.data.toString('latin1').includes('login/alice')), 'and only encrypted');

    t.advance(10);
    const renewed = await judged.renew(issued.token);
    assert.equal(asked.length, 1);
    assert.deepEqual(asked[0]!.entry.login, origin);
    assert.equal(asked[0]!.increment, 0);
    assert.equal(renewed?.entry.ttl, 600, "no increment: the plugin's TTL");
    assert.deepEqual(renewed?.warnings, ['from the plugin']);
    t.advance(10);
    const capped = await judged.renewByAccessor(issued.entry.accessor, '3h');
    assert.equal(asked[1]!.increment, 3 * HOUR);
    assert.equal(capped?.entry.ttl, 2 * HOUR - 20, "the plugin's max TTL counts from issue");

    answer = new CofferError('invalid-request', 'failed to renew entry: user "alice" no longer exists');
    const before = (await judged.lookup(issued.token))!.expireTime;
    t.advance(10);
    await assert.rejects(judged.renew(issued.token, '1h'), isCode('invalid-request', 'failed to renew entry: user "alice" no longer exists'));
    assert.equal((await judged.lookup(issued.token))!.expireTime, before, 'a refusal leaves the expiry as it was');

    answer = undefined;
    assert.equal((await judged.renew(issued.token, '30m'))?.entry.ttl, 30 * 60, 'a plugin without renewAuth: the store\'s rules');

    // Tokens no login issued never ask a plugin.
    const calls = asked.length;
    const plain = await child({ policies: ['p'], ttl: '1h' });
    await judged.renew(plain.token, '2h');
    assert.equal(asked.length, calls);
  });
});
