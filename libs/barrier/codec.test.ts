import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CofferError } from '../contracts/errors.js';
import { Keyring, KeyringBarrier, barrierCodec, eventAad, type Barrier } from './index.js';

const ctx = { stream: 'mount-abc', version: 3, type: 'SecretWritten' };
const data = { path: 'foo', value: { password: 'hunter2' }, n: 1, list: [true, null] };

const cannotDecrypt = (err: unknown) =>
  err instanceof CofferError && err.code === 'internal' && /cannot decrypt/.test(err.message);
const sealed = (err: unknown) =>
  err instanceof CofferError && err.code === 'sealed' && err.message === 'Vault is sealed';

test('codec round trip: JSON in, encrypted bytes stored, the same JSON out', () => {
  const barrier = new KeyringBarrier(Keyring.create());
  const codec = barrierCodec(() => barrier);
  const bytes = codec.encode(ctx, data);
  assert.ok(Buffer.isBuffer(bytes));
  assert.ok(!bytes.includes(Buffer.from('hunter2')) && !bytes.includes(Buffer.from('password')));
  assert.deepEqual(codec.decode(ctx, bytes), data);
  assert.deepEqual(barrier.decrypt(bytes, 'event\0mount-abc\x003\0SecretWritten').toString(), JSON.stringify(data));
  for (const value of [null, 0, 'text', [], {}]) assert.deepEqual(codec.decode(ctx, codec.encode(ctx, value)), value);
});

test('codec refuses moved or relabelled data', () => {
  const barrier = new KeyringBarrier(Keyring.create());
  const codec = barrierCodec(() => barrier);
  const bytes = codec.encode(ctx, data);
  for (const moved of [
    { ...ctx, version: 4 },
    { ...ctx, version: 2 },
    { ...ctx, stream: 'mount-xyz' },
    { ...ctx, type: 'SecretDeleted' },
  ]) {
    assert.throws(() => codec.decode(moved, bytes), cannotDecrypt, JSON.stringify(moved));
  }
});

test('codec throws "sealed" when there is no barrier, and follows seal / unseal', () => {
  let current: Barrier | undefined;
  const codec = barrierCodec(() => current);
  assert.throws(() => codec.encode(ctx, data), sealed);
  assert.throws(() => codec.decode(ctx, Buffer.alloc(40)), sealed);
  current = new KeyringBarrier(Keyring.create());
  const bytes = codec.encode(ctx, data);
  current = undefined;
  assert.throws(() => codec.decode(ctx, bytes), sealed);
});

test('codec after rotation still reads old events', () => {
  let barrier = new KeyringBarrier(Keyring.create());
  const codec = barrierCodec(() => barrier);
  const old = codec.encode(ctx, data);
  barrier = new KeyringBarrier(barrier.keyring.rotate());
  assert.deepEqual(codec.decode(ctx, old), data);
});

test('codec refuses data with no JSON form, and ambiguous contexts', () => {
  const barrier = new KeyringBarrier(Keyring.create());
  const codec = barrierCodec(() => barrier);
  assert.throws(() => codec.encode(ctx, undefined), TypeError);
  // With NUL allowed, ("a", 1, "b\01\0c") and ("a\01\0b", 1, "c") would share one aad.
  assert.throws(() => eventAad({ stream: 'a\0b', version: 1, type: 't' }), CofferError);
  assert.throws(() => eventAad({ stream: 'a', version: 1, type: 't\0u' }), CofferError);
  assert.throws(() => eventAad({ stream: 'a', version: -1, type: 't' }), CofferError);
  assert.throws(() => eventAad({ stream: 'a', version: 1.5, type: 't' }), CofferError);
  assert.equal(eventAad(ctx), 'event\0mount-abc\x003\0SecretWritten');
});
