/**
 * A demonstration, not a test: `node dist/bench/runners-share.js [runners] [mounts] [reads]` (default 10 runners,
 * 40 mounts, 2,000 kv reads). The four services as processes on a nats-server of their own, with N plugin-runners,
 * each with a health port, and M mounts of the mock plugin. It shows mount affinity (docs/performance.md, "Mount
 * affinity"): which runner serves each mount (each runner's `coffer_plugin_calls_total` before and after a few reads
 * of that mount alone), how the reads of all mounts share out (20 at a time, mounts in turn), how many of them the
 * runners' caches answered, and which mounts move when one runner stops.
 */
import { Cluster } from '../test/support/cluster.js';
import { OwnNatsServer } from '../test/support/nats-server.js';
import { call, registerAndMountMock } from './lib/cluster.js';

const RUNNERS = Number(process.argv[2] ?? 10);
const MOUNTS = Number(process.argv[3] ?? 40);
const READS = Number(process.argv[4] ?? 2000);

/** The sum of a metric's samples on one runner whose labels include `label`. */
async function sumOf(health: string, metric: string, label = ''): Promise<number> {
  const text = await (await fetch(`${health}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${metric}{`) && line.includes(label)) sum += Number(line.split(' ').pop());
  return sum;
}

const mountPath = (i: number) => `share-${i}`;

async function main(): Promise<void> {
  const nats = await OwnNatsServer.start();
  const cluster = await Cluster.create({ logLevel: 'info', natsUrl: nats.url });
  try {
    await cluster.start('catalog');
    await cluster.start('mount-manager');
    const runners: { name: string; health: string }[] = [];
    for (let i = 0; i < RUNNERS; i++) {
      const name = `plugin-runner-${i}`;
      runners.push({ name, health: await cluster.startWithHealthPort('plugin-runner', name) });
    }
    await cluster.start('gateway');
    const { rootToken } = await cluster.initAndUnseal();
    await registerAndMountMock(cluster, rootToken);
    for (let i = 0; i < MOUNTS; i++) {
      await call(cluster.url, rootToken, 'POST', `sys/mounts/${mountPath(i)}`, { type: 'plugin', plugin_name: 'mock-plugin' });
      await call(cluster.url, rootToken, 'PUT', `${mountPath(i)}/kv/foo`, { value: 'bar' });
    }
    // Presence is heard within a second of each runner's start; wait out three periods so every runner is in the ring.
    await new Promise((r) => setTimeout(r, 3_000));

    /** Which runner serves each mount now: the one whose call count moves while that mount alone is read. */
    const owners = async (live: typeof runners): Promise<string[]> => {
      const out: string[] = [];
      for (let i = 0; i < MOUNTS; i++) {
        const before = await Promise.all(live.map((r) => sumOf(r.health, 'coffer_plugin_calls_total')));
        for (let k = 0; k < 3; k++) await (await call(cluster.url, rootToken, 'GET', `${mountPath(i)}/kv/foo`)).arrayBuffer();
        const after = await Promise.all(live.map((r) => sumOf(r.health, 'coffer_plugin_calls_total')));
        const served = live.filter((_, j) => after[j]! > before[j]!);
        out.push(served.length === 1 ? served[0]!.name : `several (${served.map((s) => s.name).join(', ')})`);
      }
      return out;
    };
    const first = await owners(runners);
    const perRunner = runners.map((r) => first.filter((o) => o === r.name).length);

    const callsBefore = await Promise.all(runners.map((r) => sumOf(r.health, 'coffer_plugin_calls_total')));
    const cacheBefore = await Promise.all(runners.map((r) => sumOf(r.health, 'coffer_storage_reads_total', 'source="cache"')));
    const storeBefore = await Promise.all(runners.map((r) => sumOf(r.health, 'coffer_storage_reads_total', 'source="store"')));
    let sent = 0;
    const worker = async () => {
      while (sent < READS) {
        const i = sent++ % MOUNTS;
        await (await call(cluster.url, rootToken, 'GET', `${mountPath(i)}/kv/foo`)).arrayBuffer();
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: 20 }, worker));
    const seconds = (performance.now() - start) / 1000;
    const calls = (await Promise.all(runners.map((r) => sumOf(r.health, 'coffer_plugin_calls_total')))).map((a, i) => a - callsBefore[i]!);
    const cache = (await Promise.all(runners.map((r) => sumOf(r.health, 'coffer_storage_reads_total', 'source="cache"')))).reduce((a, v, i) => a + v - cacheBefore[i]!, 0);
    const store = (await Promise.all(runners.map((r) => sumOf(r.health, 'coffer_storage_reads_total', 'source="store"')))).reduce((a, v, i) => a + v - storeBefore[i]!, 0);
    const total = calls.reduce((a, b) => a + b, 0);

    console.log(`${RUNNERS} runners, ${MOUNTS} mounts; ${READS} kv reads (mounts in turn, 20 at a time) in ${seconds.toFixed(1)} s (${Math.round(READS / seconds)} req/s)`);
    console.log(`each mount served by one runner: ${first.every((o) => !o.startsWith('several')) ? 'yes' : `no: ${first.filter((o) => o.startsWith('several')).join('; ')}`}`);
    console.log(`mounts per runner: ${perRunner.join(', ')} (mean ${(MOUNTS / RUNNERS).toFixed(1)})`);
    console.log(`plugin calls per runner during the reads: ${calls.join(', ')} (${total} in all)`);
    console.log(`storage reads answered by the runners' caches: ${cache} of ${cache + store} (${((100 * cache) / Math.max(1, cache + store)).toFixed(1)}%)`);

    const leaving = runners[0]!;
    await cluster.kill(leaving.name, 'SIGTERM');
    const rest = runners.slice(1);
    const second = await owners(rest);
    let moved = 0;
    let movedFromOthers = 0;
    for (let i = 0; i < MOUNTS; i++) {
      if (first[i] === second[i]) continue;
      moved++;
      if (first[i] !== leaving.name) movedFromOthers++;
    }
    console.log(
      `${leaving.name} stopped: ${moved} of ${MOUNTS} mounts moved (it served ${perRunner[0]}; 1/N would be ${(MOUNTS / RUNNERS).toFixed(1)}), ` +
        `${movedFromOthers} of them from a runner that stayed`,
    );
  } finally {
    await cluster.stop();
    await nats.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
