import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { Keyring, combineShares, openKeyring } from '#barrier';
import type { ServiceName } from '#contracts';
import { Cluster, TEST_DATABASE_URL, freePort } from './support/cluster.js';
import { startDevServer, type DevServer } from './support/dev-server.js';
import { eventually } from './support/http.js';
import { OwnNatsServer } from './support/nats-server.js';
import { REPO_ROOT } from './support/paths.js';

/**
 * Issue 11, end to end: the services as separate processes on a NATS server of this test's own, configured by
 * `coffer operator bus-config` (an nkey and subject permissions per role, TLS), and a hostile plugin (a real
 * executable, test/fixtures/hostile-plugin.cjs) that tries every attack of the issue from inside a mount.
 */

const HOSTILE = join(REPO_ROOT, 'test/fixtures/hostile-plugin.cjs');
const SPY_PASSWORD = randomBytes(12).toString('hex');

/** Every 32-byte key a keyring holds. */
function keysOf(keyring: Keyring): Buffer[] {
  return [keyring.hmacKey, ...keyring.terms.map((t) => t.key)].map((k) => Buffer.from(k));
}

/** A message's bytes and every base64 or hex run in it, decoded: where a key would be if it crossed. */
function decodings(payload: Buffer): Buffer[] {
  const text = payload.toString('latin1');
  const out = [payload];
  for (const m of text.matchAll(/[A-Za-z0-9+/_-]{40,}={0,2}/g)) out.push(Buffer.from(m[0], 'base64'), Buffer.from(m[0], 'base64url'));
  for (const m of text.matchAll(/[0-9a-fA-F]{64,}/g)) out.push(Buffer.from(m[0], 'hex'));
  return out;
}

