import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHarness, type HarnessResult } from '#plugin-sdk';
import { cubbyholeBackend, cubbyholeScope } from './backend.js';

function ok(result: HarnessResult) {
  assert.ok(!result.error, `unexpected error: ${result.error?.kind} ${result.error?.message}`);
  return result.response;
}

const alice = { tokenAccessor: 'AliceAccessor000000000000' };
const bob = { tokenAccessor: 'BobAccessor00000000000000' };

test('each token sees only its own entries', async () => {
  const harness = createHarness(cubbyholeBackend);
  assert.equal(ok(await harness.request('update', 'app/pw', { value: 's3cret', n: 1 }, alice)), null);
  assert.deepEqual(ok(await harness.request('read', 'app/pw', {}, alice)), { data: { value: 's3cret', n: 1 } });
  assert.equal(ok(await harness.request('read', 'app/pw', {}, bob)), null);
  assert.equal(ok(await harness.request('list', '', {}, bob)), null);
  assert.deepEqual(ok(await harness.request('list', '', {}, alice)), { data: { keys: ['app/'] } });
  assert.deepEqual(ok(await harness.request('list', 'app', {}, alice)), { data: { keys: ['pw'] } });
  // Bob writing the same path makes his own entry; Alice's is untouched.
  ok(await harness.request('update', 'app/pw', { value: 'bobs' }, bob));
  assert.deepEqual(ok(await harness.request('read', 'app/pw', {}, alice))?.data, { value: 's3cret', n: 1 });
  ok(await harness.request('delete', 'app/pw', {}, bob));
  assert.deepEqual(ok(await harness.request('read', 'app/pw', {}, alice))?.data, { value: 's3cret', n: 1 });
});

test('keys live under the scope of the accessor, which names no accessor', async () => {
  const harness = createHarness(cubbyholeBackend);
  ok(await harness.request('update', 'x', { a: 'b' }, alice));
  assert.deepEqual(harness.storage.keys(), [`${cubbyholeScope(alice.tokenAccessor)}/x`]);
  assert.equal(harness.storage.keys()[0]!.includes(alice.tokenAccessor), false);
});

test("Vault's refusals: no data, no path, no token", async () => {
  const harness = createHarness(cubbyholeBackend);
  assert.deepEqual((await harness.request('update', 'x', {}, alice)).error?.message, 'missing data fields');
  assert.deepEqual((await harness.request('read', '', {}, alice)).error?.message, 'missing path');
  assert.deepEqual((await harness.request('read', 'x', {}, { tokenAccessor: '' })).error?.message, 'client token empty');
});
