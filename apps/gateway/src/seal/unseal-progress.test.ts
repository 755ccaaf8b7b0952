import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponderLost } from '#bus';
import { retryable } from '../mounts/mount-routing.js';
import { UnsealProgress, isUnsealProgressMessage } from './unseal-progress.js';

describe('UnsealProgress', () => {
  it('counts a share once, merges two attempts under the smaller nonce, and forgets on clear', () => {
    const p = new UnsealProgress();
    assert.equal(p.add(Buffer.from('a'), 'n2'), true);
    assert.equal(p.add(Buffer.from('a'), 'n2'), false);
    assert.equal(p.add(Buffer.from('b'), 'n1'), true);
    assert.deepEqual([p.count, p.nonce], [2, 'n1']);
    p.clear();
    assert.deepEqual([p.count, p.nonce], [0, '']);
  });

  it('refuses malformed progress messages', () => {
    assert.equal(isUnsealProgressMessage({ kind: 'share', nonce: 'n', share: 'x' }), false, 'no sender');
    assert.equal(isUnsealProgressMessage({ kind: 'share', nonce: 'n', share: 'x'.repeat(2000), from: 'g' }), false, 'oversized');
    assert.equal(isUnsealProgressMessage({ kind: 'reset', from: 'g' }), true);
  });
});

describe('retryable (plugin calls whose runner was lost)', () => {
  const nobody = new ResponderLost('', false, true);
  const unacked = new ResponderLost('', false, false);
  const lost = new ResponderLost('', true, false);
  it('a read is retried whatever happened, a write only when NATS said nobody listens', () => {
    assert.equal(retryable(lost, true, 1, 0, 2000), true);
    assert.equal(retryable(unacked, true, 1, 0, 2000), true);
    assert.equal(retryable(nobody, false, 1, 0, 2000), true);
    assert.equal(retryable(unacked, false, 1, 0, 2000), false);
    assert.equal(retryable(lost, false, 1, 0, 2000), false);
  });
  it('never a third retry, nor past three liveness periods', () => {
    assert.equal(retryable(nobody, true, 3, 0, 2000), false);
    assert.equal(retryable(nobody, true, 1, 6000, 2000), false);
  });
});
