import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineBatcher } from './framing.js';

test('LineBatcher: lines pushed in one turn of the event loop leave in one write, in order', async () => {
  const writes: string[] = [];
  const batcher = new LineBatcher((text, done) => {
    writes.push(text);
    done?.();
  });
  batcher.push('a\n');
  batcher.push('b\n');
  batcher.push('c\n');
  assert.deepEqual(writes, [], 'nothing is written inside the turn');
  assert.equal(batcher.pendingLength, 6);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writes, ['a\nb\nc\n']);
  assert.equal(batcher.pendingLength, 0);

  batcher.push('d\n');
  await new Promise((r) => setImmediate(r));
  batcher.push('e\n');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writes, ['a\nb\nc\n', 'd\n', 'e\n'], 'a later turn is a later write');
});

test('LineBatcher: flush(done) writes what is queued at once and calls back once the stream took it', async () => {
  const writes: string[] = [];
  const batcher = new LineBatcher((text, done) => {
    writes.push(text);
    setImmediate(() => done?.());
  });
  batcher.push('last\n');
  const flushed = new Promise<void>((resolve) => batcher.flush(resolve));
  assert.deepEqual(writes, ['last\n']);
  await flushed;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writes, ['last\n'], 'the turn that was scheduled writes nothing more');
  // With nothing queued, flush still reports when the stream is done (the plugin side exits on it).
  const empty = new Promise<void>((resolve) => batcher.flush(resolve));
  await empty;
  assert.deepEqual(writes, ['last\n', '']);
});
