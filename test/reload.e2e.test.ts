import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './support/cluster.js';
import { eventually } from './support/http.js';

/**
 * SIGHUP applies what the docs call reloadable, in every service that uses it (issue 15, "reload means reload"):
 * raise max_lease_ttl, signal every process, and the next token gets the new cap with no restart.
 */
describe('SIGHUP reloads the lease TTLs everywhere', () => {
  let cluster: Cluster;
  let rootToken = '';
  const ttls = (max: string) => `default_lease_ttl = "1h"\nmax_lease_ttl = "${max}"\n`;

  const createToken = async (ttl: string): Promise<number> => {
    const r = await cluster.fetch('/v1/auth/token/create', {
      method: 'POST',
      headers: { 'x-vault-token': rootToken },
      body: JSON.stringify({ ttl, policies: ['default'] }),
    });
    assert.equal(r.status, 200, await r.clone().text());
    return ((await r.json()) as { auth: { lease_duration: number } }).auth.lease_duration;
  };

  before(async () => {
    cluster = await Cluster.create({ extraConfig: ttls('2h') });
    await cluster.startAll();
    ({ rootToken } = await cluster.initAndUnseal());
  });
  after(async () => {
    await cluster?.stop();
  });

  it('caps a token at the old max, then at the new one after SIGHUP; a restart-only key is logged as such', async () => {
    assert.equal(await createToken('5h'), 2 * 3600);
    cluster.writeConfig(`${ttls('10h')}services = ["gateway"]\n`);
    for (const { name } of cluster.running()) process.kill(cluster.pid(name)!, 'SIGHUP');
    for (const { name } of cluster.running()) {
      await eventually(async () => {
        const log = cluster.logOf(name);
        assert.match(log, /"reloaded":\["max_lease_ttl"\]/, `${name} reloaded`);
        // The restart-only key is named, not hidden by redaction.
        assert.match(log, /"keys":\["services"\].*needs a restart: services/);
      });
    }
    assert.equal(await createToken('5h'), 5 * 3600);
  });
});
