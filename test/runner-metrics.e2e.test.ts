import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './support/cluster.js';
import { eventually } from './support/http.js';
import { REPO_ROOT } from './support/paths.js';

/** One sample of a metric with the given labels (in any order, among others), as a number; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const has = Object.entries(labels).every(([k, v]) => m[2]!.split(',').includes(`${k}="${v}"`));
    if (has) return Number(m[3]);
  }
  return undefined;
}

/**
 * A plugin-runner's own metrics on its health port (issue 15, "observability": plugin launches, crashes, timeouts
 * and pool sizes), against a real runner process and a real plugin process that is made to crash.
 */
describe('a plugin-runner tells its health port what its plugins do', () => {
  let cluster: Cluster;
  let root: Record<string, string>;
  let health = '';
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${cluster.url}/v1/${path}`, { method, headers: root, body: body === undefined ? undefined : JSON.stringify(body) });
  const metrics = async () => {
    const r = await fetch(`${health}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    return r.text();
  };

  before(async () => {
    cluster = await Cluster.create({ logLevel: 'info' });
    await cluster.start('catalog');
    await cluster.start('mount-manager');
    health = await cluster.startWithHealthPort('plugin-runner');
    await cluster.start('gateway');
    root = { 'x-vault-token': (await cluster.initAndUnseal()).rootToken };
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(cluster.dir, 'mock'));
    chmodSync(join(cluster.dir, 'mock'), 0o755);
    const sha = createHash('sha256').update(readFileSync(join(cluster.dir, 'mock'))).digest('hex');
    assert.equal((await call('PUT', 'sys/plugins/catalog/secret/mock', { sha_256: sha, command: 'mock' })).status, 204);
    assert.equal((await call('POST', 'sys/mounts/m', { type: 'mock' })).status, 204);
  });
  after(async () => {
    await cluster?.stop();
  });

  it('counts a launch and shows the process in the pool', async () => {
    assert.equal((await call('PUT', 'm/kv/a', { value: 'secret-value' })).status, 200);
    const text = await metrics();
    assert.ok((sample(text, 'coffer_plugin_launches_total', { plugin: 'mock', outcome: 'started' }) ?? 0) >= 1, text);
    assert.equal(sample(text, 'coffer_plugin_processes', { plugin: 'mock', service: 'plugin-runner' }), 1, text);
    assert.equal(sample(text, 'coffer_plugin_crashes_total', { plugin: 'mock' }) ?? 0, 0);
    assert.doesNotMatch(text, /secret-value|kv\/a/, 'no request data and no path in the metrics');
  });

  it('counts a crash; the pool is empty until the next call launches again', async () => {
    const before = sample(await metrics(), 'coffer_plugin_launches_total', { plugin: 'mock', outcome: 'started' }) ?? 0;
    assert.equal((await call('GET', 'm/errors/rpc')).status, 500);
    await eventually(async () => {
      const text = await metrics();
      assert.equal(sample(text, 'coffer_plugin_crashes_total', { plugin: 'mock' }), 1, text);
      assert.equal(sample(text, 'coffer_plugin_processes', { plugin: 'mock' }) ?? 0, 0, text);
    });
    assert.equal((await call('GET', 'm/kv/a')).status, 200);
    const text = await metrics();
    assert.equal(sample(text, 'coffer_plugin_launches_total', { plugin: 'mock', outcome: 'started' }), before + 1, text);
    assert.equal(sample(text, 'coffer_plugin_processes', { plugin: 'mock' }), 1, text);
  });
});
