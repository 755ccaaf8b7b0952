import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from '../barrier/index.js';
import { BarrierState } from './barrier-state.js';
import { createLogger } from './logger.js';

describe('BarrierState', () => {
  it('is not ready until its unseal hooks have run, though the keyring is in (hooks read with it)', async () => {
    const state = new BarrierState(createLogger('test', 'silent'));
    let release!: () => void;
    const during: { sealed: boolean; ready: boolean; readable: boolean }[] = [];
    state.onUnseal(async () => {
      // A projection replay: it decrypts events, so the barrier is there; requests must still wait for it.
      during.push({ sealed: state.sealed, ready: state.ready, readable: state.current() !== undefined });
      await new Promise<void>((r) => (release = r));
    });
    assert.equal(state.ready, false);
    const unsealed = state.unseal(Keyring.create());
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(during, [{ sealed: false, ready: false, readable: true }]);
    assert.equal(state.ready, false, 'still replaying');
    release();
    await unsealed;
    assert.equal(state.ready, true);
    await state.seal();
    assert.equal(state.ready, false);
  });

  it('a failing hook does not leave it unready for ever', async () => {
    const state = new BarrierState(createLogger('test', 'silent'));
    state.onUnseal(() => {
      throw new Error('store down');
    });
    await state.unseal(Keyring.create());
    assert.equal(state.ready, true);
  });
});
