import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { CofferError } from '../contracts/errors.js';
import {
  INVALID_ROOT_KEY_MESSAGE,
  Keyring,
  combineShares,
  generateRootKey,
  openKeyring,
  sealKeyring,
  splitRootKey,
} from './index.js';

function rejects(code: string, message?: string | RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof CofferError, `expected a CofferError, got ${err}`);
    assert.equal(err.code, code);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    return true;
  };
}

/** Every way a key could be spelled in output. */
function keySpellings(keyring: Keyring): string[] {
  const keys = [keyring.hmacKey, ...keyring.terms.map((t) => t.key)];
  return keys.flatMap((k) => [k.toString('hex'), k.toString('base64'), k.toString('base64url'), k.toString('latin1')]);
}

function assertSameKeyring(a: Keyring, b: Keyring) {
  assert.equal(b.activeTerm, a.activeTerm);
  assert.deepEqual(b.hmacKey, a.hmacKey);
  assert.deepEqual(
    b.terms.map((t) => [t.term, t.key, t.installedAt]),
    a.terms.map((t) => [t.term, t.key, t.installedAt]),
  );
}

test('Keyring.create: term 1 active, 32-byte keys, separate HMAC key', () => {
  const now = new Date('2024-05-01T12:00:00.000Z');
  const keyring = Keyring.create(now);
  assert.equal(keyring.activeTerm, 1);
  assert.equal(keyring.terms.length, 1);
  const [term] = keyring.terms;
  assert.equal(term!.term, 1);
  assert.equal(term!.key.length, 32);
  assert.equal(term!.installedAt, '2024-05-01T12:00:00.000Z');
  assert.equal(keyring.hmacKey.length, 32);
  assert.notDeepEqual(keyring.hmacKey, term!.key);
  assert.notDeepEqual(Keyring.create().hmacKey, keyring.hmacKey);
});

test('serialize / parse and toWire / fromWire round trip', () => {
  const keyring = Keyring.create().rotate().rotate();
  assertSameKeyring(keyring, Keyring.parse(keyring.serialize()));
  const wire = keyring.toWire();
  assert.match(wire, /^[A-Za-z0-9+/]+=*$/);
  assertSameKeyring(keyring, Keyring.fromWire(wire));
});

test('rotate: a new keyring with term + 1 active, old terms and the HMAC key kept, the original untouched', () => {
  const one = Keyring.create();
  const two = one.rotate(new Date('2030-01-01T00:00:00.000Z'));
  assert.equal(one.activeTerm, 1);
  assert.equal(one.terms.length, 1);
  assert.equal(two.activeTerm, 2);
  assert.deepEqual(
    two.terms.map((t) => t.term),
    [1, 2],
  );
  assert.deepEqual(two.termKey(1), one.termKey(1));
  assert.notDeepEqual(two.termKey(2), two.termKey(1));
  assert.equal(two.terms[1]!.installedAt, '2030-01-01T00:00:00.000Z');
  assert.deepEqual(two.hmacKey, one.hmacKey);
  one.wipe();
  assert.notDeepEqual(two.termKey(1), Buffer.alloc(32), 'the rotated keyring owns its own copies');
});

test('Keyring.parse refuses every malformed input, never with key bytes in the message', () => {
  const keyring = Keyring.create().rotate();
  const good = keyring.serialize();
  const secrets = keySpellings(keyring);
  const variant = (edit: (b: Buffer) => Buffer) => edit(Buffer.from(good));
  // Layout: "CKR"(3) format(1) active(4) hmac(32) count(2) | term(4) key(32) len(1) date(24) | ...
  const firstTerm = 3 + 1 + 4 + 32 + 2;
  const secondTerm = firstTerm + 4 + 32 + 1 + 24;
  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['truncated header', good.subarray(0, 20)],
    ['truncated term', good.subarray(0, good.length - 1)],
    ['trailing byte', Buffer.concat([good, Buffer.of(0)])],
    ['bad magic', variant((b) => b.fill(0x58, 0, 1))],
    ['unknown format', variant((b) => b.fill(2, 3, 4))],
    ['no terms', variant((b) => Buffer.concat([b.subarray(0, firstTerm - 2), Buffer.of(0, 0)]))],
    ['count too high', variant((b) => (b.writeUInt16BE(3, firstTerm - 2), b))],
    ['active term without key', variant((b) => (b.writeUInt32BE(7, 4), b))],
    ['term 0', variant((b) => (b.writeUInt32BE(0, firstTerm), b))],
    ['repeated term', variant((b) => (b.writeUInt32BE(1, secondTerm), b))],
    ['terms out of order', variant((b) => (b.writeUInt32BE(3, firstTerm), b))],
    ['date not ISO', variant((b) => (b.write('2024-13-01T00:00:00.000Z', firstTerm + 37, 'ascii'), b))],
    ['date garbage', variant((b) => (b.write('not a date at all, sorry', firstTerm + 37, 'ascii'), b))],
    ['JSON instead', Buffer.from(JSON.stringify({ activeTerm: 1, terms: [] }))],
  ];
  for (const [name, bytes] of cases) {
    assert.throws(
      () => Keyring.parse(bytes),
      (err: unknown) => {
        rejects('internal', /^keyring: malformed \(/)(err);
        const text = `${(err as Error).message} ${(err as Error).stack}`;
        for (const s of secrets) assert.ok(!text.includes(s), `${name}: the error carries key material`);
        return true;
      },
      name,
    );
  }
  assert.throws(() => Keyring.parse('CKR' as unknown as Buffer), rejects('internal', /not a buffer/));
});

