import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { Svcm, type ServiceClient, type ServiceIdentity } from '@nats-io/services';
import { SERVICE_NAMES, serviceApiName } from '#contracts';
import { ComposeEmulation, type Instance } from './support/compose-emulation.js';
import { eventually } from './support/http.js';
import { REPO_ROOT } from './support/paths.js';
import { makeTestPki } from './support/tls.js';

/**
 * Issue 15, "a compose file that works": docker-compose.yml itself, run without a Docker engine. Every service's
 * command and environment from the file become processes here (test/support/compose-emulation.ts says what a
 * container would have given and how it is emulated), the Coffer services two of each, and the first start of
 * docs/operations.md ("Compose: init and unseal") is followed: .env, bus-config as the file's header runs it, a TLS
 * pair, init, unseal through both gateways, a plugin registered by hash and mounted, a write and a read. Every
 * healthcheck the file declares is run as its container would run it.
 */
describe('docker-compose.yml, emulated as processes', () => {
  const work = mkdtempSync(join(tmpdir(), 'coffer-compose-'));
  const project = join(work, 'project');
  let compose: ComposeEmulation;
  let ca: Buffer;
  let rootToken = '';
  const healthyBeforeInit = new Map<string, boolean>();

  /** The host port a gateway instance's 8200 is published at, as compose gives each replica one of 8200-8209. */
  const gatewayUrl = (i: Instance) => `https://127.0.0.1:${compose.port(i, 8200)}`;
  const gateways = () => compose.of('gateway');

  function call(gateway: Instance, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const url = new URL(`${gatewayUrl(gateway)}/v1/${path}`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        { host: url.hostname, port: url.port, path: url.pathname + url.search, method, ca, headers: { ...(rootToken && { 'x-vault-token': rootToken }) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  before(async () => {
    // The project folder an operator would have: the compose file and deploy/config.d from the repository.
    mkdirSync(project);
    copyFileSync(join(REPO_ROOT, 'docker-compose.yml'), join(project, 'docker-compose.yml'));
    cpSync(join(REPO_ROOT, 'deploy/config.d'), join(project, 'deploy/config.d'), { recursive: true });
    const header = readFileSync(join(project, 'docker-compose.yml'), 'utf8');

    // Step 1: the password in .env, made as the header says (`openssl rand -hex 24`).
    assert.match(header, /COFFER_POSTGRES_PASSWORD=\$\(openssl rand -hex 24\)/);
    writeFileSync(join(project, '.env'), `COFFER_POSTGRES_PASSWORD=${randomBytes(24).toString('hex')}\n`);

    // The bus files, with the header's own bus-config command. Its certificate names `nats`; the emulation reaches
    // nats at 127.0.0.1, so that address is added to -hosts, and localhost, the name nats.js checks a loopback IP's
    // certificate against (a container would resolve `nats` instead).
    const line = /^#\s+node bin\/coffer\.js (operator bus-config .*)$/m.exec(header);
    assert.ok(line, 'the header shows how to run bus-config');
    const args = line[1]!.trim().split(/\s+/).map((a) => (a.startsWith('-hosts=') ? `${a},127.0.0.1,localhost` : a));
    execFileSync(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), ...args], { cwd: project, stdio: ['ignore', 'ignore', 'pipe'] });

    // The gateway's TLS pair in deploy/tls (docs/operations.md, "TLS"), for 127.0.0.1.
    const pkiDir = join(work, 'pki');
    mkdirSync(pkiDir);
    const pki = makeTestPki(pkiDir);
    mkdirSync(join(project, 'deploy/tls'));
    copyFileSync(pki.caFile, join(project, 'deploy/tls/ca.pem'));
    copyFileSync(pki.certFile, join(project, 'deploy/tls/cert.pem'));
    copyFileSync(pki.keyFile, join(project, 'deploy/tls/key.pem'));
    ca = readFileSync(pki.caFile);

    // Step 2: `docker compose up -d --scale gateway=2 --scale catalog=2 ...`.
    compose = ComposeEmulation.load(join(project, 'docker-compose.yml'), join(work, 'run'), 2);
    await compose.up();
    // Every Coffer process is up (its health port answers live) before the first healthchecks are judged.
    for (const name of SERVICE_NAMES) {
      for (const i of compose.of(name)) {
        await eventually(async () => {
          compose.assertRunning(i);
          const r = await fetch(`http://${i.env.COFFER_HEALTH_ADDR}/health/live`);
          assert.equal(r.status, 200);
        }, 90_000, 250).catch((err: unknown) => {
          throw new Error(`${i.name} never answered live: ${String(err)}\n${compose.logOf(i).slice(-3000)}`);
        });
      }
    }
    for (const i of compose.instances) if (compose.hasHealthcheck(i.service)) healthyBeforeInit.set(i.name, await compose.healthcheck(i));
  });

  after(async () => {
    await compose?.down();
    // COFFER_TEST_KEEP=1 keeps the project, the copies and every process's output.log, to see why a start failed.
    if (process.env.COFFER_TEST_KEEP !== '1') rmSync(work, { recursive: true, force: true });
  });

  it('runs two of each Coffer service (compose can scale them) and one postgres and one nats (their data volume forbids it)', () => {
    for (const name of SERVICE_NAMES) assert.equal(compose.of(name).length, 2, name);
    assert.equal(compose.of('postgres').length, 1);
    assert.equal(compose.of('nats').length, 1);
    assert.equal(compose.scalable('postgres'), false);
  });

  it('before init, postgres is healthy and no Coffer healthcheck passes (ready means unsealed)', () => {
    assert.equal(healthyBeforeInit.get('postgres-1'), true);
    for (const name of SERVICE_NAMES) {
      for (const i of compose.of(name)) assert.equal(healthyBeforeInit.get(i.name), false, `${i.name} is not ready yet`);
    }
  });

  it('initializes through one gateway and unseals with three of five shares given to both', async () => {
    const [g1, g2] = gateways() as [Instance, Instance];
    const init = await call(g1, 'PUT', 'sys/init', { secret_shares: 5, secret_threshold: 3 });
    assert.equal(init.status, 200, JSON.stringify(init.json));
    const keys = init.json.keys_base64 as string[];
    assert.equal(keys.length, 5);
    rootToken = init.json.root_token;
    // Progress is cluster-wide (docs: "through any gateway or a load balancer"): alternate the gateways.
    const first = await call(g1, 'PUT', 'sys/unseal', { key: keys[0] });
    assert.deepEqual([first.status, first.json.sealed, first.json.progress], [200, true, 1]);
    await eventually(async () => assert.equal((await call(g2, 'GET', 'sys/seal-status')).json.progress, 1));
    assert.equal((await call(g2, 'PUT', 'sys/unseal', { key: keys[1] })).json.progress, 2);
    await eventually(async () => assert.equal((await call(g1, 'GET', 'sys/seal-status')).json.progress, 2));
    const last = await call(g1, 'PUT', 'sys/unseal', { key: keys[2] });
    assert.deepEqual([last.status, last.json.sealed], [200, false]);
  });

  it('then every healthcheck of the file passes, on every instance', async () => {
    for (const i of compose.instances) {
      if (!compose.hasHealthcheck(i.service)) continue;
      await eventually(async () => {
        compose.assertRunning(i);
        assert.equal(await compose.healthcheck(i), true, `${i.name}'s healthcheck`);
      }, 60_000, 500);
    }
    const without = Object.keys(compose.services).filter((s) => !compose.hasHealthcheck(s));
    assert.deepEqual(without, ['nats'], 'only nats (its image has no shell) goes without one');
  });

  it('registers a shipped plugin by its SHA-256, mounts it, writes through one gateway and reads through the other', async () => {
    const [g1, g2] = gateways() as [Instance, Instance];
    // docs step 6: `sha256sum /var/lib/coffer/plugins/...` inside the image.
    const runner = compose.of('plugin-runner')[0]!;
    const pluginsDir = runner.mounts.find((m) => m.target === '/var/lib/coffer/plugins')!.source;
    const sha256 = createHash('sha256').update(readFileSync(join(pluginsDir, 'mock-plugin'))).digest('hex');
    const registered = await call(g1, 'PUT', 'sys/plugins/catalog/secret/my-mock-plugin', { sha256, command: 'mock-plugin' });
    assert.equal(registered.status, 204, JSON.stringify(registered.json));
    const mounted = await call(g2, 'POST', 'sys/mounts/my-secrets', { type: 'my-mock-plugin' });
    assert.equal(mounted.status, 204, JSON.stringify(mounted.json));
    const written = await eventually(async () => {
      const r = await call(g1, 'PUT', 'my-secrets/kv/foo', { value: 'bar' });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return r;
    });
    assert.deepEqual(written.json.data, { value: 'bar' });
    const read = await eventually(async () => {
      const r = await call(g2, 'GET', 'my-secrets/kv/foo');
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return r;
    });
    assert.equal(read.json.data.value, 'bar');
  });

  describe("NATS's service API, asked with bus-config's operator credentials", () => {
    let nc: NatsConnection;
    let client: ServiceClient;
    const errors: string[] = [];
    /** Every answer within 3 s (the "timer" strategy: a busy instance answering late is still counted). */
    const gather = async <T>(ask: Promise<AsyncIterable<T>>): Promise<T[]> => {
      const out: T[] = [];
      for await (const answer of await ask) out.push(answer);
      return out;
    };
    /** The Coffer instance ids of a service type, as sys/instances names them, from both processes. */
    const instancesOf = async (service: string) =>
      ((await call(gateways()[0]!, 'GET', 'sys/instances')).json.data.instances as { service: string; instance: string }[])
        .filter((i) => i.service === service)
        .map((i) => i.instance)
        .sort();

    before(async () => {
      const folder = join(project, 'deploy/bus/operator');
      const natsPort = compose.port(compose.of('nats')[0]!, 4222);
      nc = await connect({
        servers: `tls://127.0.0.1:${natsPort}`,
        tls: { caFile: join(folder, 'ca.pem') },
        authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(join(folder, 'nkey.seed'), 'utf8').trim())),
        inboxPrefix: '_INBOX_operator',
        reconnect: false,
      });
      void (async () => {
        for await (const st of nc.status()) if (st.type === 'error') errors.push(String((st as { error?: unknown }).error));
      })();
      client = new Svcm(nc).client({ strategy: 'timer', maxWait: 3_000 });
    });
    after(async () => {
      await nc?.close().catch(() => undefined);
    });

    it('PING by name: both instances of every service type answer, each naming its Coffer instance', async () => {
      for (const service of SERVICE_NAMES) {
        const expected = await instancesOf(service);
        await eventually(async () => {
          const pongs = await gather<ServiceIdentity>(client.ping(serviceApiName(service)));
          assert.deepEqual(pongs.map((p) => p.metadata?.coffer_instance).sort(), expected, `${service}: ${JSON.stringify(pongs)}`);
          for (const p of pongs) assert.equal(p.name, `coffer-${service}`);
        }, 30_000, 500);
      }
      const all = await gather<ServiceIdentity>(client.ping());
      assert.ok(all.filter((p) => p.name.startsWith('coffer-')).length >= 8, 'a PING to all hears the eight');
    });

    it('INFO lists the health endpoint; STATS carries each instance\'s readiness', async () => {
      // Each asking retried as a whole: an instance busy past the 3 s window is heard on the next one.
      for (const service of SERVICE_NAMES) await eventually(async () => {
        const infos = await gather<any>(client.info(serviceApiName(service)));
        assert.equal(infos.length, 2, service);
        for (const info of infos) {
          assert.equal(info.type, 'io.nats.micro.v1.info_response');
          assert.deepEqual(info.endpoints.map((e: { name: string; subject: string }) => [e.name, e.subject]), [['health', `coffer.${service}.health`]]);
        }
        const stats = await gather<any>(client.stats(serviceApiName(service)));
        assert.equal(stats.length, 2, service);
        for (const st of stats) {
          assert.equal(st.type, 'io.nats.micro.v1.stats_response');
          assert.deepEqual(st.endpoints[0].data, { service, instance: st.metadata.coffer_instance, ready: true, sealed: false });
        }
      }, 30_000, 500);
    });

    it("the health endpoint answers; the operator may not ask Coffer's own subjects", async () => {
      const r = (await nc.request('coffer.catalog.health', '', { timeout: 5_000 })).json<{ ready: boolean; service: string }>();
      assert.deepEqual([r.service, r.ready], ['catalog', true]);
      await assert.rejects(nc.request('coffer.gateway.status', '', { timeout: 1_500 }));
      await eventually(async () => assert.ok(errors.some((e) => /Permissions Violation/i.test(e)), errors.join('\n')), 10_000);
    });
  });

  it('sys/instances lists both instances of every service, unsealed', async () => {
    const r = await eventually(async () => {
      const res = await call(gateways()[1]!, 'GET', 'sys/instances');
      assert.equal(res.status, 200);
      const counts = Object.fromEntries(SERVICE_NAMES.map((s) => [s, res.json.data.instances.filter((i: { service: string; state: string }) => i.service === s && i.state === 'unsealed').length]));
      assert.deepEqual(counts, Object.fromEntries(SERVICE_NAMES.map((s) => [s, 2])));
      return res;
    });
    assert.deepEqual(r.json.data.missing_services, []);
  });
});