describe('cluster trust: the bus and the plugin processes are boundaries', () => {
  let nats: OwnNatsServer;
  let cluster: Cluster;
  let busDir: string;
  let natsPort: number;
  let spy: NatsConnection;
  const heard: { subject: string; data: Buffer }[] = [];
  let rootToken = '';
  let unsealKeys: string[] = [];
  const url = () => `tls://127.0.0.1:${natsPort}`;
  const ca = () => join(busDir, 'ca', 'ca.pem');
  const role = (r: ServiceName, file: string) => join(busDir, r, file);

  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const r = await cluster.fetch(`/v1/${path}`, { method, headers: { 'x-vault-token': rootToken }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null };
  }

  before(async () => {
    natsPort = await freePort();
    cluster = await Cluster.create({ natsUrl: 'unused', busConfigFor: (service) => join(busDir, service, 'bus.hcl') });
    busDir = join(cluster.dir, 'bus');
    execFileSync(process.execPath, [
      join(REPO_ROOT, 'bin/coffer.js'), 'operator', 'bus-config', `-out=${busDir}`, `-listen=127.0.0.1:${natsPort}`, `-url=${url()}`, '-hosts=127.0.0.1,localhost',
    ]);
    // The test's own observer, with every right NATS can give: it stands for a wiretap on the bus.
    const confPath = join(busDir, 'nats', 'nats-server.conf');
    const conf = readFileSync(confPath, 'utf8');
    assert.match(conf, /users: \[\n/);
    writeFileSync(confPath, conf.replace('users: [\n', `users: [\n    { user: "spy", password: "${SPY_PASSWORD}", permissions: { publish: ">", subscribe: ">" } }\n`));
    nats = await OwnNatsServer.start({ port: natsPort, configFile: confPath });
    spy = await connect({ servers: url(), user: 'spy', pass: SPY_PASSWORD, tls: { caFile: ca() } });
    spy.subscribe('>', { callback: (_e, m) => void heard.push({ subject: m.subject, data: Buffer.from(m.data) }) });
    await spy.flush();

    // The plugin directory holds the hostile plugin; the runner copies what it hashed and runs that copy.
    copyFileSync(HOSTILE, join(cluster.dir, 'hostile'));
    chmodSync(join(cluster.dir, 'hostile'), 0o755);
    await cluster.startAll();
    const init = await cluster.initAndUnseal();
    rootToken = init.rootToken;
    unsealKeys = init.keys;
  });

  after(async () => {
    await spy?.close().catch(() => undefined);
    await cluster?.stop();
    await nats?.stop();
  });

  it('bus-config writes private files: 0600 files in 0700 folders', () => {
    for (const r of ['gateway', 'catalog', 'mount-manager', 'plugin-runner'] as const) {
      for (const f of ['nkey.seed', 'membership.key', 'bus.hcl']) {
        const mode = Number(execFileSync('stat', ['-c', '%a', role(r, f)]).toString().trim());
        assert.equal(mode, 600, `${r}/${f}`);
      }
    }
    assert.match(readFileSync(join(busDir, 'nats', 'nats-server.conf'), 'utf8'), /nkey: "U[A-Z2-7]{55}"/);
  });

  it('refuses a client with no credentials, and one without TLS', async () => {
    await assert.rejects(connect({ servers: url(), tls: { caFile: ca() }, reconnect: false }), /Authorization|auth/i);
    await assert.rejects(connect({ servers: `nats://127.0.0.1:${natsPort}`, reconnect: false, timeout: 3_000 }));
  });

  it("lets a client with a runner's credentials do only what a runner may", async () => {
    const seed = new TextEncoder().encode(readFileSync(role('plugin-runner', 'nkey.seed'), 'utf8').trim());
    const errors: string[] = [];
    const nc = await connect({ servers: url(), tls: { caFile: ca() }, authenticator: nkeyAuthenticator(seed), inboxPrefix: '_INBOX_plugin_runner', reconnect: false });
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(String((s as { error?: unknown }).error));
    })();
    try {
      // Requests the runner has no right to make: no answer ever comes (the server drops them and says why).
      await assert.rejects(nc.request('coffer.mount-manager.enable', JSON.stringify({ table: 'secret', path: 'pwned', type: 'kv' }), { timeout: 1_500 }));
      nc.publish('coffer.barrier.sealed', '{}');
      nc.publish('coffer.barrier.unsealed', '{}');
      nc.subscribe('coffer.>');
      nc.subscribe('_INBOX_gateway.>');
      await nc.flush();
      await eventually(async () => assert.ok(errors.filter((e) => /Permissions Violation/i.test(e)).length >= 3, errors.join('\n')), 10_000);
    } finally {
      await nc.close().catch(() => undefined);
    }
    // A seal that got through would hold: health would stay 503. A status probe that times out under load answers
    // 503 for that one request only (service-status.ts), so the check waits for a 200 rather than taking the first.
    await eventually(async () => {
      const health = await cluster.fetch('/v1/sys/health');
      assert.equal(health.status, 200, `still unsealed: the seal broadcast was refused (${await health.text()})`);
    }, 10_000);
    assert.equal((await api('GET', 'sys/seal-status')).json.sealed, false, 'not sealed');
    const mounts = await api('GET', 'sys/mounts');
    assert.ok(!('pwned/' in mounts.json.data), 'no mount was created');
  });

  it("no role but the runner's may announce a runner or a storage write, nor hear a runner's direct calls", async () => {
    // A forged presence would steer every gateway's mount ring to an instance the forger answers for; a forged
    // storage-write notice would keep every runner's read cache empty. Both subjects are the runner's alone.
    for (const r of ['gateway', 'catalog', 'mount-manager'] as const) {
      const seed = new TextEncoder().encode(readFileSync(role(r, 'nkey.seed'), 'utf8').trim());
      const errors: string[] = [];
      const nc = await connect({ servers: url(), tls: { caFile: ca() }, authenticator: nkeyAuthenticator(seed), inboxPrefix: `_INBOX_${r.replace('-', '_')}`, reconnect: false });
      void (async () => {
        for await (const s of nc.status()) if (s.type === 'error') errors.push(String((s as { error?: unknown }).error));
      })();
      try {
        nc.publish('coffer.plugin-runner.presence', JSON.stringify({ instance: 'plugin-runner-forged', state: 'serving' }));
        nc.publish('coffer.plugin-runner.storage-writes', JSON.stringify({ instance: 'plugin-runner-forged', mountUuid: 'x', phase: 'start' }));
        nc.subscribe('coffer.plugin-runner.direct.plugin-runner-forged.handle');
        await nc.flush();
        await eventually(async () => {
          const refused = errors.filter((e) => /Permissions Violation/i.test(e));
          assert.ok(refused.some((e) => /presence/.test(e)), `${r}: presence refused\n${errors.join('\n')}`);
          assert.ok(refused.some((e) => /storage-writes/.test(e)), `${r}: storage-writes refused\n${errors.join('\n')}`);
          assert.ok(refused.some((e) => /direct/.test(e)), `${r}: direct subscription refused\n${errors.join('\n')}`);
        }, 10_000);
      } finally {
        await nc.close().catch(() => undefined);
      }
    }
  });

  it('a subscriber with full rights finds no keyring or unseal-share bytes in an unseal, a join, a seal and a health check', async () => {
    const { default: pg } = await import('pg');
    const db = new pg.Client({ connectionString: cluster.databaseUrl });
    await db.connect();
    const { rows } = await db.query('SELECT keyring FROM coffer_seal WHERE id = 1');
    await db.end();
    const rootKey = await combineShares(unsealKeys.slice(0, 1).map((k) => Buffer.from(k, 'base64')));
    const keys = keysOf(openKeyring(rootKey, rows[0].keyring));

    // A join: a second runner starts into the unsealed cluster and gets the keyring from a peer.
    await cluster.start('plugin-runner', 'runner-2');
    await eventually(async () => assert.match(cluster.logOf('runner-2'), /joined an unsealed cluster/));
    // Seal and unseal again: the broadcast and every process's join.
    assert.equal((await api('PUT', 'sys/seal')).status, 204);
    await cluster.unseal(unsealKeys.slice(0, 1));
    await eventually(async () => assert.equal((await cluster.fetch('/v1/sys/health')).status, 200));

    // A straggler that cannot join (another cluster's membership key) stays sealed; health must not feed it.
    const straggler = join(cluster.dir, 'straggler');
    execFileSync('cp', ['-r', join(busDir, 'catalog'), straggler]);
    writeFileSync(join(straggler, 'membership.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    writeFileSync(join(straggler, 'bus.hcl'), readFileSync(join(straggler, 'bus.hcl'), 'utf8').replaceAll(join(busDir, 'catalog'), straggler), { mode: 0o600 });
    await cluster.start('catalog', 'catalog-straggler', { busConfig: join(straggler, 'bus.hcl') });
    // A sealed catalog in the queue group would answer later tests' catalog requests with 503: it goes either way.
    try {
      // Its failed join ("starting sealed") is logged after "service started", which is all start waits for.
      await eventually(async () => assert.match(cluster.logOf('catalog-straggler'), /starting sealed/));
      const afterStart = heard.length;
      // (Which catalog answers the health probe is up to the queue group: the status may say sealed or not.)
      for (let i = 0; i < 5; i++) assert.ok([200, 503].includes((await fetch(`${cluster.url}/v1/sys/health`)).status));
      await spy.flush();
      await new Promise((r) => setTimeout(r, 500));
      const fromHealth = heard.slice(afterStart).filter((m) => /barrier\.(unsealed|keyring)$/.test(m.subject));
      assert.deepEqual(fromHealth.map((m) => m.subject), [], 'an unauthenticated health check published nothing about the keyring');
    } finally {
      await cluster.kill('catalog-straggler');
    }

    const exchange = heard.filter((m) => /barrier\./.test(m.subject) || /_INBOX/.test(m.subject));
    assert.ok(heard.some((m) => /barrier\.keyring$/.test(m.subject)), 'the spy did hear keyring requests');
    assert.ok(exchange.length > 4, 'and their answers');
    for (const m of heard) {
      for (const d of decodings(m.data)) for (const key of keys) assert.ok(!d.includes(key), `keyring bytes on ${m.subject}`);
    }
    // The unseal share is broadcast to the other gateways (cluster-wide progress), sealed under the membership key.
    const share = Buffer.from(unsealKeys[0]!, 'base64');
    assert.ok(heard.some((m) => /gateway\.unseal-progress$/.test(m.subject)), 'the spy heard the unseal share broadcast');
    for (const m of heard) for (const d of decodings(m.data)) assert.ok(!d.includes(share), `an unseal share on ${m.subject}`);
  });

  it('a runner whose credentials others could read refuses to start, saying why', async () => {
    const open = join(cluster.dir, 'open-runner');
    execFileSync('cp', ['-r', join(busDir, 'plugin-runner'), open]);
    writeFileSync(join(open, 'bus.hcl'), readFileSync(join(open, 'bus.hcl'), 'utf8').replaceAll(join(busDir, 'plugin-runner'), open), { mode: 0o600 });
    chmodSync(join(open, 'nkey.seed'), 0o644);
    await assert.rejects(cluster.start('plugin-runner', 'open-runner', { busConfig: join(open, 'bus.hcl') }), /nkey_seed_file .* must be readable by its owner only/);
  });

  it('a hostile plugin fails every attack, while its own storage works', async () => {
    const sha256 = createHash('sha256').update(readFileSync(HOSTILE)).digest('hex');
    assert.equal((await api('PUT', 'sys/plugins/catalog/secret/hostile', { sha256, command: 'hostile' })).status, 204);
    assert.equal((await api('POST', 'sys/mounts/h', { type: 'hostile' })).status, 204);
    assert.equal((await api('PUT', 'h/mine', { value: 'kept' })).status, 204);
    assert.deepEqual((await api('GET', 'h/mine')).json.data, { value: 'kept' });

    const pg = new URL(TEST_DATABASE_URL);
    const files = [
      cluster.configPath,
      ...['nkey.seed', 'membership.key', 'bus.hcl'].map((f) => role('plugin-runner', f)),
      join(busDir, 'nats', 'server-key.pem'),
      join(busDir, 'ca', 'ca-key.pem'),
    ];
    const attack = await api('PUT', 'h/attack', { files, natsHost: '127.0.0.1', natsPort, pgHost: pg.hostname, pgPort: pg.port || 5432 });
    assert.equal(attack.status, 200, JSON.stringify(attack.json));
    const results = attack.json.data.results as Record<string, { ok: boolean; value: unknown }>;
    const show = (name: string) => `${name}: ${JSON.stringify(results[name]).slice(0, 600)}`;
    assert.equal(results.environ.ok, false, show('environ'));
    // Its parent is the sandbox's own init: whatever it can read there is not the runner's command line.
    assert.ok(!results.cmdline.ok || !/-config=|-service=|bin\/coffer/.test(String(results.cmdline.value)), show('cmdline'));
    assert.equal(results.processes.ok, false, show('processes'));
    assert.equal(results.files.ok, false, show('files'));
    for (const name of ['postgres', 'natsTcp', 'subscribeAll', 'requestKeyring', 'enableMount', 'seal']) assert.equal(results[name].ok, false, show(name));

    // And nothing it tried had an effect; its own data is still there.
    assert.equal((await cluster.fetch('/v1/sys/health')).status, 200);
    assert.ok(!('pwned/' in (await api('GET', 'sys/mounts')).json.data));
    assert.deepEqual((await api('GET', 'h/mine')).json.data, { value: 'kept' });
    assert.match(cluster.logOf('plugin-runner'), /plugin sandbox: bwrap/);
  });

  it('a builtin plugin (kv, from this build\'s bundles) is enabled on the secured bus and runs in the same sandbox', async () => {
    // The enable asks a runner to start the plugin first (mount-manager → plugin-runner.probe), so this also proves
    // the mount-manager role may make that request and nothing needs plugin_directory to hold the bundle.
    assert.equal((await api('POST', 'sys/mounts/builtin-kv', { type: 'kv', options: { version: '2' } })).status, 204);
    const written = await api('PUT', 'builtin-kv/data/app', { data: { password: 'in-the-sandbox' } });
    assert.equal(written.status, 200, JSON.stringify(written.json));
    assert.deepEqual((await api('GET', 'builtin-kv/data/app')).json.data.data, { password: 'in-the-sandbox' });

    const runners = ['plugin-runner', 'runner-2'].map((n) => cluster.pid(n)).filter((pid): pid is number => pid !== undefined);
    const children = runners.flatMap((pid) => {
      try {
        return execFileSync('ps', ['-o', 'args=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean);
      } catch {
        return [];
      }
    });
    const kv = children.filter((c) => c.includes(readBuiltinSha('kv')));
    assert.ok(kv.length > 0, `no kv process among the runners' children: ${children.join(' | ')}`);
    for (const c of kv) assert.match(c, /bwrap .*--unshare-net.* -- .*setpriv .*--reuid=.* \/run\/coffer\/plugin/, c);
  });

  it("a login's token renewal asks its auth plugin over the secured bus (the gateway may ask renew-auth, the runner answer)", async () => {
    assert.equal((await api('POST', 'sys/auth/userpass', { type: 'userpass' })).status, 204);
    assert.equal((await api('POST', 'auth/userpass/users/ann', { password: 'pw', token_policies: 'p', token_ttl: '5m' })).status, 204);
    const login = await api('POST', 'auth/userpass/login/ann', { password: 'pw' });
    assert.equal(login.status, 200, JSON.stringify(login.json));
    const token = login.json.auth.client_token as string;
    const renewed = await api('POST', 'auth/token/renew', { token });
    assert.equal(renewed.status, 200, JSON.stringify(renewed.json));
    assert.equal((await api('DELETE', 'auth/userpass/users/ann')).status, 204);
    const refused = await api('POST', 'auth/token/renew', { token });
    assert.deepEqual([refused.status, refused.json], [400, { errors: ['failed to renew entry: user "ann" no longer exists, not renewing'] }]);
  });
});

/** A builtin's SHA-256 as this build lists it: its checked copy in the runner's cache is named by it. */
function readBuiltinSha(name: string): string {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'dist/builtin-plugins.json'), 'utf8')) as { plugins: { name: string; sha256: string }[] };
  const entry = manifest.plugins.find((p) => p.name === name);
  assert.ok(entry, `no builtin ${name} in dist/builtin-plugins.json`);
  return entry.sha256;
}

