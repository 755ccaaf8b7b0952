import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Cluster } from './support/cluster.js';
import { REPO_ROOT } from './support/paths.js';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/**
 * The plugin catalog over HTTP against the running services: Vault's registration API and errors, and every way a
 * plugin executable can be wrong. The host keeps serving through all of them.
 */
describe('plugin catalog', () => {
  let cluster: Cluster;
  let root: Record<string, string>;
  let mockSha = '';

  const write = (path: string, body: unknown) =>
    cluster.fetch(`/v1/${path}`, { method: 'PUT', headers: root, body: JSON.stringify(body) });
  const read = (path: string) => cluster.fetch(`/v1/${path}`, { headers: root });
  const errorsOf = async (r: Response) => ((await r.json()) as { errors: string[] }).errors;

  /** A plugin executable in the plugin directory: a node script, so tests can make it misbehave on purpose. */
  const script = (name: string, body: string) => {
    const path = join(cluster.dir, name);
    writeFileSync(path, `#!/usr/bin/env node\n${body}\n`);
    chmodSync(path, 0o755);
    return sha256(path);
  };

  before(async () => {
    cluster = await Cluster.create();
    await cluster.startAll();
    root = { 'x-vault-token': (await cluster.initAndUnseal()).rootToken };
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(cluster.dir, 'my-mock-plugin'));
    chmodSync(join(cluster.dir, 'my-mock-plugin'), 0o755);
    mockSha = sha256(join(cluster.dir, 'my-mock-plugin'));
  });

  /** The catalog's names of registered plugins: builtins (builtin: true) are there whatever this test registers. */
  const registered = (data: { detailed: { type: string; name: string; builtin: boolean }[] }, type: string) =>
    [...new Set(data.detailed.filter((e) => e.type === type && !e.builtin).map((e) => e.name))].sort();

  after(async () => {
    await cluster?.stop();
  });

  it('registers through the legacy path as the guide does, learning type and version from the plugin', async () => {
    const r = await write('sys/plugins/catalog/my-mock-plugin', { sha_256: mockSha, command: 'my-mock-plugin' });
    assert.equal(r.status, 204, await r.text());
    const listed = await (await read('sys/plugins/catalog')).json();
    assert.deepEqual(registered(listed.data, 'secret'), ['my-mock-plugin']);
    const entry = await (await read('sys/plugins/catalog/secret/my-mock-plugin?version=v0.0.0%2Bmock')).json();
    assert.equal(entry.data.sha256, mockSha);
    assert.equal(entry.data.version, 'v0.0.0+mock');
    assert.equal(entry.data.command, 'my-mock-plugin');
    assert.equal(entry.data.builtin, false);
    const legacy = await (await read('sys/plugins/catalog/my-mock-plugin')).json();
    assert.deepEqual(legacy.warnings, ['Deprecated API endpoint, cannot read plugin information from catalog for "my-mock-plugin"']);
  });

  it('registers typed entries with a version, args and env, and deregisters them', async () => {
    const r = await write('sys/plugins/catalog/secret/my-mock-plugin', { sha256: mockSha, command: 'my-mock-plugin', version: '0.0.0+mock', env: ['A=1'] });
    assert.equal(r.status, 204, await r.text());
    const keys = (await (await cluster.fetch('/v1/sys/plugins/catalog/secret?list=true', { headers: root })).json()).data.keys;
    assert.deepEqual(keys, ['cubbyhole', 'database', 'kv', 'my-mock-plugin'], 'the builtins cubbyhole, database and kv, and the registered plugin');
    const del = await cluster.fetch('/v1/sys/plugins/catalog/secret/absent-plugin', { method: 'DELETE', headers: root });
    assert.equal(del.status, 204, 'deleting what is absent is fine');
    const missing = await read('sys/plugins/catalog/auth/absent-plugin');
    assert.equal(missing.status, 404);
  });

  it('refuses bad registrations with Vault\'s messages', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['secret/x', { command: 'my-mock-plugin' }, /^missing SHA-256 value$/],
      ['secret/x', { sha256: 'zz', command: 'my-mock-plugin' }, /^Could not decode SHA-256 value from Hex$/],
      ['secret/x', { sha256: mockSha }, /^missing command value$/],
      ['secret/x', { sha256: mockSha, command: 'my-mock-plugin a', args: ['b'] }, /^must not specify args in command and args field$/],
      ['secret/x', { sha256: mockSha, command: 'my-mock-plugin', version: 'one' }, /^version "one" is not a valid semantic version/],
      ['secret/x', { sha256: mockSha, command: 'my-mock-plugin', version: '1.0.0+builtin' }, /'builtin' is a reserved metadata identifier/],
      ['secret/x', { sha256: mockSha, command: 'my-mock-plugin', version: '1.2.3' }, /^plugin version mismatch: x reported version \(v0\.0\.0\+mock\) did not match requested version \(v1\.2\.3\)$/],
      ['secret/x', { sha256: mockSha, command: '../../bin/sh' }, /path cannot contain parent references/],
      // As in Vault, a command is always relative to the plugin directory, even when it starts with `/`.
      ['secret/x', { sha256: mockSha, command: '/bin/sh' }, /^error while validating the command path: lstat \/bin\/sh: no such file/],
      ['secret/x', { sha256: mockSha, command: 'no-such-file' }, /^error while validating the command path/],
      ['auth/x', { sha256: mockSha, command: 'my-mock-plugin' }, /reports type "secret", not "auth"/],
    ];
    for (const [path, body, message] of cases) {
      const r = await write(`sys/plugins/catalog/${path}`, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.status}`);
      const errors = await errorsOf(r);
      assert.match(errors[0], message, JSON.stringify(body));
    }
    const auth = await (await read('sys/plugins/catalog')).json();
    assert.deepEqual(registered(auth.data, 'auth'), [], 'nothing was registered');
  });

  it('refuses a plugin file that group or others may write', async () => {
    const sha = script('loose', 'process.exit(0)');
    chmodSync(join(cluster.dir, 'loose'), 0o777);
    const r = await write('sys/plugins/catalog/loose', { sha256: sha, command: 'loose' });
    assert.equal(r.status, 400);
    assert.deepEqual(await errorsOf(r), ['path "loose" has insecure permissions 777. Coffer expects no write permissions for group or others']);
  });

  it('refuses a symlink that leads outside the plugin directory', async () => {
    symlinkSync('/bin/sh', join(cluster.dir, 'escape'));
    const r = await write('sys/plugins/catalog/escape', { sha256: sha256('/bin/sh'), command: 'escape' });
    assert.equal(r.status, 400);
    assert.match((await errorsOf(r))[0], /cannot execute files outside of configured plugin directory/);
  });

  it('refuses to launch a binary replaced after registration', async () => {
    const sha = script('swapped', readFileSync(join(cluster.dir, 'my-mock-plugin'), 'utf8').replace(/^#!.*\n/, ''));
    assert.equal((await write('sys/plugins/catalog/swapped', { sha256: sha, command: 'swapped' })).status, 204);
    script('swapped', 'process.exit(0)');
    const again = await write('sys/plugins/catalog/swapped', { sha256: sha, command: 'swapped' });
    assert.equal(again.status, 400, 'the probe launch is refused');
    assert.match((await errorsOf(again))[0], /checksums did not match/);
  });

  it('survives plugins that never say hello, print garbage, exit at once or flood stderr', async () => {
    const cases: [string, string, RegExp][] = [
      ['silent', 'setInterval(() => {}, 1000)', /handshake|did not/i],
      ['garbage', 'console.log("hello there, I am not a plugin"); setInterval(() => {}, 1000)', /handshake|garbage|unrecognized/i],
      ['quitter', 'process.exit(3)', /exited|code 3/i],
      ['flood', 'const line = "x".repeat(1000); const t = setInterval(() => { for (let i = 0; i < 500; i++) process.stderr.write(line + "\\n") }, 1); setTimeout(() => process.exit(1), 3000)', /handshake|exited|did not/i],
    ];
    for (const [name, body, message] of cases) {
      const sha = script(name, body);
      const r = await write(`sys/plugins/catalog/${name}`, { sha256: sha, command: name });
      assert.equal(r.status >= 400 && r.status < 600, true, `${name} → ${r.status}`);
      const errors = await errorsOf(r);
      assert.match(errors.join(' '), message, `${name}: ${errors.join(' ')}`);
      assert.equal((await cluster.fetch('/v1/sys/health')).status, 200, `still healthy after ${name}`);
    }
    const secret = registered((await (await read('sys/plugins/catalog')).json()).data, 'secret');
    assert.deepEqual(secret, ['my-mock-plugin', 'swapped'], 'none of them was registered');
  });

  it('refuses a login answered with both an auth object and an error: an error, and no token is ever issued', async () => {
    // An auth plugin written by hand, so it can say what no SDK plugin would: "here is your auth; login failed".
    const sha = script(
      'liar',
      `const fs = require('node:fs');
const out = (o) => fs.writeSync(1, JSON.stringify(o) + '\\n');
out({ coffer: 'plugin', protocol: 1, type: 'auth', name: 'liar', version: '', multiplex: true });
let buf = '';
process.stdin.on('data', (c) => {
  buf += c;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const m = JSON.parse(buf.slice(0, i));
    buf = buf.slice(i + 1);
    const reply = (result) => out({ jsonrpc: '2.0', id: m.id, result });
    if (m.method === 'specialPaths') reply({ unauthenticated: ['login'] });
    else if (m.method === 'exists') reply({ checkFound: false, exists: false });
    else if (m.method === 'handle') reply({ response: { auth: { policies: ['root'] }, data: { error: 'login failed' } } });
    else if (m.method === 'shutdown') { reply({}); process.exit(0); }
    else reply({});
  }
});`,
    );
    assert.equal((await write('sys/plugins/catalog/auth/liar', { sha256: sha, command: 'liar' })).status, 204);
    const enabled = await cluster.fetch('/v1/sys/auth/liar', { method: 'POST', headers: root, body: JSON.stringify({ type: 'liar' }) });
    assert.equal(enabled.status, 204, await enabled.text());

    const tokens = async () => {
      const db = new pg.Client({ connectionString: cluster.databaseUrl });
      await db.connect();
      try {
        return Number((await db.query('SELECT count(*) AS n FROM coffer_tokens')).rows[0].n);
      } finally {
        await db.end();
      }
    };
    const before = await tokens();
    // No token: login is the plugin's unauthenticated path.
    const login = await cluster.fetch('/v1/auth/liar/login', { method: 'POST', body: JSON.stringify({ username: 'u' }) });
    assert.equal(login.status, 500);
    const body = (await login.json()) as { errors: string[]; auth?: unknown };
    assert.match(body.errors.join(' '), /an auth response must not also carry an error/);
    assert.equal(body.auth, undefined, 'no auth block in the answer');
    assert.equal(await tokens(), before, 'no token was stored');
    assert.equal((await cluster.fetch('/v1/sys/health')).status, 200, 'still serving');
  });

  it('needs sudo: a token without it is refused', async () => {
    const policy = 'path "sys/plugins/catalog/*" { capabilities = ["create", "update", "read"] }';
    await write('sys/policies/acl/no-sudo', { policy });
    const token = (await (await write('auth/token/create', { policies: ['no-sudo'] })).json()).auth.client_token;
    const r = await cluster.fetch('/v1/sys/plugins/catalog/secret/x', {
      method: 'PUT',
      headers: { 'x-vault-token': token },
      body: JSON.stringify({ sha256: mockSha, command: 'my-mock-plugin' }),
    });
    assert.equal(r.status, 403);
  });
});
