import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CofferError } from '../contracts/errors.js';
import {
  checkUnsealKeyLength,
  combineShares,
  generateRootKey,
  parseUnsealKey,
  splitRootKey,
  validateSealConfig,
} from './index.js';

function rejects(code: string, message: string) {
  return (err: unknown) => {
    assert.ok(err instanceof CofferError, `expected a CofferError, got ${err}`);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    return true;
  };
}

/** Every k-element subset of `items`. */
function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

test('generateRootKey gives 32 fresh random bytes', () => {
  const a = generateRootKey();
  const b = generateRootKey();
  assert.equal(a.length, 32);
  assert.notDeepEqual(a, b);
});

test('(1,1): the single share is the key itself, 32 bytes', async () => {
  const key = generateRootKey();
  const shares = await splitRootKey(key, 1, 1);
  assert.equal(shares.length, 1);
  assert.equal(shares[0]!.length, 32);
  assert.deepEqual(shares[0], key);
  assert.notEqual(shares[0]!.buffer, key.buffer, 'a copy, so wiping one leaves the other');
  assert.deepEqual(await combineShares(shares), key);
});

for (const [n, t] of [
  [3, 2],
  [5, 3],
] as const) {
  test(`(${n},${t}): shares are 33 bytes, every ${t}-subset recovers the key, fewer do not`, async () => {
    const key = generateRootKey();
    const shares = await splitRootKey(key, n, t);
    assert.equal(shares.length, n);
    for (const share of shares) assert.equal(share.length, 33);
    for (let k = t; k <= n; k++) {
      for (const subset of subsets(shares, k)) assert.deepEqual(await combineShares(subset), key);
    }
    for (let k = 2; k < t; k++) {
      for (const subset of subsets(shares, k)) assert.notDeepEqual(await combineShares(subset), key);
    }
    // One share of a threshold > 1 split is taken as a key (threshold-one shape) and is not the key either.
    for (const share of shares) assert.notDeepEqual(await combineShares([share]), key);
  });
}

test('splitRootKey (255, 255) works at the upper bound', async () => {
  const key = generateRootKey();
  const shares = await splitRootKey(key, 255, 255);
  assert.equal(shares.length, 255);
  assert.deepEqual(await combineShares(shares), key);
});

test('splitRootKey validates the configuration and the key', async () => {
  await assert.rejects(
    splitRootKey(generateRootKey(), 3, 1),
    rejects('invalid-request', 'invalid seal configuration: threshold must be greater than one for multiple shares'),
  );
  await assert.rejects(splitRootKey(Buffer.alloc(16), 3, 2), rejects('internal', 'root key must be 32 bytes'));
});

test('combineShares refuses what cannot be combined, with Vault texts', async () => {
  const shares = await splitRootKey(generateRootKey(), 3, 2);
  const prefix = 'invalid key: failed to compute combined key: ';
  const refused = (reason: string) => rejects('invalid-request', `${prefix}${reason}`);
  await assert.rejects(combineShares([]), refused('less than two parts cannot be used to reconstruct the secret'));
  await assert.rejects(combineShares([shares[0]!, shares[0]!]), refused('duplicate part detected'));
  await assert.rejects(
    combineShares([shares[0]!, shares[1]!.subarray(1)]),
    refused('all parts must be the same length'),
  );
  await assert.rejects(combineShares([Buffer.of(1), Buffer.of(2)]), refused('parts must be at least two bytes'));
});

test('validateSealConfig accepts what Vault accepts', () => {
  for (const [n, t] of [
    [1, 1],
    [2, 2],
    [5, 3],
    [255, 2],
    [255, 255],
  ]) {
    assert.doesNotThrow(() => validateSealConfig(n!, t!), `${n}/${t}`);
  }
});

