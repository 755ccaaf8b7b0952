import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Cluster } from '../../test/support/cluster.js';
import { OwnNatsServer } from '../../test/support/nats-server.js';
import { REPO_ROOT } from '../../test/support/paths.js';

/** The mount every load figure reads and writes: the mock plugin's `kv/foo`. */
export const BENCH_MOUNT = 'bench-kv';

export async function call(url: string, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  const r = await fetch(`${url}/v1/${path}`, { method, headers: { 'x-vault-token': token }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r;
}

/** Enables the (registered) mock plugin at BENCH_MOUNT and writes the entry the load reads. */
export async function mountMock(url: string, token: string, plugin = 'mock-plugin'): Promise<void> {
  await call(url, token, 'POST', `sys/mounts/${BENCH_MOUNT}`, { type: 'plugin', plugin_name: plugin });
  await call(url, token, 'PUT', `${BENCH_MOUNT}/kv/foo`, { value: 'bar' });
}

/**
 * The KV version 2 mount the KV v2 figures read and write (`<mount>/data/foo`): the dev server's own `secret/`, and on
 * the bench cluster the builtin kv enabled there with version 2 by `mountKv2`, as `vault secrets enable -version=2`.
 */
export const KV2_MOUNT = 'secret';

/** Enables the builtin kv with version 2 at KV2_MOUNT (a server that has none: the cluster). */
export async function mountKv2(url: string, token: string): Promise<void> {
  await call(url, token, 'POST', `sys/mounts/${KV2_MOUNT}`, { type: 'kv', options: { version: '2' } });
}

/** Writes the secret the KV v2 read load reads (version 1 of `foo`). */
export async function seedKv2(url: string, token: string): Promise<void> {
  await call(url, token, 'PUT', `${KV2_MOUNT}/data/foo`, { data: { value: 'bar' } });
}

/** Copies the built mock plugin into the cluster's plugin directory, registers it by SHA-256 and mounts it at BENCH_MOUNT. */
export async function registerAndMountMock(cluster: Cluster, rootToken: string): Promise<void> {
  const plugin = join(cluster.dir, 'mock-plugin');
  copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), plugin);
  chmodSync(plugin, 0o755);
  const sha256 = createHash('sha256').update(readFileSync(plugin)).digest('hex');
  await call(cluster.url, rootToken, 'PUT', 'sys/plugins/catalog/secret/mock-plugin', { sha256, command: 'mock-plugin' });
  await mountMock(cluster.url, rootToken);
}

export interface BenchCluster {
  cluster: Cluster;
  rootToken: string;
  /** The bench's own nats-server. */
  natsPid: number;
  stop(): Promise<void>;
}

/**
 * The four services as processes, initialized and unsealed, with the mock plugin copied into the plugin directory,
 * registered by its SHA-256 and mounted, as an operator would. On a nats-server of its own: nobody else's traffic
 * (a test run, another cluster) shares its subjects.
 */
export async function startBenchCluster(nodeArgs: string[] = []): Promise<BenchCluster> {
  const nats = await OwnNatsServer.start();
  const cluster = await Cluster.create({ logLevel: 'info', natsUrl: nats.url, nodeArgs });
  const stop = async () => {
    await cluster.stop();
    await nats.stop();
  };
  try {
    await cluster.startAll();
    const { rootToken } = await cluster.initAndUnseal();
    await registerAndMountMock(cluster, rootToken);
    return { cluster, rootToken, natsPid: nats.pid!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
