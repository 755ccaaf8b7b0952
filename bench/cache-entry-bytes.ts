/**
 * Measurement, not a test: `node --expose-gc dist/bench/cache-entry-bytes.js`. The memory one entry of the
 * plugin-runner's storage read cache takes (`apps/plugin-runner/src/plugin-storage.ts`: a `Map` of `mount\0key` →
 * plaintext `Buffer`), for values of 64 B, 1 KiB and 4 KiB, for docs/performance.md, "Scale on paper".
 */
const N = 10_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

/** In a function of its own, and emptied after: a cache left reachable would inflate the next size's baseline. */
function measure(valueBytes: number): void {
  gc!();
  const before = process.memoryUsage();
  const cache = new Map<string, Buffer | null>();
  for (let i = 0; i < N; i++) cache.set(`0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\u0000team/app${i}/config`, Buffer.alloc(valueBytes, i & 255));
  gc!();
  const after = process.memoryUsage();
  // The JS heap holds the key, the Map's slot and the Buffer object; the value's bytes live outside it, exactly
  // valueBytes each (process.memoryUsage().arrayBuffers lags behind frees, so it is not used for them).
  const heap = (after.heapUsed - before.heapUsed) / N;
  console.log(`value ${valueBytes} B: ${(heap + valueBytes).toFixed(0)} B per cached entry (${heap.toFixed(0)} B on the heap + the value; ${cache.size} entries)`);
  cache.clear();
}

for (const valueBytes of [64, 1024, 4096]) measure(valueBytes);
