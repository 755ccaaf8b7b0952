/**
 * Not a benchmark: `node dist/bench/profile-cluster.js DIR [seconds] [path]` starts the four services as processes
 * with `--cpu-prof` (profiles land in DIR when they stop), mounts the mock plugin, and puts the kv read load on the
 * gateway, so `node --cpu-prof` figures of each service can be read after a bench shows a figure missed.
 */
import { BENCH_MOUNT, startBenchCluster } from './lib/cluster.js';
import { measureLoad } from './lib/load.js';

const [dir = '/tmp/coffer-profiles', seconds = '8', path = `${BENCH_MOUNT}/kv/foo`] = process.argv.slice(2);
const { cluster, rootToken, stop } = await startBenchCluster(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
try {
  const figures = await measureLoad({ url: `${cluster.url}/v1/${path}`, headers: { 'x-vault-token': rootToken } }, { connections: 50, seconds: Number(seconds), warmupSeconds: 1 });
  process.stdout.write(`${JSON.stringify(figures)}\n`);
} finally {
  await stop();
}
