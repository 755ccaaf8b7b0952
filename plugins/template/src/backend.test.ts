import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHarness } from '#plugin-sdk';
import { templateBackend } from './backend.js';

test('greeting: 404 before a write, then the written text, then 404 after delete', async () => {
  const harness = createHarness(templateBackend);
  assert.deepEqual(await harness.request('read', 'greeting'), { response: null });

  assert.deepEqual(await harness.request('update', 'greeting', { text: 'Hi there' }), { response: null });
  assert.deepEqual(await harness.request('read', 'greeting'), { response: { data: { text: 'Hi there' } } });

  await harness.request('delete', 'greeting');
  assert.deepEqual(await harness.request('read', 'greeting'), { response: null });
});

test('greeting: a write without text stores the default', async () => {
  const harness = createHarness(templateBackend);
  await harness.request('update', 'greeting');
  assert.equal(harness.storage.get('greeting')?.toString(), 'Hello!');
});
