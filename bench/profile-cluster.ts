/**
 * Not a benchmark: `node dist/bench/profile-cluster.js DIR [seconds] [path] [read|write]` starts the four services as
 * processes with `--cpu-prof` (profiles land in DIR when they stop), mounts the mock plugin, and puts the kv read (or
 * write) load on the gateway, so `node --cpu-prof` figures of each service can be read after a bench shows a figure
 * missed.
 */
import { BENCH_MOUNT, startBenchCluster } from './lib/cluster.js';
import { measureLoad, type LoadTarget } from './lib/load.js';

const [dir = '/tmp/coffer-profiles', seconds = '8', path = `${BENCH_MOUNT}/kv/foo`, kind = 'read'] = process.argv.slice(2);
const { cluster, rootToken, stop } = await startBenchCluster(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
try {
  const target: LoadTarget =
    kind === 'write'
      ? { url: `${cluster.url}/v1/${path}`, method: 'PUT' as const, headers: { 'x-vault-token': rootToken, 'content-type': 'application/json' }, body: '{"value":"bar"}' }
      : { url: `${cluster.url}/v1/${path}`, headers: { 'x-vault-token': rootToken } };
  const figures = await measureLoad(target, { connections: 50, seconds: Number(seconds), warmupSeconds: 1 });
  process.stdout.write(`${JSON.stringify(figures)}\n`);
} finally {
  await stop();
}
