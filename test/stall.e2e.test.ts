import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './support/cluster.js';
import { REPO_ROOT } from './support/paths.js';

/**
 * No call waits out the plugin-call timeout because its runner stopped answering (issue 15, "no 60 s stalls"): one
 * of two runners is frozen (SIGSTOP: its NATS connection stays open, so NATS keeps handing it requests, the worst
 * case) while a client reads and writes. Reads are retried on the other runner; a write is answered, or refused
 * with a 503 that says it may still be applied.
 */
describe('a frozen runner costs its callers seconds, not the call timeout', () => {
  let cluster: Cluster;
  let root: Record<string, string>;
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${cluster.url}/v1/${path}`, { method, headers: root, body: body === undefined ? undefined : JSON.stringify(body) });

  before(async () => {
    cluster = await Cluster.create({ logLevel: 'info' });
    await cluster.startAll();
    await cluster.start('plugin-runner', 'plugin-runner-2');
    const init = await cluster.initAndUnseal();
    root = { 'x-vault-token': init.rootToken };
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(cluster.dir, 'mock'));
    chmodSync(join(cluster.dir, 'mock'), 0o755);
    const sha = createHash('sha256').update(readFileSync(join(cluster.dir, 'mock'))).digest('hex');
    assert.equal((await call('PUT', 'sys/plugins/catalog/secret/mock', { sha_256: sha, command: 'mock' })).status, 204);
    assert.equal((await call('POST', 'sys/mounts/m', { type: 'mock' })).status, 204);
    // Both runners have launched the plugin, so what follows measures the freeze, not a cold start.
    for (let i = 0; i < 6; i++) assert.equal((await call('PUT', `m/kv/warm${i}`, { value: 'w' })).status, 200);
  });
  after(async () => {
    const pid = cluster?.pid('plugin-runner-2');
    if (pid) process.kill(pid, 'SIGCONT');
    await cluster?.stop();
  });

  it('reads succeed and writes answer or fail as "may still be applied", none waiting out the timeout', async () => {
    assert.equal((await call('PUT', 'm/kv/stable', { value: 'before' })).status, 200);
    process.kill(cluster.pid('plugin-runner-2')!, 'SIGSTOP');
    let longest = 0;
    const failures: string[] = [];
    let reads = 0;
    for (let i = 0; i < 8; i++) {
      let t = Date.now();
      const read = await call('GET', 'm/kv/stable');
      longest = Math.max(longest, Date.now() - t);
      // NATS picks a queue member at random, so even three attempts can all land on the frozen runner.
      if (read.status === 200) reads++;
      else {
        assert.equal(read.status, 503);
        assert.deepEqual(await read.json(), { errors: ['no plugin-runner answered the request in time'] });
      }
      t = Date.now();
      const write = await call('PUT', `m/kv/w${i}`, { value: String(i) });
      longest = Math.max(longest, Date.now() - t);
      if (write.status !== 200) {
        assert.equal(write.status, 503);
        const { errors } = (await write.json()) as { errors: string[] };
        assert.match(errors[0]!, /^(no plugin-runner acknowledged the write in time; it may still be applied|the plugin-runner handling the write was lost; it may or may not have been applied|no plugin-runner answered the existence check; the write was not applied)$/);
        failures.push(errors[0]!);
      }
    }
    assert.ok(reads >= 4, `most reads find the live runner on a retry (${reads} of 8)`);
    process.stdout.write(`# frozen runner: ${reads} of 8 reads ok, ${failures.length} of 8 writes refused, longest call ${longest} ms\n`);
    // The call timeout is 35 s at the gateway (30 s at the runner plus a margin): a stall would show far above this.
    assert.ok(longest < 20_000, `longest call took ${longest} ms`);
  });
});
