/**
 * Not a benchmark: `node dist/bench/cpu-per-request.js [write|read|kv2-write|kv2-read] [requests] [concurrency] [versions]`
 * starts the four services as processes (bench/lib/cluster.ts), sends a fixed number of kv requests to the mock plugin
 * (or, `kv2-`, KV version 2 requests to the builtin kv at `secret/data/foo`, written `[versions]` times first), and prints
 * the CPU time each process spent per request (user + system, from /proc/<pid>/stat), the plugin process included.
 * CPU per request barely moves with the machine's load, where throughput on a shared machine moves by 2x; it is the
 * steadier witness of what a change to the request path costs or saves. Also counted: the bench's own nats-server,
 * every `postgres` process of the machine (backends and the server's own; on a shared machine others' queries
 * count too, so read that figure on a quiet one) and this process as the client (fetch, not autocannon).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { BENCH_MOUNT, KV2_MOUNT, mountKv2, seedKv2, startBenchCluster } from './lib/cluster.js';
import { cpuMsOf, descendants } from './lib/load.js';

const [kind = 'write', requestsArg = '3000', concurrencyArg = '20', versionsArg = '1'] = process.argv.slice(2);
/** `kv2-`: how many versions the secret has before the measured requests (the bench's load leaves it at the default 10). */
const VERSIONS = Number(versionsArg);
const REQUESTS = Number(requestsArg);
const CONCURRENCY = Number(concurrencyArg);
function cpuUsageMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Every process whose command name is `postgres`: the server, its helpers and one backend per connection. */
function postgresPids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
    } catch {
      return false;
    }
  });
}

const { cluster, rootToken, natsPid, stop } = await startBenchCluster();
try {
  const kv2 = kind.startsWith('kv2-');
  if (kv2) {
    await mountKv2(cluster.url, rootToken);
    for (let v = 0; v < VERSIONS; v++) await seedKv2(cluster.url, rootToken);
  }
  const url = kv2 ? `${cluster.url}/v1/${KV2_MOUNT}/data/foo` : `${cluster.url}/v1/${BENCH_MOUNT}/kv/foo`;
  const body = kv2 ? '{"data":{"value":"bar"}}' : '{"value":"bar"}';
  const send = () =>
    fetch(url, kind.endsWith('write')
      ? { method: 'PUT', headers: { 'x-vault-token': rootToken, 'content-type': 'application/json' }, body }
      : { headers: { 'x-vault-token': rootToken } }).then(async (r) => {
      await r.arrayBuffer();
      if (r.status >= 400) throw new Error(`${kind}: ${r.status}`);
    });
  const run = async (n: number) => {
    let left = n;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) await send();
    }));
  };
  await run(300); // warm-up: the plugin is launched, the JIT settles
  const sum = (pids: number[]) => pids.reduce((ms, p) => ms + cpuMsOf(p), 0);
  // The plugin process may sit under the sandbox's wrappers (prlimit, bwrap): every descendant of the runner counts.
  const plugins = descendants(cluster.pid('plugin-runner')!);
  /** CPU ms so far, per process or group of processes reported. */
  const readers: Record<string, () => number> = {};
  for (const s of ['gateway', 'plugin-runner', 'catalog', 'mount-manager']) readers[s] = () => cpuMsOf(cluster.pid(s)!);
  readers.plugin = () => sum(plugins);
  readers['nats-server'] = () => cpuMsOf(natsPid);
  // A backend that exits during the run takes its CPU time with it: the pools keep theirs open.
  readers.postgres = () => sum(postgresPids());
  readers.client = cpuUsageMs;
  const before = Object.fromEntries(Object.entries(readers).map(([k, read]) => [k, read()]));
  const started = Date.now();
  await run(REQUESTS);
  const elapsed = Date.now() - started;
  const perRequest = Object.fromEntries(Object.entries(readers).map(([k, read]) => [k, Math.round(((read() - before[k]!) * 1000) / REQUESTS)]));
  process.stdout.write(`${JSON.stringify({ kind, requests: REQUESTS, concurrency: CONCURRENCY, reqPerSec: Math.round((REQUESTS * 1000) / elapsed), cpuMicrosPerRequest: perRequest })}\n`);
} finally {
  await stop();
}
