import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './support/cluster.js';
import { eventually } from './support/http.js';

/**
 * Unseal progress is one story across gateways (issue 15): shares may go to different gateways (a round-robin load
 * balancer), every gateway reports the same progress, and a seal or unseal anywhere leaves no stale share behind.
 */
describe('unseal progress across two gateways', () => {
  let cluster: Cluster;
  let A: string;
  let B: string;
  let keys: string[] = [];
  let rootToken = '';
  const put = (base: string, path: string, body: unknown, token?: string) =>
    fetch(`${base}/v1/${path}`, { method: 'PUT', body: JSON.stringify(body), headers: token ? { 'x-vault-token': token } : {} });
  const status = async (base: string) => (await (await fetch(`${base}/v1/sys/seal-status`)).json()) as { sealed: boolean; progress: number; nonce: string };

  before(async () => {
    cluster = await Cluster.create({ logLevel: 'info' });
    await cluster.startAll();
    await cluster.start('gateway', 'gateway-b');
    A = cluster.urlOf('gateway');
    B = cluster.urlOf('gateway-b');
    const init = await put(A, 'sys/init', { secret_shares: 3, secret_threshold: 2 });
    ({ keys_base64: keys, root_token: rootToken } = (await init.json()) as { keys_base64: string[]; root_token: string });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('a share given to one gateway counts on the other, and the other completes the unseal', async () => {
    const first = (await (await put(A, 'sys/unseal', { key: keys[0] })).json()) as { progress: number; nonce: string };
    assert.equal(first.progress, 1);
    await eventually(async () => {
      const b = await status(B);
      assert.equal(b.progress, 1);
      assert.equal(b.nonce, first.nonce, 'one attempt, one nonce');
    });
    const second = (await (await put(B, 'sys/unseal', { key: keys[1] })).json()) as { sealed: boolean };
    assert.equal(second.sealed, false);
    await eventually(async () => assert.deepEqual(await status(A).then((s) => [s.sealed, s.progress]), [false, 0]));
  });

  it('after a seal, no share given before counts: the next unseal needs the full threshold again', async () => {
    // A share given to A while... nothing: the cluster is unsealed, so it is not progress (Vault ignores it too).
    assert.equal((await put(A, 'sys/seal', {}, rootToken)).status, 204);
    await eventually(async () => {
      for (const g of [A, B]) assert.deepEqual(await status(g).then((s) => [s.sealed, s.progress]), [true, 0]);
    });
    const one = (await (await put(A, 'sys/unseal', { key: keys[2] })).json()) as { sealed: boolean; progress: number };
    assert.deepEqual([one.sealed, one.progress], [true, 1], 'one share is not enough');
    await eventually(async () => assert.equal((await status(B)).progress, 1));
  });

  it('a reset on one gateway empties every gateway\'s progress', async () => {
    const reset = (await (await put(B, 'sys/unseal', { reset: true })).json()) as { progress: number };
    assert.equal(reset.progress, 0);
    await eventually(async () => assert.equal((await status(A)).progress, 0));
    // And the unseal still works, shares split across the gateways.
    await put(B, 'sys/unseal', { key: keys[0] });
    await eventually(async () => assert.equal((await status(A)).progress, 1));
    const done = (await (await put(A, 'sys/unseal', { key: keys[2] })).json()) as { sealed: boolean };
    assert.equal(done.sealed, false);
  });
});
