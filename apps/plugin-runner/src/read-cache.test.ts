import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Barrier } from '#barrier';
import { ReadCache } from './read-cache.js';

const barrier = {} as Barrier;
const M = 'mount-a';
const v = (s: string) => Buffer.from(s);

describe('the read cache under other runners\' writes', () => {
  it('keeps what was read, and forgets a mount another runner writes, from its start to its end', () => {
    let now = 0;
    const cache = new ReadCache(100, 1_000, () => now);
    cache.under(barrier);
    cache.keep(M, 'k', v('one'), barrier, cache.epoch);
    cache.keep('mount-b', 'k', v('other'), barrier, cache.epoch);
    assert.equal(cache.get(M, 'k')?.toString(), 'one');

    cache.foreignWrite(M, 'start');
    assert.equal(cache.get(M, 'k'), undefined, 'the mount is dropped as soon as the write starts');
    assert.equal(cache.get('mount-b', 'k')?.toString(), 'other', 'other mounts are not');
    // A read while the write runs may predate its commit: it is not kept.
    cache.keep(M, 'k', v('stale'), barrier, cache.epoch);
    assert.equal(cache.get(M, 'k'), undefined);

    cache.foreignWrite(M, 'end');
    cache.keep(M, 'k', v('two'), barrier, cache.epoch);
    assert.equal(cache.get(M, 'k')?.toString(), 'two', 'after the end, reads are kept again');
  });

  it('keeps nothing a read started before a write ended, even when the read returns after', () => {
    const cache = new ReadCache(100, 1_000);
    cache.under(barrier);
    const epoch = cache.epoch;
    cache.foreignWrite(M, 'start');
    cache.foreignWrite(M, 'end');
    cache.keep(M, 'k', v('read before the commit'), barrier, epoch);
    assert.equal(cache.get(M, 'k'), undefined);
  });

  it('takes a write whose end never came as over once its deadline passed, and drops the mount then', () => {
    let now = 0;
    const cache = new ReadCache(100, 1_000, () => now);
    cache.under(barrier);
    cache.foreignWrite(M, 'start');
    now = 999;
    cache.keep(M, 'k', v('x'), barrier, cache.epoch);
    assert.equal(cache.get(M, 'k'), undefined, 'still running: nothing kept');
    const epochBefore = cache.epoch;
    now = 1_001;
    assert.equal(cache.get(M, 'k'), undefined);
    assert.notEqual(cache.epoch, epochBefore, 'passing the deadline drops what overlapped the lost write');
    cache.keep(M, 'k', v('y'), barrier, cache.epoch);
    assert.equal(cache.get(M, 'k')?.toString(), 'y');
  });

  it('counts two overlapping writes of one mount: the first end does not reopen it', () => {
    const cache = new ReadCache(100, 1_000);
    cache.under(barrier);
    cache.foreignWrite(M, 'start');
    cache.foreignWrite(M, 'start');
    cache.foreignWrite(M, 'end');
    cache.keep(M, 'k', v('x'), barrier, cache.epoch);
    assert.equal(cache.get(M, 'k'), undefined);
    cache.foreignWrite(M, 'end');
    cache.keep(M, 'k', v('x'), barrier, cache.epoch);
    assert.equal(cache.get(M, 'k')?.toString(), 'x');
  });

  it('forgets everything on a reconnect or another barrier, and stays within its bound', () => {
    const cache = new ReadCache(3, 1_000);
    cache.under(barrier);
    for (const k of ['a', 'b', 'c']) cache.keep(M, k, v(k), barrier, cache.epoch);
    assert.equal(cache.size, 3);
    cache.keep(M, 'd', v('d'), barrier, cache.epoch);
    assert.ok(cache.size <= 3, `bounded: ${cache.size}`);
    cache.forgetAll();
    assert.equal(cache.size, 0);
    cache.keep(M, 'a', v('a'), barrier, cache.epoch);
    cache.under({} as Barrier);
    assert.equal(cache.get(M, 'a'), undefined, 'a new barrier starts over');
    cache.keep(M, 'a', v('a'), barrier, cache.epoch);
    assert.equal(cache.get(M, 'a'), undefined, 'nothing read under the old barrier is kept');
  });
});
