/**
 * Not a benchmark: `node dist/bench/profile-cluster.js DIR [seconds] [path]` starts the four services as processes
 * with `--cpu-prof` (profiles land in DIR when they stop), mounts the mock plugin, and puts the kv read load on the
 * gateway, so `node --cpu-prof` figures of each service can be read after a bench shows a figure missed.
 */
import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Cluster } from '../test/support/cluster.js';
import { OwnNatsServer } from '../test/support/nats-server.js';
import { REPO_ROOT } from '../test/support/paths.js';
import { measureLoad } from './lib/load.js';

const [dir = '/tmp/coffer-profiles', seconds = '8', path = 'bench-kv/kv/foo'] = process.argv.slice(2);
const nats = await OwnNatsServer.start();
const cluster = await Cluster.create({ logLevel: 'info', natsUrl: nats.url, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
try {
  await cluster.startAll();
  const { rootToken } = await cluster.initAndUnseal();
  const plugin = join(cluster.dir, 'mock-plugin');
  copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), plugin);
  chmodSync(plugin, 0o755);
  const sha256 = createHash('sha256').update(readFileSync(plugin)).digest('hex');
  const call = (method: string, p: string, body: unknown) =>
    fetch(`${cluster.url}/v1/${p}`, { method, headers: { 'x-vault-token': rootToken }, body: JSON.stringify(body) });
  await call('PUT', 'sys/plugins/catalog/secret/mock-plugin', { sha256, command: 'mock-plugin' });
  await call('POST', 'sys/mounts/bench-kv', { type: 'plugin', plugin_name: 'mock-plugin' });
  await call('PUT', 'bench-kv/kv/foo', { value: 'bar' });
  const figures = await measureLoad({ url: `${cluster.url}/v1/${path}`, headers: { 'x-vault-token': rootToken } }, { connections: 50, seconds: Number(seconds), warmupSeconds: 1 });
  process.stdout.write(`${JSON.stringify(figures)}\n`);
} finally {
  await cluster.stop();
  await nats.stop();
}
