import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Cluster } from './support/cluster.js';
import { REPO_ROOT } from './support/paths.js';

interface Entry {
  sequence: number;
  stream: string;
  type: string;
  recorded_at: string;
  request_id: string;
  actor_accessor: string;
  details: Record<string, unknown>;
}
interface Page {
  events: Entry[];
  next_after: number | null;
}

/** Distinctive strings the history must never show: they sit in event data the barrier encrypts. */
const ENV_SECRET = 'MOCK_DB_PASSWORD=env-hunter2';
const POLICY_MARKER = 'history-policy-marker';

/**
 * `sys/event-history` on the services as separate processes: changes made through the API (a plugin registered, a
 * mount enabled, tuned and disabled, policies written, an audit device) show up newest first with the accessor of the
 * token that made them; paging walks all of it; it needs sudo; and nothing secret or sealed leaves with it.
 */
describe('sys/event-history', () => {
  let cluster: Cluster;
  let rootToken = '';
  let rootAccessor = '';
  let adminToken = '';
  let adminAccessor = '';
  let readerToken = '';

  const call = async (method: string, path: string, token: string | null, body?: unknown) => {
    const r = await cluster.fetch(`/v1/${path}`, { method, headers: token ? { 'x-vault-token': token } : {}, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, text, body: text ? JSON.parse(text) : null };
  };
  const ok = async (method: string, path: string, token: string, body?: unknown) => {
    const r = await call(method, path, token, body);
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
    return r.body;
  };
  const history = async (query = '', token = rootToken): Promise<Page & { raw: string }> => {
    const r = await call('GET', `sys/event-history${query}`, token);
    assert.equal(r.status, 200, r.text);
    return { ...(r.body.data as Page), raw: r.text };
  };
  const accessorOf = async (token: string) => (await ok('GET', 'auth/token/lookup-self', token)).data.accessor as string;

  before(async () => {
    cluster = await Cluster.create();
    await cluster.startAll();
    rootToken = (await cluster.initAndUnseal()).rootToken;
    rootAccessor = await accessorOf(rootToken);
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(cluster.dir, 'hist-mock'));
    chmodSync(join(cluster.dir, 'hist-mock'), 0o755);
    const sha = createHash('sha256').update(readFileSync(join(cluster.dir, 'hist-mock'))).digest('hex');

    // As root: the plugin and the mount's life.
    await ok('PUT', 'sys/plugins/catalog/secret/hist-mock', rootToken, { sha256: sha, command: 'hist-mock', version: 'v0.0.0+mock', env: [ENV_SECRET] });
    await ok('POST', 'sys/mounts/hist', rootToken, { type: 'hist-mock', plugin_version: 'v0.0.0+mock' });
    await ok('POST', 'sys/mounts/hist/tune', rootToken, { description: 'tuned for the history', max_lease_ttl: '2h' });
    await ok('DELETE', 'sys/mounts/hist', rootToken);
    // An admin with sudo on the history, and a reader without: a policy written as root, then one by the admin.
    await ok('PUT', 'sys/policies/acl/history-admin', rootToken, {
      policy: `path "sys/event-history" { capabilities = ["read", "sudo"] }\npath "sys/policies/acl/*" { capabilities = ["create", "update", "read"] }`,
    });
    await ok('PUT', 'sys/policies/acl/history-reader', rootToken, { policy: 'path "sys/event-history" { capabilities = ["read"] }' });
    adminToken = (await ok('POST', 'auth/token/create', rootToken, { policies: ['history-admin'], ttl: '1h' })).auth.client_token;
    adminAccessor = await accessorOf(adminToken);
    readerToken = (await ok('POST', 'auth/token/create', rootToken, { policies: ['history-reader'], ttl: '1h' })).auth.client_token;
    await ok('PUT', 'sys/policies/acl/written-by-admin', adminToken, { policy: `# ${POLICY_MARKER}\npath "secret/*" { capabilities = ["read"] }` });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('lists what was done, newest first, with the accessor of the token that did it', async () => {
    const page = await history('?limit=500');
    assert.equal(page.next_after, null);
    const seqs = page.events.map((e) => e.sequence);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'newest first');
    const mine = page.events.filter(
      (e) => (e.stream === 'mount-table' && e.details.path === 'hist/') || (e.stream === 'plugin-catalog' && e.details.plugin_name === 'hist-mock') || e.stream === 'acl-policies',
    );
    assert.deepEqual(
      mine.map((e) => [e.type, e.details.path ?? e.details.plugin_name ?? e.details.name]),
      [
        ['PolicyWritten', 'written-by-admin'],
        ['PolicyWritten', 'history-reader'],
        ['PolicyWritten', 'history-admin'],
        ['MountDisabled', 'hist/'],
        ['MountTuned', 'hist/'],
        ['MountEnabled', 'hist/'],
        ['PluginRegistered', 'hist-mock'],
      ],
    );
    assert.deepEqual(mine.map((e) => e.actor_accessor), [adminAccessor, rootAccessor, rootAccessor, rootAccessor, rootAccessor, rootAccessor, rootAccessor]);
    for (const e of mine) {
      assert.match(e.request_id, /^[0-9a-f-]{36}$/, 'the request id, as the audit log names it');
      assert.ok(!Number.isNaN(Date.parse(e.recorded_at)));
    }
    const [registered] = mine.filter((e) => e.type === 'PluginRegistered');
    assert.deepEqual(registered.details, {
      plugin_type: 'secret',
      plugin_name: 'hist-mock',
      plugin_version: 'v0.0.0+mock',
      sha256: createHash('sha256').update(readFileSync(join(cluster.dir, 'hist-mock'))).digest('hex'),
      command: 'hist-mock',
    });
    const [enabled] = mine.filter((e) => e.type === 'MountEnabled');
    assert.equal(enabled.details.plugin_name, 'hist-mock');
    assert.equal(enabled.details.plugin_version, 'v0.0.0+mock');
    assert.match(String(enabled.details.accessor), /^\S+$/);
    const [tuned] = mine.filter((e) => e.type === 'MountTuned');
    assert.deepEqual([tuned.details.description, tuned.details.max_lease_ttl], ['tuned for the history', 7200]);
    assert.ok((tuned.details.changed as string[]).includes('description'));
    // The builtin cubbyhole and the like, mounted at init, are there too, below what this test did.
    assert.ok(page.events.some((e) => e.type === 'MountEnabled' && e.details.path === 'cubbyhole/'), JSON.stringify(page.events.map((e) => e.details)));
  });

  it('pages with limit and after, and filters by stream', async () => {
    const whole = await history('?limit=500');
    const walked: Entry[] = [];
    let after: number | null = null;
    let pages = 0;
    do {
      const page: Page = await history(`?limit=2${after === null ? '' : `&after=${after}`}`);
      assert.ok(page.events.length <= 2);
      walked.push(...page.events);
      after = page.next_after;
      pages++;
      assert.ok(pages < 100, 'the walk ends');
    } while (after !== null);
    assert.deepEqual(walked.map((e) => e.sequence), whole.events.map((e) => e.sequence), 'the pages add up to the whole, in order');
    assert.ok(pages >= 4);
    const policies = await history('?stream=acl-policies');
    assert.deepEqual(policies.events.map((e) => e.details.name), ['written-by-admin', 'history-reader', 'history-admin']);
    assert.ok((await history('?limit=1')).events.length === 1);
    const defaults = await history();
    assert.equal(defaults.events.length, Math.min(50, whole.events.length), 'a default page of 50');
  });

  it('needs sudo: a token without it, and no token, get 403; a non-root token with sudo reads it', async () => {
    const denied = await call('GET', 'sys/event-history', readerToken);
    assert.equal(denied.status, 403);
    assert.deepEqual(denied.body, { errors: ['1 error occurred:\n\t* permission denied\n\n'] });
    assert.equal((await call('GET', 'sys/event-history', null)).status, 403);
    const page = await history('?limit=1', adminToken);
    assert.equal(page.events.length, 1);
  });

  it('refuses bad parameters with 400 and Vault\'s error body', async () => {
    for (const query of ['?limit=0', '?limit=501', '?limit=many', '?after=-3', '?stream=tokens']) {
      const r = await call('GET', `sys/event-history${query}`, rootToken);
      assert.equal(r.status, 400, `${query}: ${r.text}`);
      assert.ok(Array.isArray(r.body.errors) && r.body.errors.length === 1, r.text);
    }
  });

  it('shows nothing secret: no token, no plugin env, no policy text, no audit salt, none of the sealed bytes', async () => {
    // Outside the plugin directory (the server refuses a log file in it).
    const auditDir = mkdtempSync(join(tmpdir(), 'coffer-history-audit-'));
    await ok('PUT', 'sys/audit/hist-file', rootToken, { type: 'file', options: { file_path: join(auditDir, 'audit.log') } });
    const { raw, events } = await history('?limit=500');
    assert.ok(events.some((e) => e.type === 'AuditDeviceEnabled' && e.details.path === 'hist-file/'));
    for (const secret of [rootToken, adminToken, readerToken, ENV_SECRET, 'env-hunter2', POLICY_MARKER, 'capabilities']) {
      assert.ok(!raw.includes(secret), `the history holds ${secret.slice(0, 12)}…`);
    }
    for (const e of events) assert.deepEqual(Object.keys(e).sort(), ['actor_accessor', 'details', 'recorded_at', 'request_id', 'sequence', 'stream', 'type']);
    assert.ok(!/"salt"|"env"|"args"|"policy"|"options":\{"file_path"/.test(raw), 'no salt, env, args, policy text or audit options');
    // The stored payloads are ciphertext; not a piece of one (as base64 or hex) is in the answer.
    const db = new pg.Client({ connectionString: cluster.databaseUrl });
    await db.connect();
    try {
      const rows = (await db.query(`SELECT encode(data, 'base64') AS b64, encode(data, 'hex') AS hex FROM coffer_events`)).rows as { b64: string; hex: string }[];
      assert.ok(rows.length >= events.length);
      for (const row of rows) {
        const b64 = row.b64.replace(/\s/g, '');
        assert.ok(!raw.includes(b64.slice(8, 40)) && !raw.includes(row.hex.slice(16, 80)), 'a sealed payload leaked');
      }
    } finally {
      await db.end();
      // With the device gone the rest needs no log file (an enabled device that cannot write fails every request).
      await ok('DELETE', 'sys/audit/hist-file', rootToken);
      rmSync(auditDir, { recursive: true, force: true });
    }
  });

  it('is what `coffer read sys/event-history` shows', async () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), 'read', '-format=json', 'sys/event-history', 'limit=1', 'stream=acl-policies'], {
      env: { ...process.env, VAULT_ADDR: cluster.url, VAULT_TOKEN: rootToken },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { data: Page };
    assert.deepEqual(out.data.events.map((e) => [e.type, e.details.name, e.actor_accessor]), [['PolicyWritten', 'written-by-admin', adminAccessor]]);
    assert.equal(typeof out.data.next_after, 'number');
  });
});
