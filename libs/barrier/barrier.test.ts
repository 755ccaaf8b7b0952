import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { CofferError } from '../contracts/errors.js';
import { DECRYPT_FAILED_MESSAGE, Keyring, KeyringBarrier } from './index.js';

const cannotDecrypt = (err: unknown) => {
  assert.ok(err instanceof CofferError, `expected a CofferError, got ${err}`);
  assert.equal(err.code, 'internal');
  assert.equal(err.message, 'barrier: cannot decrypt (wrong key, altered or moved data)');
  assert.equal(err.message, DECRYPT_FAILED_MESSAGE);
  return true;
};

const SECRET = Buffer.from('{"password":"hunter2"}');

test('encrypt / decrypt round trip; the blob layout is [1][term][nonce][ciphertext][tag]', () => {
  const barrier = new KeyringBarrier(Keyring.create());
  const blob = barrier.encrypt(SECRET, 'logical/abc/foo');
  assert.equal(blob[0], 0x01);
  assert.equal(blob.readUInt32BE(1), 1);
  assert.equal(blob.length, 1 + 4 + 12 + SECRET.length + 16);
  assert.ok(!blob.includes(Buffer.from('hunter2')));
  assert.deepEqual(barrier.decrypt(blob, 'logical/abc/foo'), SECRET);
  assert.notDeepEqual(barrier.encrypt(SECRET, 'logical/abc/foo'), blob, 'a fresh nonce every time');
  assert.deepEqual(barrier.decrypt(barrier.encrypt(Buffer.alloc(0), ''), ''), Buffer.alloc(0));
});

test('decrypt with another aad fails', () => {
  const barrier = new KeyringBarrier(Keyring.create());
  const blob = barrier.encrypt(SECRET, 'logical/abc/foo');
  for (const aad of ['logical/abc/bar', 'logical/abc/foo ', '', 'logical/abc/fo']) {
    assert.throws(() => barrier.decrypt(blob, aad), cannotDecrypt, aad);
  }
});

test('a flipped byte anywhere (header, nonce, ciphertext, tag) fails', () => {
  const barrier = new KeyringBarrier(Keyring.create());
  const blob = barrier.encrypt(SECRET, 'a');
  for (let i = 0; i < blob.length; i++) {
    const altered = Buffer.from(blob);
    altered[i]! ^= 0x80;
    assert.throws(() => barrier.decrypt(altered, 'a'), cannotDecrypt, `byte ${i}`);
  }
  assert.throws(() => barrier.decrypt(blob.subarray(0, 32), 'a'), cannotDecrypt, 'too short');
  assert.throws(() => barrier.decrypt(Buffer.concat([blob, Buffer.of(0)]), 'a'), cannotDecrypt, 'extended');
});

test('another keyring cannot decrypt', () => {
  const blob = new KeyringBarrier(Keyring.create()).encrypt(SECRET, 'a');
  assert.throws(() => new KeyringBarrier(Keyring.create()).decrypt(blob, 'a'), cannotDecrypt);
});

test('after rotate, term-1 data still decrypts and new data uses term 2', () => {
  const before = new KeyringBarrier(Keyring.create());
  const old = before.encrypt(SECRET, 'a');
  const after = new KeyringBarrier(before.keyring.rotate());
  assert.deepEqual(after.decrypt(old, 'a'), SECRET);
  const fresh = after.encrypt(SECRET, 'a');
  assert.equal(fresh.readUInt32BE(1), 2);
  assert.deepEqual(after.decrypt(fresh, 'a'), SECRET);
  // The old keyring never had term 2.
  assert.throws(() => before.decrypt(fresh, 'a'), cannotDecrypt);
  // Claiming the old term for new data does not work either: the term is authenticated and picks another key.
  const relabelled = Buffer.from(fresh);
  relabelled.writeUInt32BE(1, 1);
  assert.throws(() => after.decrypt(relabelled, 'a'), cannotDecrypt);
});

test('hmac is deterministic hex, depends on the value and on the HMAC key, and survives rotation', () => {
  const keyring = Keyring.create();
  const barrier = new KeyringBarrier(keyring);
  const mac = barrier.hmac('hvs.token');
  assert.match(mac, /^[0-9a-f]{64}$/);
  assert.equal(barrier.hmac('hvs.token'), mac);
  assert.notEqual(barrier.hmac('hvs.token2'), mac);
  assert.notEqual(new KeyringBarrier(Keyring.create()).hmac('hvs.token'), mac);
  assert.equal(new KeyringBarrier(keyring.rotate()).hmac('hvs.token'), mac);
  assert.equal(new KeyringBarrier(Keyring.parse(keyring.serialize())).hmac('hvs.token'), mac);
});

test('a barrier over a wiped keyring answers "sealed"', () => {
  const barrier = new KeyringBarrier(Keyring.create());
  const blob = barrier.encrypt(SECRET, 'a');
  barrier.keyring.wipe();
  for (const use of [() => barrier.encrypt(SECRET, 'a'), () => barrier.decrypt(blob, 'a'), () => barrier.hmac('x')]) {
    assert.throws(use, (err: unknown) => err instanceof CofferError && err.code === 'sealed');
  }
});

test('the barrier prints no key material', () => {
  const barrier = new KeyringBarrier(Keyring.create());
  const key = barrier.keyring.termKey(1)!;
  for (const out of [String(barrier), JSON.stringify(barrier), inspect(barrier, { depth: Infinity, showHidden: true })]) {
    assert.ok(!out.includes(key.toString('hex')) && !out.includes(key.toString('base64')), out);
    assert.ok(!out.includes(barrier.keyring.hmacKey.toString('hex')), out);
  }
  assert.equal(String(barrier), 'KeyringBarrier(Keyring(terms=1))');
});
