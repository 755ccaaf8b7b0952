import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './support/cluster.js';
import { eventually } from './support/http.js';
import { OwnNatsServer } from './support/nats-server.js';

/** nats-server dies and comes back under running services: they reconnect by themselves and answer again. */
describe('a NATS restart under the running services', () => {
  let nats: OwnNatsServer;
  let cluster: Cluster;

  before(async () => {
    nats = await OwnNatsServer.start();
    cluster = await Cluster.create({ natsUrl: nats.url });
    await cluster.startAll();
    await cluster.initAndUnseal();
  });

  after(async () => {
    await cluster?.stop();
    await nats?.stop();
  });

  it('answers again after nats-server restarts, with the same processes', async () => {
    assert.equal((await cluster.fetch('/v1/sys/health')).status, 200);
    const pids = ['gateway', 'catalog', 'mount-manager', 'plugin-runner'].map((n) => cluster.pid(n));

    await nats.stop();
    const during = await cluster.fetch('/v1/sys/health');
    assert.equal(during.status, 503, 'without the bus the gateway cannot vouch for the services');
    assert.ok(Array.isArray((await during.json()).errors));

    await nats.restart();
    await eventually(async () => assert.equal((await cluster.fetch('/v1/sys/health')).status, 200), 30_000);
    assert.deepEqual(['gateway', 'catalog', 'mount-manager', 'plugin-runner'].map((n) => cluster.pid(n)), pids, 'no process was restarted');
    for (const name of ['gateway', 'catalog']) assert.match(cluster.logOf(name), /reconnected to NATS/);
  });
});