test('validateSealConfig: every Vault error text, in Vault order', () => {
  const cases: [number, number, string][] = [
    [0, 1, 'shares must be at least one'],
    [-1, 0, 'shares must be at least one'], // shares is checked first
    [0, 0, 'shares must be at least one'],
    [1, 0, 'threshold must be at least one'],
    [3, -2, 'threshold must be at least one'],
    [3, 1, 'threshold must be greater than one for multiple shares'],
    [300, 1, 'threshold must be greater than one for multiple shares'], // before the 256 check, as in Vault
    [256, 2, 'shares must be less than 256'],
    [256, 300, 'shares must be less than 256'],
    [255, 256, 'threshold must be less than 256'],
    [2, 3, 'threshold cannot be larger than shares'],
    [1, 2, 'threshold cannot be larger than shares'],
    [1.5, 1, 'shares must be an integer'],
    [Number.NaN, 1, 'shares must be an integer'],
    [3, 2.5, 'threshold must be an integer'],
    [3, Number.POSITIVE_INFINITY, 'threshold must be an integer'],
  ];
  for (const [n, t, reason] of cases) {
    const expected = rejects('invalid-request', `invalid seal configuration: ${reason}`);
    assert.throws(() => validateSealConfig(n, t), expected, `${n}/${t}`);
  }
  assert.throws(
    () => validateSealConfig('3' as unknown as number, 2),
    rejects('invalid-request', 'invalid seal configuration: shares must be an integer'),
  );
});

test('parseUnsealKey reads hex (either case) and standard base64', async () => {
  const [share] = await splitRootKey(generateRootKey(), 3, 2);
  assert.deepEqual(parseUnsealKey(share!.toString('hex')), share);
  assert.deepEqual(parseUnsealKey(share!.toString('hex').toUpperCase()), share);
  assert.deepEqual(parseUnsealKey(share!.toString('base64')), share);
  const key = generateRootKey();
  assert.deepEqual(parseUnsealKey(key.toString('hex')), key);
  assert.deepEqual(parseUnsealKey(key.toString('base64')), key);
  // Go's StdEncoding skips line breaks (a key pasted from a wrapped terminal).
  const b64 = key.toString('base64');
  assert.deepEqual(parseUnsealKey(`${b64.slice(0, 20)}\n${b64.slice(20)}\r\n`), key);
});

test('parseUnsealKey prefers hex only when the hex length fits a key', () => {
  // 32 hex-looking characters: 16 bytes as hex, a key length, so hex wins although it is valid base64 too.
  const hex = 'deadbeef'.repeat(4);
  assert.deepEqual(parseUnsealKey(hex), Buffer.from(hex, 'hex'));
  // 8 hex characters = 4 bytes, too short a key: Vault falls back to base64, which these also are.
  assert.deepEqual(parseUnsealKey('deadbeef'), Buffer.from('deadbeef', 'base64'));
  // 68 hex characters = 34 bytes, too long: base64 again.
  const long = 'ab'.repeat(34);
  assert.deepEqual(parseUnsealKey(long), Buffer.from(long, 'base64'));
});

test('parseUnsealKey refuses garbage with Vault text', () => {
  const message = "'key' must be a valid hex or base64 string";
  const garbage = ['', 'not a key!', 'abc', 'zz'.repeat(15) + '!!', 'AAAA=', 'AA==AA==', 'AAA', '-_-_', 'ab'.repeat(15) + 'g'];
  for (const text of garbage) {
    assert.throws(() => parseUnsealKey(text), rejects('invalid-request', message), JSON.stringify(text));
  }
  const key = generateRootKey().toString('base64');
  assert.throws(() => parseUnsealKey(key.replace(/=+$/, '')), rejects('invalid-request', message), 'unpadded');
  assert.throws(() => parseUnsealKey(undefined as unknown as string), rejects('invalid-request', message));
});

test('checkUnsealKeyLength: 16..33 bytes, else Vault invalid-key texts', () => {
  for (const n of [16, 32, 33]) assert.doesNotThrow(() => checkUnsealKeyLength(Buffer.alloc(n)));
  assert.throws(
    () => checkUnsealKeyLength(Buffer.alloc(15)),
    rejects('invalid-request', 'invalid key: key is shorter than minimum 16 bytes'),
  );
  assert.throws(
    () => checkUnsealKeyLength(Buffer.alloc(34)),
    rejects('invalid-request', 'invalid key: key is longer than maximum 33 bytes'),
  );
});