test('Keyring.fromWire refuses what is not strict base64 of a keyring', () => {
  const wire = Keyring.create().toWire();
  const urlSafe = wire.replaceAll('+', '-').replaceAll('/', '_') + '-';
  for (const bad of ['', 'not base64!', wire.replace(/=+$/, '') + '=', urlSafe, wire.slice(0, -8)]) {
    assert.throws(() => Keyring.fromWire(bad), rejects('internal', /^keyring: malformed/), JSON.stringify(bad));
  }
});

test('no key bytes in String(), JSON.stringify(), util.inspect() of a keyring, its terms or errors', () => {
  const keyring = Keyring.create().rotate();
  const secrets = keySpellings(keyring);
  const outputs = [
    String(keyring),
    `${keyring}`,
    JSON.stringify(keyring),
    JSON.stringify({ keyring }),
    inspect(keyring),
    inspect(keyring, { showHidden: true, depth: Infinity }),
    inspect({ nested: [keyring] }, { depth: Infinity }),
    JSON.stringify(keyring.terms),
    inspect(keyring.terms, { depth: Infinity }),
    String(keyring.terms),
  ];
  assert.equal(String(keyring), 'Keyring(terms=2)');
  assert.equal(JSON.stringify(keyring), '"Keyring(terms=2)"');
  assert.equal(inspect(keyring), 'Keyring(terms=2)');
  for (const out of outputs) {
    for (const s of secrets) assert.ok(!out.includes(s), `${out} carries key material`);
  }
});

test('wipe zeroes the keys and the keyring then answers "sealed"', () => {
  const keyring = Keyring.create();
  const key = keyring.termKey(1)!;
  const hmacKey = keyring.hmacKey;
  keyring.wipe();
  assert.deepEqual(key, Buffer.alloc(32));
  assert.deepEqual(hmacKey, Buffer.alloc(32));
  assert.equal(keyring.wiped, true);
  assert.throws(() => keyring.activeTerm, rejects('sealed', 'Vault is sealed'));
  assert.throws(() => keyring.serialize(), rejects('sealed', 'Vault is sealed'));
  assert.equal(String(keyring), 'Keyring(terms=1)');
});

test('sealKeyring / openKeyring with the right root key', async () => {
  const rootKey = generateRootKey();
  const keyring = Keyring.create().rotate();
  const blob = sealKeyring(rootKey, keyring);
  assert.equal(blob[0], 1);
  for (const s of keySpellings(keyring)) assert.ok(!blob.toString('latin1').includes(s) && !blob.toString('hex').includes(s));
  assertSameKeyring(keyring, openKeyring(rootKey, blob));
  // The path an unseal takes: shares → combined key → keyring.
  const shares = await splitRootKey(rootKey, 5, 3);
  assertSameKeyring(keyring, openKeyring(await combineShares([shares[4]!, shares[0]!, shares[2]!]), blob));
  assert.notDeepEqual(sealKeyring(rootKey, keyring), blob, 'a fresh nonce every time');
});

test('openKeyring with a wrong root key is the operator\'s 400, with no detail', async () => {
  const rootKey = generateRootKey();
  const blob = sealKeyring(rootKey, Keyring.create());
  const wrongKey = rejects('invalid-request', INVALID_ROOT_KEY_MESSAGE);
  assert.equal(INVALID_ROOT_KEY_MESSAGE, 'invalid key: failed to decrypt the keyring');
  assert.throws(() => openKeyring(generateRootKey(), blob), wrongKey);
  // Shares from another init combine into some key, just not this one.
  const other = await splitRootKey(generateRootKey(), 3, 2);
  const otherKey = await combineShares(other.slice(0, 2));
  assert.throws(() => openKeyring(otherKey, blob), wrongKey);
  // A share typed in where the threshold is one: 33 bytes is no AES-256 key.
  assert.throws(() => openKeyring(other[0]!, blob), wrongKey);
});

test('openKeyring notices a flipped byte anywhere in the sealed keyring', () => {
  const rootKey = generateRootKey();
  const blob = sealKeyring(rootKey, Keyring.create());
  for (let i = 1; i < blob.length; i++) {
    const altered = Buffer.from(blob);
    altered[i]! ^= 0x01;
    assert.throws(() => openKeyring(rootKey, altered), rejects('invalid-request', INVALID_ROOT_KEY_MESSAGE), `byte ${i}`);
  }
  const otherFormat = Buffer.from(blob);
  otherFormat[0] = 2;
  assert.throws(() => openKeyring(rootKey, otherFormat), rejects('internal'));
  assert.throws(() => openKeyring(rootKey, blob.subarray(0, 28)), rejects('internal'));
});

test('sealKeyring refuses a root key that is not 32 bytes', () => {
  assert.throws(() => sealKeyring(Buffer.alloc(16), Keyring.create()), rejects('internal', 'root key must be 32 bytes'));
});
