/**
 * A demonstration, not a test: `node dist/bench/runners-share.js [runners] [requests]` (default 10 runners, 2,000
 * kv reads). The four services as processes on a nats-server of their own, with N plugin-runners, each with a health
 * port; then a fixed number of kv reads through the mock plugin (20 at a time), and each runner's
 * `coffer_plugin_calls_total` before and after, to show how the `coffer.plugin-runner` queue group shares requests
 * among runners (docs/performance.md, "Scale on paper").
 */
import { Cluster } from '../test/support/cluster.js';
import { OwnNatsServer } from '../test/support/nats-server.js';
import { BENCH_MOUNT, call, registerAndMountMock } from './lib/cluster.js';

const RUNNERS = Number(process.argv[2] ?? 10);
const REQUESTS = Number(process.argv[3] ?? 2000);

/** The sum of a counter's samples on one runner (every plugin and method). */
async function callsOf(health: string): Promise<number> {
  const text = await (await fetch(`${health}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith('coffer_plugin_calls_total{')) sum += Number(line.split(' ').pop());
  return sum;
}

async function main(): Promise<void> {
  const nats = await OwnNatsServer.start();
  const cluster = await Cluster.create({ logLevel: 'info', natsUrl: nats.url });
  try {
    await cluster.start('catalog');
    await cluster.start('mount-manager');
    const healths: string[] = [];
    for (let i = 0; i < RUNNERS; i++) healths.push(await cluster.startWithHealthPort('plugin-runner', `plugin-runner-${i}`));
    await cluster.start('gateway');
    const { rootToken } = await cluster.initAndUnseal();
    await registerAndMountMock(cluster, rootToken);

    const before = await Promise.all(healths.map(callsOf));
    let sent = 0;
    const worker = async () => {
      while (sent < REQUESTS) {
        sent++;
        await (await call(cluster.url, rootToken, 'GET', `${BENCH_MOUNT}/kv/foo`)).arrayBuffer();
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: 20 }, worker));
    const seconds = (performance.now() - start) / 1000;
    const after = await Promise.all(healths.map(callsOf));
    const calls = after.map((a, i) => a - before[i]!);
    const total = calls.reduce((a, b) => a + b, 0);
    const mean = total / RUNNERS;
    const sd = Math.sqrt(calls.reduce((a, c) => a + (c - mean) ** 2, 0) / RUNNERS);
    console.log(`${RUNNERS} runners, ${REQUESTS} kv reads in ${seconds.toFixed(1)} s (${Math.round(REQUESTS / seconds)} req/s), plugin calls per runner:`);
    console.log(calls.map((c, i) => `  plugin-runner-${i}: ${c} (${((100 * c) / total).toFixed(1)}%)`).join('\n'));
    console.log(`  mean ${mean.toFixed(0)}, min ${Math.min(...calls)}, max ${Math.max(...calls)}, sd ${sd.toFixed(1)} (${((100 * sd) / mean).toFixed(1)}% of the mean; a fair coin per request would give ~${((100 * Math.sqrt(mean * (1 - 1 / RUNNERS))) / mean).toFixed(1)}%)`);
  } finally {
    await cluster.stop();
    await nats.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
