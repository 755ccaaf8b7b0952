/**
 * Issue 16, "one trip per request": a write to a plugin mount crosses gateway → runner → plugin once. The services
 * run as processes; a plain NATS subscriber in the cluster's namespace hears every gateway → runner request (a queue
 * group does not hide messages from a subscriber outside it), and the runner's health port counts the calls sent
 * to plugin processes by method. Vault's create/update semantics are checked with create-only and update-only
 * policies, on a protocol-4 plugin (one call) and on the same plugin made to say protocol 3 (exists, then handle).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Cluster } from './support/cluster.js';
import { eventually } from './support/http.js';
import { REPO_ROOT } from './support/paths.js';

/** One sample of a metric with the given labels (among others), as a number; 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => m[2]!.split(',').includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return 0;
}

const DENIED = { errors: ['1 error occurred:\n\t* permission denied\n\n'] };

describe('one trip per write, with Vault’s create/update semantics', () => {
  let cluster: Cluster;
  let nats: NatsConnection;
  let health = '';
  let root = '';
  let logDir = '';
  const tokens: Record<string, string> = {};
  /** Gateway → runner requests heard, by the subject's last word (write, exists, handle, ...). */
  const trips = new Map<string, number>();

  const call = (method: string, path: string, body?: unknown, token = root) =>
    fetch(`${cluster.url}/v1/${path}`, { method, headers: { 'x-vault-token': token }, body: body === undefined ? undefined : JSON.stringify(body) });
  const metrics = async () => (await fetch(`${health}/metrics`)).text();
  const pluginCalls = async (plugin: string) => {
    const text = await metrics();
    return { handle: sample(text, 'coffer_plugin_calls_total', { plugin, method: 'handle' }), exists: sample(text, 'coffer_plugin_calls_total', { plugin, method: 'exists' }) };
  };
  const value = async (path: string) => {
    const r = await call('GET', path);
    return r.status === 200 ? ((await r.json()) as { data: { value: string } }).data.value : r.status;
  };
  /** What one request cost: the bus requests and plugin calls it made, read once the answer is in. */
  async function measure(plugin: string, request: () => Promise<Response>) {
    const tripsBefore = new Map(trips);
    const callsBefore = await pluginCalls(plugin);
    const r = await request();
    const body = r.status === 204 ? null : await r.json();
    // The subscriber hears each request as it is published, before the answer: flushing makes sure it was counted.
    await nats.flush();
    const callsAfter = await pluginCalls(plugin);
    const delta = (k: string) => (trips.get(k) ?? 0) - (tripsBefore.get(k) ?? 0);
    return {
      status: r.status,
      body,
      bus: { write: delta('write'), exists: delta('exists'), handle: delta('handle') },
      plugin: { handle: callsAfter.handle - callsBefore.handle, exists: callsAfter.exists - callsBefore.exists },
    };
  }

  before(async () => {
    logDir = mkdtempSync(join(tmpdir(), 'coffer-one-trip-audit-'));
    cluster = await Cluster.create({ logLevel: 'info' });
    nats = await connect({ servers: cluster.natsUrl });
    const prefix = `coffer.${cluster.databaseName}.plugin-runner.`;
    const sub = nats.subscribe(`${prefix}>`);
    void (async () => {
      for await (const m of sub) {
        // A mount call goes to the runner the mount hashes to (`direct.<instance>.<verb>`) or to the queue group.
        const word = m.subject.slice(prefix.length).replace(/^direct\.[^.]+\./, '');
        trips.set(word, (trips.get(word) ?? 0) + 1);
      }
    })();
    await cluster.start('catalog');
    await cluster.start('mount-manager');
    health = await cluster.startWithHealthPort('plugin-runner');
    await cluster.start('gateway');
    root = (await cluster.initAndUnseal()).rootToken;

    // The mock plugin as built (protocol 4), and the same bundle made to settle on protocol 3: a plugin from
    // before handle's choose, which the runner serves with exists, then handle.
    const bundle = readFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), 'utf8');
    const files = { mock4: bundle, mock3: bundle.replace(/^(#!.*\n)/, "$1process.env.COFFER_PLUGIN_PROTOCOLS = '1,2,3';\n") };
    assert.notEqual(files.mock3, bundle);
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(join(cluster.dir, name), text);
      chmodSync(join(cluster.dir, name), 0o755);
      const sha = createHash('sha256').update(text).digest('hex');
      assert.equal((await call('PUT', `sys/plugins/catalog/secret/${name}`, { sha_256: sha, command: name })).status, 204);
      assert.equal((await call('POST', `sys/mounts/${name}`, { type: name })).status, 204);
    }
    const policies = {
      'create-only': ['create', 'read'],
      'update-only': ['update', 'read'],
      'read-only': ['read'],
      writer: ['create', 'update', 'read'],
    };
    for (const [name, caps] of Object.entries(policies)) {
      const policy = ['mock4', 'mock3'].map((m) => `path "${m}/kv/*" { capabilities = ${JSON.stringify(caps)} }`).join('\n');
      assert.equal((await call('PUT', `sys/policies/acl/${name}`, { policy })).status, 204);
      const r = await call('POST', 'auth/token/create', { policies: [name] });
      assert.equal(r.status, 200);
      tokens[name] = ((await r.json()) as { auth: { client_token: string } }).auth.client_token;
    }
  });
  after(async () => {
    await nats?.close();
    await cluster?.stop();
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  });

  it('a write to a protocol-4 plugin is one bus request and one plugin call', async () => {
    // Warm up: the first call launches the plugin and asks its special paths.
    assert.equal((await call('PUT', 'mock4/kv/warm', { value: 'w' })).status, 200);
    for (const [path, v] of [['mock4/kv/new', 'a'], ['mock4/kv/new', 'b']]) {
      const m = await measure('mock4', () => call('PUT', path, { value: v }, tokens.writer));
      assert.equal(m.status, 200, JSON.stringify(m.body));
      assert.deepEqual(m.bus, { write: 1, exists: 0, handle: 0 }, 'gateway → runner requests for one write');
      assert.deepEqual(m.plugin, { handle: 1, exists: 0 }, 'runner → plugin calls for one write');
    }
    assert.equal(await value('mock4/kv/new'), 'b');
  });

  it('a protocol-3 plugin still works: one bus request, then exists and handle on the runner', async () => {
    assert.equal((await call('PUT', 'mock3/kv/warm', { value: 'w' })).status, 200);
    const m = await measure('mock3', () => call('PUT', 'mock3/kv/new', { value: 'a' }, tokens.writer));
    assert.equal(m.status, 200, JSON.stringify(m.body));
    assert.deepEqual(m.bus, { write: 1, exists: 0, handle: 0 });
    assert.deepEqual(m.plugin, { handle: 1, exists: 1 });
    assert.equal(await value('mock3/kv/new'), 'a');
  });

  for (const mount of ['mock4', 'mock3']) {
    it(`${mount}: create-only cannot update, update-only cannot create, with Vault's 403`, async () => {
      // create-only: creating is fine, updating what exists is refused and changes nothing.
      assert.equal((await call('PUT', `${mount}/kv/c`, { value: 'first' }, tokens['create-only'])).status, 200);
      let r = await call('PUT', `${mount}/kv/c`, { value: 'second' }, tokens['create-only']);
      assert.equal(r.status, 403);
      assert.deepEqual(await r.json(), DENIED);
      assert.equal(await value(`${mount}/kv/c`), 'first');

      // update-only: creating is refused and creates nothing; updating what exists is fine.
      r = await call('PUT', `${mount}/kv/u`, { value: 'x' }, tokens['update-only']);
      assert.equal(r.status, 403);
      assert.deepEqual(await r.json(), DENIED);
      assert.equal(await value(`${mount}/kv/u`), 404);
      assert.equal((await call('PUT', `${mount}/kv/c`, { value: 'third' }, tokens['update-only'])).status, 200);
      assert.equal(await value(`${mount}/kv/c`), 'third');

      // Denied as both: refused by the gateway itself, with the same answer, and nothing leaves it.
      const m = await measure(mount, () => call('PUT', `${mount}/kv/c`, { value: 'x' }, tokens['read-only']));
      assert.equal(m.status, 403);
      assert.deepEqual(m.body, DENIED);
      assert.deepEqual(m.bus, { write: 0, exists: 0, handle: 0 });
      assert.deepEqual(m.plugin, { handle: 0, exists: 0 });
    });
  }

  it('with an audit device on, the check comes first so the request entry says create or update', async () => {
    // Not in the plugin directory: the gateway refuses an audit file there.
    const logPath = join(logDir, 'audit.log');
    assert.equal((await call('PUT', 'sys/audit/file', { type: 'file', options: { file_path: logPath } })).status, 204);
    const entries = () =>
      readFileSync(logPath, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; request: { path: string; operation: string } });
    // This gateway has the device once a request of its own is in the log.
    await eventually(async () => {
      await call('GET', 'sys/policies/acl/default');
      assert.ok(entries().some((e) => e.request.path === 'sys/policies/acl/default'));
    });
    const created = await measure('mock4', () => call('PUT', 'mock4/kv/audited', { value: 'a' }, tokens.writer));
    assert.equal(created.status, 200);
    assert.deepEqual(created.bus, { write: 0, exists: 1, handle: 1 });
    const updated = await measure('mock4', () => call('PUT', 'mock4/kv/audited', { value: 'b' }, tokens.writer));
    assert.equal(updated.status, 200);
    const ops = entries()
      .filter((e) => e.type === 'request' && e.request.path === 'mock4/kv/audited')
      .map((e) => e.request.operation);
    assert.deepEqual(ops, ['create', 'update']);
    assert.equal((await call('DELETE', 'sys/audit/file')).status, 204);
  });

  it('the gateway imports nothing from the plugin protocol (its contract with the runner is libs/contracts)', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (/\.ts$/.test(name) && /from '(#plugin-protocol|[./]*libs\/plugin-protocol[^']*)'/.test(readFileSync(path, 'utf8'))) offenders.push(path);
      }
    };
    walk(join(REPO_ROOT, 'apps/gateway/src'));
    assert.deepEqual(offenders, []);
  });
});