describe('the dev server keeps its root token from plugins', () => {
  let dev: DevServer;
  const token = `dev-${randomBytes(16).toString('hex')}`;

  before(async () => {
    const dir = join(execFileSync('mktemp', ['-d']).toString().trim());
    copyFileSync(HOSTILE, join(dir, 'hostile'));
    chmodSync(join(dir, 'hostile'), 0o755);
    chmodSync(dir, 0o755);
    dev = await startDevServer({ args: [`-dev-plugin-dir=${dir}`, `-dev-root-token-id=${token}`] });
  });

  after(async () => {
    await dev?.stop();
  });

  it('prints its sandbox, and the plugin finds the token in no command line or environment', async () => {
    assert.match(dev.output(), /Plugin Sandbox: (bwrap|uid)/);
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`${dev.url}/v1/${path}`, { method, headers: { 'x-vault-token': token }, body: body === undefined ? undefined : JSON.stringify(body) });
    assert.equal((await call('POST', 'sys/mounts/h', { type: 'hostile' })).status, 204);
    const r = await call('PUT', 'h/attack', { files: [] });
    assert.equal(r.status, 200);
    const text = await r.text();
    assert.ok(!text.includes(token), `the root token leaked: ${text.slice(0, 800)}`);
    assert.ok(!text.includes(token.slice(4)), 'not even in part');
  });
});
