import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findMount, type Mount } from './projection.js';

function mount(path: string): Mount {
  return {
    table: 'secret',
    path,
    type: 'kv',
    pluginName: 'kv',
    uuid: `uuid-${path}`,
    accessor: `kv_${path}`,
    description: '',
    config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, forceNoCache: false, pluginVersion: '' },
    options: null,
    local: false,
    sealWrap: false,
  };
}

function tableOf(...paths: string[]): Record<string, Mount> {
  return Object.fromEntries(paths.map((p) => [p, mount(p)]));
}

/** The definition, by scanning every mount: what findMount must agree with. */
function longestPrefixByScan(entries: Array<[string, Mount]>, requestPath: string): Mount | undefined {
  const withSlash = requestPath.endsWith('/') ? requestPath : `${requestPath}/`;
  let best: Mount | undefined;
  for (const [path, m] of entries) {
    if (withSlash.startsWith(path) && (!best || path.length > best.path.length)) best = m;
  }
  return best;
}

describe('findMount', () => {
  const table = tableOf('secret/', 'secret/team/', 'secret/team/a/', 'kv/', 'a//b/');

  it('picks the longest mount path that prefixes the request path', () => {
    assert.equal(findMount(table, 'secret/team/a/x')?.path, 'secret/team/a/');
    assert.equal(findMount(table, 'secret/team/b/x')?.path, 'secret/team/');
    assert.equal(findMount(table, 'secret/other')?.path, 'secret/');
    assert.equal(findMount(table, 'kv')?.path, 'kv/', 'the mount path itself, without its slash');
    assert.equal(findMount(table, 'kv/')?.path, 'kv/');
    assert.equal(findMount(table, 'a//b/c')?.path, 'a//b/', 'an empty segment is part of the path');
  });

  it('matches whole segments only, and nothing for a path under no mount', () => {
    assert.equal(findMount(table, 'secretx/foo'), undefined, '"secret/" does not prefix "secretx/"');
    assert.equal(findMount(table, 'secret/teamx/y')?.path, 'secret/');
    assert.equal(findMount(table, 'nope/x'), undefined);
    assert.equal(findMount(table, ''), undefined);
    assert.equal(findMount(table, '/'), undefined);
    assert.equal(findMount({}, 'secret/x'), undefined);
  });

  it('never matches what a plain object inherits', () => {
    assert.equal(findMount(table, 'constructor'), undefined);
    assert.equal(findMount(table, '__proto__/x'), undefined);
    assert.equal(findMount(tableOf('__proto__/'), '__proto__/x')?.path, '__proto__/');
  });

  it('agrees with a scan of every mount on a table of 10,000 mounts', () => {
    // deterministic pseudo-random nested paths, so a failure can be replayed
    let seed = 16;
    const next = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; // 32-bit arithmetic: a float LCG loses bits and cycles
      return (seed >>> 8) % n;
    };
    const paths = new Set<string>();
    while (paths.size < 10_000) {
      const depth = 1 + next(3);
      let p = '';
      for (let d = 0; d < depth; d++) p += `m${next(40)}/`;
      paths.add(p);
    }
    const big = tableOf(...paths);
    const entries = Object.entries(big);
    let matched = 0;
    for (let i = 0; i < 2_000; i++) {
      const depth = 1 + next(5);
      let req = '';
      for (let d = 0; d < depth; d++) req += `m${next(45)}/`;
      if (next(2) === 0) req = req.slice(0, -1);
      const want = longestPrefixByScan(entries, req);
      assert.equal(findMount(big, req)?.path, want?.path, req);
      if (want) matched++;
    }
    assert.ok(matched > 400, `the sample reached mounts (${matched} of 2,000 did)`);
  });
});
