import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { Svcm, type ServiceIdentity } from '@nats-io/services';
import { serviceApiName } from '#contracts';
import { Cluster, TEST_NATS_URL } from './support/cluster.js';
import { eventually } from './support/http.js';
import { parsePrometheus, samples } from './support/prometheus.js';

/** One sample line of the Prometheus text format: name, optional labels, value (and optional timestamp). */
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)( -?\d+)?$/;

/** sys/health, sys/metrics, sys/leader and sys/host-info against processes (issue 15, "observability"). */
describe('what an operator can observe', () => {
  let cluster: Cluster;
  let root: Record<string, string>;
  let health = '';
  let readyBeforeUnseal = 0;
  before(async () => {
    cluster = await Cluster.create({ logLevel: 'info' });
    // No plugin-runner on purpose: a missing service type is not "sealed". The catalog gets a health port, the
    // gateway an access log (the processes inherit this environment when started).
    health = await cluster.startWithHealthPort('catalog');
    await cluster.start('mount-manager');
    process.env.COFFER_ACCESS_LOG = '1';
    await cluster.start('gateway');
    delete process.env.COFFER_ACCESS_LOG;
    readyBeforeUnseal = (await fetch(`${health}/health/ready`)).status;
    root = { 'x-vault-token': (await cluster.initAndUnseal()).rootToken };
  });
  after(async () => {
    await cluster?.stop();
  });

  it('sys/health is 200 while unsealed even with no plugin-runner running', async () => {
    const r = await cluster.fetch('/v1/sys/health');
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(((await r.json()) as { sealed: boolean }).sealed, false);
  });

  it('sys/metrics?format=prometheus parses as Prometheus text and counts requests by operation, mount type, status', async () => {
    await cluster.fetch('/v1/sys/mounts', { headers: root });
    await cluster.fetch('/v1/nowhere/x', { headers: root });
    const r = await cluster.fetch('/v1/sys/metrics?format=prometheus', { headers: root });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await r.text();
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
      assert.match(line, SAMPLE, `not a Prometheus sample line: ${line}`);
    }
    parsePrometheus(text);
    assert.match(text, /^coffer_requests_total\{[^}]*operation="read"[^}]*mount_type="system"[^}]*status="200"[^}]*\} [1-9]/m);
    assert.match(text, /^coffer_request_duration_seconds_bucket\{/m);
    assert.match(text, /^coffer_sealed\{[^}]*\} 0$/m);
    assert.doesNotMatch(text, /nowhere/, 'no path in a label');
  });

  it('sys/metrics covers bus request latency, token and lease counts and seal state, parsed as Prometheus text', async () => {
    const scrape = async () => {
      const r = await cluster.fetch('/v1/sys/metrics?format=prometheus', { headers: root });
      assert.equal(r.status, 200);
      return parsePrometheus(await r.text());
    };
    await cluster.fetch('/v1/sys/health');
    const before = await scrape();
    const bus = before.get('coffer_bus_request_duration_seconds');
    assert.equal(bus?.type, 'histogram');
    const counted = samples(before, 'coffer_bus_request_duration_seconds_count');
    assert.ok(counted.length > 0, 'the gateway has made bus requests (sys/health asks each service)');
    for (const s of counted) {
      assert.match(s.labels.subject!, /^[a-z-]+\.[a-z-]+$/, 'the subject kind is <service>.<verb>, nothing more');
      assert.ok(['ok', 'error', 'unavailable'].includes(s.labels.outcome!), s.labels.outcome);
    }
    assert.ok(samples(before, 'coffer_bus_request_duration_seconds_count', { subject: 'catalog.status', outcome: 'ok' })[0]!.value >= 1);
    assert.deepEqual(samples(before, 'coffer_sealed').map((s) => [s.labels.service, s.value]), [['gateway', 0]]);
    assert.equal(before.get('coffer_tokens')?.type, 'gauge');
    const tokens = samples(before, 'coffer_tokens')[0]!.value;
    assert.ok(tokens >= 1, 'the root token at least');
    assert.deepEqual(samples(before, 'coffer_leases').map((s) => [s.labels.state, s.value]).sort(), [['active', 0], ['expired', 0]]);

    const created = await cluster.fetch('/v1/auth/token/create', { method: 'POST', headers: root, body: JSON.stringify({ ttl: '1h' }) });
    assert.equal(created.status, 200);
    await cluster.fetch('/v1/sys/health');
    const after = await scrape();
    assert.equal(samples(after, 'coffer_tokens')[0]!.value, tokens + 1, 'a new token is counted');
    const statusCount = (f: typeof before) => samples(f, 'coffer_bus_request_duration_seconds_count', { subject: 'catalog.status' }).reduce((n, s) => n + s.value, 0);
    assert.ok(statusCount(after) > statusCount(before), 'the next sys/health asked the catalog again, and that was timed');
  });

  it('sys/metrics answers JSON by default, and needs a token', async () => {
    const r = await cluster.fetch('/v1/sys/metrics', { headers: root });
    assert.equal(r.status, 200);
    const body = (await r.json()) as { name: string }[];
    assert.ok(body.some((m) => m.name === 'coffer_requests_total'));
    assert.equal((await cluster.fetch('/v1/sys/metrics')).status, 403);
  });

  it('sys/leader answers as a Vault without HA; sys/host-info describes the host', async () => {
    const leader = (await (await cluster.fetch('/v1/sys/leader')).json()) as { ha_enabled: boolean };
    assert.equal(leader.ha_enabled, false);
    const host = (await (await cluster.fetch('/v1/sys/host-info', { headers: root })).json()) as { data: { host: { hostname: string }; memory: { total: number } } };
    assert.ok(host.data.host.hostname.length > 0);
    assert.ok(host.data.memory.total > 0);
  });

  it('sys/instances lists every running instance with its state, and the service types with none', async () => {
    assert.equal((await cluster.fetch('/v1/sys/instances')).status, 403);
    const r = await cluster.fetch('/v1/sys/instances', { headers: root });
    assert.equal(r.status, 200, await r.clone().text());
    const { data } = (await r.json()) as { data: { instances: { service: string; pid: number; state: string; instance: string }[]; missing_services: string[] } };
    for (const name of ['catalog', 'mount-manager', 'gateway']) {
      const mine = data.instances.filter((i) => i.service === name);
      assert.equal(mine.length, 1, `one ${name}: ${JSON.stringify(data.instances)}`);
      assert.equal(mine[0]!.pid, cluster.pid(name), `${name}'s own pid`);
      assert.equal(mine[0]!.state, 'unsealed');
      assert.match(mine[0]!.instance, new RegExp(`^${name}-`));
    }
    assert.deepEqual(data.missing_services, ['plugin-runner']);
  });

  it("NATS's service API: each running service type answers PING, INFO and STATS under its namespaced name", async () => {
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const client = new Svcm(nc).client({ strategy: 'timer', maxWait: 3_000 });
      const gather = async <T>(ask: Promise<AsyncIterable<T>>) => {
        const out: T[] = [];
        for await (const a of await ask) out.push(a);
        return out;
      };
      for (const service of ['catalog', 'mount-manager', 'gateway'] as const) {
        const name = serviceApiName(service, cluster.databaseName);
        assert.equal(name, `coffer-${cluster.databaseName}-${service}`);
        const pongs = await eventually(async () => {
          const p = await gather<ServiceIdentity>(client.ping(name));
          assert.equal(p.length, 1, `${service}: ${JSON.stringify(p)}`);
          return p;
        });
        assert.equal(pongs[0]!.metadata?.pid, String(cluster.pid(service)), `${service}'s own process`);
        assert.equal(pongs[0]!.metadata?.namespace, cluster.databaseName);
        const [info] = await gather<any>(client.info(name, pongs[0]!.id));
        assert.equal(info.endpoints[0].subject, `coffer.${cluster.databaseName}.${service}.health`);
        const [stats] = await gather<any>(client.stats(name, pongs[0]!.id));
        assert.deepEqual([stats.endpoints[0].data.ready, stats.endpoints[0].data.sealed], [true, false]);
      }
      // None runs: NATS itself says nobody listens.
      await assert.rejects(gather(client.ping(serviceApiName('plugin-runner', cluster.databaseName))), /no responders/i);
    } finally {
      await nc.close();
    }
  });

  it('a service\'s health port: live at once, ready only once unsealed', async () => {
    assert.equal(readyBeforeUnseal, 503);
    assert.equal((await fetch(`${health}/health/live`)).status, 200);
    await eventually(async () => assert.equal((await fetch(`${health}/health/ready`)).status, 200));
  });

  it('the access log has one line per request, with no token and no query', async () => {
    await cluster.fetch('/v1/sys/mounts?secret=hunter2', { headers: root });
    await eventually(async () => {
      const lines = cluster
        .logOf('gateway')
        .split('\n')
        .filter((l) => l.includes('"component":"access"'));
      assert.ok(lines.some((l) => l.includes('"path":"/v1/sys/mounts"') && l.includes('"status":200')), lines.join('\n'));
      for (const l of lines) {
        assert.doesNotMatch(l, /hunter2/);
        assert.ok(!l.includes(root['x-vault-token']!), 'no token');
        assert.equal(l.match(/"msg":/g)?.length, 1, 'one msg');
      }
    });
  });
});
