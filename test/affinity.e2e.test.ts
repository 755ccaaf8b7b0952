/**
 * Issue 16, "reads served near the data": each mount's calls go to one live runner (rendezvous hashing over the
 * runners the gateway hears), which answers repeated reads from its cache, and no runner ever serves a value
 * another runner has replaced. The services run as processes with two plugin-runners, each with its health port,
 * whose metrics say which runner served what and whether a read came from its cache or from Postgres.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ownerOf } from '../apps/gateway/src/mounts/runner-ring.js';
import { Cluster } from './support/cluster.js';
import { eventually } from './support/http.js';
import { REPO_ROOT } from './support/paths.js';

/** Sums a metric's samples whose labels include `labels`. */
function total(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => m[2]!.split(',').includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

interface RunnerView {
  name: string;
  health: string;
  /** The runner's instance id, from its metrics' default labels. */
  instance: string;
}

const MOUNTS = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];

describe('mount affinity: one runner per mount, its cache, and no stale read across a failover', () => {
  let cluster: Cluster;
  let root = '';
  const runners: RunnerView[] = [];
  const uuids = new Map<string, string>();
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${cluster.url}/v1/${path}`, { method, headers: { 'x-vault-token': root }, body: body === undefined ? undefined : JSON.stringify(body) });
  const value = async (path: string) => {
    const r = await call('GET', path);
    return r.status === 200 ? ((await r.json()) as { data: { value: string } }).data.value : `status ${r.status}`;
  };
  const metrics = async (r: RunnerView) => (await fetch(`${r.health}/metrics`)).text();
  /** Per runner: plugin `handle` calls and storage reads by source, for one metrics scrape. */
  async function counters() {
    return Promise.all(
      runners.map(async (r) => {
        const text = await metrics(r);
        return {
          handle: total(text, 'coffer_plugin_calls_total', { method: 'handle' }),
          cache: total(text, 'coffer_storage_reads_total', { source: 'cache' }),
          store: total(text, 'coffer_storage_reads_total', { source: 'store' }),
        };
      }),
    );
  }
  const ownerName = (mount: string) => {
    const id = ownerOf(uuids.get(mount)!, runners.map((r) => r.instance));
    return runners.find((r) => r.instance === id)!;
  };

  before(async () => {
    cluster = await Cluster.create({ logLevel: 'info' });
    await cluster.start('catalog');
    await cluster.start('mount-manager');
    for (const name of ['plugin-runner', 'plugin-runner-2']) {
      const health = await cluster.startWithHealthPort('plugin-runner', name);
      const text = await (await fetch(`${health}/metrics`)).text();
      const instance = /instance="([^"]+)"/.exec(text)?.[1];
      assert.ok(instance, `the runner's metrics name its instance: ${text.slice(0, 200)}`);
      runners.push({ name, health, instance });
    }
    await cluster.start('gateway');
    root = (await cluster.initAndUnseal()).rootToken;
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(cluster.dir, 'mock'));
    chmodSync(join(cluster.dir, 'mock'), 0o755);
    const sha = createHash('sha256').update(readFileSync(join(cluster.dir, 'mock'))).digest('hex');
    assert.equal((await call('PUT', 'sys/plugins/catalog/secret/mock', { sha_256: sha, command: 'mock' })).status, 204);
    for (const m of MOUNTS) assert.equal((await call('POST', `sys/mounts/${m}`, { type: 'mock' })).status, 204);
    const table = (await (await call('GET', 'sys/mounts')).json()) as { data: Record<string, { uuid: string }> };
    for (const m of MOUNTS) uuids.set(m, table.data[`${m}/`]!.uuid);
  });
  after(async () => {
    for (const r of runners) {
      const pid = cluster?.pid(r.name);
      if (pid) process.kill(pid, 'SIGCONT');
    }
    await cluster?.stop();
  });

  it("sends every call of a mount to the runner it hashes to, which answers repeated reads from its cache", async () => {
    for (const m of MOUNTS) assert.equal((await call('PUT', `${m}/kv/k`, { value: `v-${m}` })).status, 200);
    // The gateway hears each runner's presence within a second of its start; until both are heard, calls may
    // still go to the queue group. Then, for every mount, ten reads: all on its owner, nine of them from its cache.
    await eventually(async () => {
      for (const m of MOUNTS) {
        const before = await counters();
        for (let i = 0; i < 10; i++) assert.equal(await value(`${m}/kv/k`), `v-${m}`);
        const afterwards = await counters();
        const owner = runners.indexOf(ownerName(m));
        runners.forEach((r, i) => {
          const handled = afterwards[i]!.handle - before[i]!.handle;
          assert.equal(handled, i === owner ? 10 : 0, `${m}: ${r.name} handled ${handled} of 10 reads`);
        });
        const cached = afterwards[owner]!.cache - before[owner]!.cache;
        assert.ok(cached >= 9, `${m}: ${cached} of 10 reads answered from the owner's cache`);
      }
    }, 20_000, 500);
  });

  it('a frozen owner: its mount fails over, is written elsewhere, and the owner thawed never serves what it cached', async () => {
    const mount = MOUNTS[0]!;
    const owner = ownerName(mount);
    const other = runners.find((r) => r !== owner)!;
    const ownerIndex = runners.indexOf(owner);
    assert.equal(await value(`${mount}/kv/k`), `v-${mount}`);
    const c0 = await counters();
    assert.equal(await value(`${mount}/kv/k`), `v-${mount}`);
    const c1 = await counters();
    assert.equal(c1[ownerIndex]!.cache - c0[ownerIndex]!.cache, 1, 'the owner has the old value in its cache');

    process.kill(cluster.pid(owner.name)!, 'SIGSTOP');
    let thawed = false;
    try {
      // The first read waits out one liveness period on the frozen owner, then the ring drops it and the other runner
      // answers. The owner stays out while it is silent.
      assert.equal(await value(`${mount}/kv/k`), `v-${mount}`);
      const w = await call('PUT', `${mount}/kv/k`, { value: 'written while the owner was frozen' });
      assert.equal(w.status, 200, await w.text());
      assert.equal(await value(`${mount}/kv/k`), 'written while the owner was frozen');
      process.kill(cluster.pid(owner.name)!, 'SIGCONT');
      thawed = true;
    } finally {
      if (!thawed) process.kill(cluster.pid(owner.name)!, 'SIGCONT');
    }
    // Once its presence is heard again the mount is the thawed owner's again; every read, before and after that,
    // answers the value written on the other runner.
    await eventually(async () => {
      const before = await counters();
      assert.equal(await value(`${mount}/kv/k`), 'written while the owner was frozen');
      const afterwards = await counters();
      assert.equal(afterwards[ownerIndex]!.handle - before[ownerIndex]!.handle, 1, 'the thawed owner serves its mount again');
    }, 20_000, 250);
    for (let i = 0; i < 5; i++) assert.equal(await value(`${mount}/kv/k`), 'written while the owner was frozen');
    const served = await counters();
    assert.ok(served[runners.indexOf(other)]!.handle > 0);
  });

  it('a write through the queue group (another runner) is seen at once by the owner that cached the key', async () => {
    const mount = MOUNTS[1]!;
    const owner = ownerName(mount);
    const ownerIndex = runners.indexOf(owner);
    await value(`${mount}/kv/k`);
    const c0 = await counters();
    assert.equal(await value(`${mount}/kv/k`), `v-${mount}`);
    assert.equal((await counters())[ownerIndex]!.cache - c0[ownerIndex]!.cache, 1, 'cached on the owner');
    // The other runner writes the key as a gateway that has not heard the owner yet would make it: through the
    // queue group until it lands there (NATS picks the member at random). Each attempt writes a value of its own,
    // and one landing on the owner is read back (and so cached) before the next: only the other runner's write can
    // leave the owner's cache behind.
    let attempt = 0;
    const written = await eventually(async () => {
      const v = `from the queue group, attempt ${++attempt}`;
      const before = await counters();
      await cluster.busRequest('plugin-runner.handle', {
        mount: uuids.get(mount),
        request: { operation: 'update', path: 'kv/k', data: { value: v }, tokenAccessor: '', requestId: `r${attempt}`, remoteAddress: '' },
      });
      const afterwards = await counters();
      if (afterwards[ownerIndex]!.handle - before[ownerIndex]!.handle !== 0) {
        assert.equal(await value(`${mount}/kv/k`), v);
        assert.fail('the write was served by the owner; again');
      }
      return v;
    }, 20_000, 0);
    assert.equal(await value(`${mount}/kv/k`), written);
  });
});
