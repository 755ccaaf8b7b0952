/**
 * Micro-benchmark, not a test: `node dist/bench/mount-lookup.js [mounts...]`. The gateway finds the mount of every
 * request with `findMount` (longest mount path that prefixes the request path); this times it on tables of 100 to
 * 10,000 mounts (team/app nesting, two or three segments deep) against the scan of every mount it replaced, for
 * docs/performance.md, "Scale on paper". Prints µs per lookup.
 */
import { findMount, type Mount } from '../libs/mount-table/index.js';

function mount(path: string): Mount {
  return {
    table: 'secret',
    path,
    type: 'kv',
    pluginName: 'kv',
    uuid: path,
    accessor: path,
    description: '',
    config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, forceNoCache: false, pluginVersion: '' },
    options: null,
    local: false,
    sealWrap: false,
  };
}

/** The lookup before "Scale on paper": every mount compared with the request path. */
function scan(table: Record<string, Mount>, requestPath: string): Mount | undefined {
  const withSlash = requestPath.endsWith('/') ? requestPath : `${requestPath}/`;
  let best: Mount | undefined;
  for (const [path, m] of Object.entries(table)) {
    if (withSlash.startsWith(path) && (!best || path.length > best.path.length)) best = m;
  }
  return best;
}

function usPerLookup(lookup: () => unknown, minMs: number): number {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 100; i++) lookup();
    n += 100;
    elapsed = performance.now() - start;
  }
  return (elapsed * 1000) / n;
}

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
for (const size of sizes.length ? sizes : [100, 1_000, 10_000]) {
  const table: Record<string, Mount> = {};
  for (let i = 0; i < size; i++) {
    const p = i % 3 === 0 ? `team${i % 97}/app${i}/` : `team${i % 97}/app${i}/kv/`;
    table[p] = mount(p);
  }
  const requests = Array.from({ length: 64 }, (_, i) => {
    const n = (i * 7919) % size;
    return n % 3 === 0 ? `team${n % 97}/app${n}/data/config` : `team${n % 97}/app${n}/kv/data/config`;
  });
  for (const r of requests) if (findMount(table, r)?.path !== scan(table, r)?.path) throw new Error(`disagree: ${r}`);
  let k = 0;
  const fast = usPerLookup(() => findMount(table, requests[k++ & 63]), 500);
  const slow = usPerLookup(() => scan(table, requests[k++ & 63]), size >= 10_000 ? 2_000 : 500);
  console.log(
    `${size.toLocaleString('en-US').padStart(6)} mounts: findMount ${fast.toFixed(2)} µs/lookup, scan of every mount ${slow.toFixed(1)} µs/lookup (${Math.round(slow / fast)}×)`,
  );
}
