import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { freePort } from './support/cluster.js';
import { REPO_ROOT } from './support/paths.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The `coffer` CLI as a Vault user drives it, against one `coffer server -dev`. */
describe('coffer CLI', () => {
  let server: ChildProcess;
  let output = '';
  let url: string;
  let root: string;
  let home: string;
  let sha: string;

  /** `coffer <args>` with VAULT_ADDR/VAULT_TOKEN/HOME set (override with `env`); never a stack trace. */
  async function coffer(args: string[], env: Record<string, string | undefined> = {}, input?: string): Promise<Run> {
    const merged: Record<string, string | undefined> = { ...process.env, VAULT_ADDR: url, VAULT_TOKEN: root, HOME: home, VAULT_FORMAT: undefined, ...env };
    for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), ...args], { env: merged as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input ?? '');
    const [code] = (await once(child, 'close')) as [number | null];
    assert.doesNotMatch(stderr, /\n\s+at /, `stack trace from coffer ${args.join(' ')}:\n${stderr}`);
    return { code, stdout, stderr };
  }

  const lines = (text: string) => text.replace(/\n$/, '').split('\n');

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'coffer-cli-'));
    const plugins = join(home, 'plugins');
    mkdirSync(plugins);
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(plugins, 'my-mock-plugin'));
    chmodSync(join(plugins, 'my-mock-plugin'), 0o755);
    sha = createHash('sha256').update(readFileSync(join(plugins, 'my-mock-plugin'))).digest('hex');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), 'server', '-dev', `-dev-listen-address=127.0.0.1:${port}`, `-dev-plugin-dir=${plugins}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!output.includes('Coffer server started')) {
      if (server.exitCode !== null) throw new Error(`dev server exited:\n${output}`);
      if (Date.now() > deadline) throw new Error(`dev server did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    root = /Root Token: (\S+)/.exec(output)![1];
  });

  after(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGKILL');
      await once(server, 'exit');
    }
    rmSync(home, { recursive: true, force: true });
  });

  it('runs the plugin guide line by line, printing what the guide shows', async () => {
    let r = await coffer(['write', 'sys/plugins/catalog/my-mock-plugin', `sha_256=${sha}`, 'command=my-mock-plugin']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ['Success! Data written to: sys/plugins/catalog/my-mock-plugin']);

    r = await coffer(['secrets', 'enable', '-path=my-secrets-plugin', '-plugin-name=my-mock-plugin', 'plugin']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ['Success! Enabled the my-mock-plugin plugin at: my-secrets-plugin/']);

    r = await coffer(['auth', 'enable', '-path=my-auth-plugin', '-plugin-name=my-mock-plugin', 'plugin']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.deepEqual(lines(r.stderr), [
      'Error enabling my-mock-plugin auth: Error making API request.',
      '',
      `URL: POST ${url}/v1/sys/auth/my-auth-plugin/`,
      'Code: 400. Errors:',
      '',
      "* cannot mount 'my-mock-plugin' of type 'secret' as an auth method",
    ]);

    r = await coffer(['write', 'my-secrets-plugin/kv/foo', 'value=bar']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ['Key      Value', '---      -----', 'value    bar']);

    r = await coffer(['secrets', 'disable', 'my-secrets-plugin']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ['Success! Disabled the secrets engine (if it existed) at: my-secrets-plugin/']);
  });

  it('reads, lists and deletes in table, json and yaml, and prints one field', async () => {
    assert.equal((await coffer(['secrets', 'enable', '-path=mock', 'my-mock-plugin'])).stdout, 'Success! Enabled the my-mock-plugin secrets engine at: mock/\n');
    assert.equal((await coffer(['write', 'mock/kv/foo', 'value=bar'])).code, 0);

    let r = await coffer(['read', 'mock/kv/foo']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ['Key        Value', '---        -----', 'value      bar', 'version    0']);

    r = await coffer(['read', '-format=json', 'mock/kv/foo']);
    assert.equal(r.code, 0, r.stderr);
    const envelope = JSON.parse(r.stdout);
    assert.deepEqual(envelope.data, { value: 'bar', version: 0 });
    assert.equal(envelope.mount_type, 'my-mock-plugin');
    assert.equal(envelope.lease_id, '');
    assert.match(r.stdout, /^{\n  "request_id": /);

    r = await coffer(['read', 'mock/kv/foo'], { VAULT_FORMAT: 'yaml' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parseYaml(r.stdout).data, { value: 'bar', version: 0 });

    r = await coffer(['read', '-field=value', 'mock/kv/foo']);
    assert.deepEqual([r.code, r.stdout], [0, 'bar']);
    r = await coffer(['read', '-field', 'nope', 'mock/kv/foo']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [1, '', 'Field "nope" not present in secret\n']);

    r = await coffer(['write', 'mock/kv/multi', 'value=-'], {}, 'from stdin');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await coffer(['read', '-field=value', 'mock/kv/multi'])).stdout, 'from stdin');

    r = await coffer(['list', 'mock/kv']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ['Keys', '----', 'foo', 'multi']);
    r = await coffer(['list', '-format=json', 'mock/kv']);
    assert.deepEqual(JSON.parse(r.stdout), ['foo', 'multi']);

    r = await coffer(['delete', 'mock/kv/foo']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Data deleted (if it existed) at: mock/kv/foo\n']);
    r = await coffer(['read', 'mock/kv/foo']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [2, '', 'No value found at mock/kv/foo\n']);

    r = await coffer(['secrets', 'list']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).slice(0, 2), ['Path     Type              Accessor                   Description', '----     ----              --------                   -----------']);
    assert.match(r.stdout, /\nmock\/\s{4}my-mock-plugin\s{4}my-mock-plugin_[0-9a-f]{8}\s{4}n\/a\n/);
  });

  it('refuses bad usage locally with exit 1 and no stack trace', async () => {
    let r = await coffer(['read', '-bogus', 'mock/kv/foo']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [1, '', 'flag provided but not defined: -bogus\n']);
    r = await coffer(['read']);
    assert.deepEqual([r.code, r.stderr], [1, 'Not enough arguments (expected 1, got 0)\n']);
    r = await coffer(['secrets', 'disable', 'a', 'b']);
    assert.deepEqual([r.code, r.stderr], [1, 'Too many arguments (expected 1, got 2)\n']);
    r = await coffer(['write', 'mock/kv/x', 'novalue']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Failed to parse K=V data: invalid key\/value pair "novalue"/);
    r = await coffer(['read', '-format=xml', 'mock/kv/foo']);
    assert.deepEqual([r.code, r.stderr], [1, 'Invalid output format: xml\n']);
  });

  it('reports an unreachable server and a bad token as Vault does, with exit 2', async () => {
    let r = await coffer(['write', 'secret/x', 'a=b'], { VAULT_ADDR: 'http://127.0.0.1:1' });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^Error writing data to secret\/x: Put "http:\/\/127\.0\.0\.1:1\/v1\/secret\/x": dial tcp 127\.0\.0\.1:1: connect: connection refused\n$/);

    r = await coffer(['read', 'mock/kv/foo'], { VAULT_TOKEN: 'hvs.not-a-token' });
    assert.equal(r.code, 2);
    assert.deepEqual(lines(r.stderr).slice(0, 5), ['Error reading mock/kv/foo: Error making API request.', '', `URL: GET ${url}/v1/mock/kv/foo`, 'Code: 403. Errors:', '']);
    assert.match(r.stderr, /\* permission denied/);
  });

  it('prints usage with examples for -h on every command', async () => {
    const commands = [
      ['read'], ['write'], ['list'], ['delete'], ['status'], ['login'],
      ['secrets', 'enable'], ['secrets', 'disable'], ['secrets', 'list'], ['secrets', 'tune'],
      ['auth', 'enable'], ['auth', 'disable'], ['auth', 'list'], ['auth', 'tune'],
      ['plugin', 'register'], ['plugin', 'list'], ['plugin', 'info'], ['plugin', 'deregister'],
      ['policy', 'write'], ['policy', 'read'], ['policy', 'list'], ['policy', 'delete'],
      ['token', 'create'], ['token', 'lookup'], ['token', 'revoke'],
      ['operator', 'init'], ['operator', 'unseal'], ['operator', 'seal'],
    ];
    await Promise.all(
      commands.map(async (c) => {
        const r = await coffer([...c, '-h']);
        assert.equal(r.code, 0, c.join(' '));
        assert.ok(r.stdout.startsWith(`Usage: coffer ${c.join(' ')}`), r.stdout);
        assert.match(r.stdout, /\$ coffer /, `${c.join(' ')} has examples`);
      }),
    );
  });

  it('manages plugins, policies and tokens, and logs in with the token helper file', async () => {
    let r = await coffer(['plugin', 'register', `-sha256=${sha}`, '-command=my-mock-plugin', '-version=v0.0.0+mock', 'secret', 'other-mock']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Registered plugin: other-mock\n'], r.stderr);
    r = await coffer(['plugin', 'info', '-version=v0.0.0+mock', '-field=sha256', 'secret', 'other-mock']);
    assert.deepEqual([r.code, r.stdout], [0, sha], r.stderr);
    r = await coffer(['plugin', 'list', 'secret']);
    assert.deepEqual(lines(r.stdout).slice(0, 2), ['Name              Version', '----              -------']);
    assert.match(r.stdout, /\nother-mock\s+v0\.0\.0\+mock\n/);
    r = await coffer(['plugin', 'deregister', '-version=v0.0.0+mock', 'secret', 'other-mock']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Deregistered plugin (if it was registered): other-mock\n'], r.stderr);
    r = await coffer(['plugin', 'register', 'secret', 'x']);
    assert.deepEqual([r.code, r.stderr], [1, 'SHA256 is required for all plugins, please provide -sha256\n']);

    r = await coffer(['policy', 'write', 'reader', '-'], {}, 'path "mock/*" {\n  capabilities = ["read", "list"]\n}\n');
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Uploaded policy: reader\n'], r.stderr);
    r = await coffer(['policy', 'read', 'reader']);
    assert.equal(r.stdout, 'path "mock/*" {\n  capabilities = ["read", "list"]\n}\n');
    r = await coffer(['policy', 'list']);
    assert.ok(lines(r.stdout).includes('reader'), r.stdout);

    r = await coffer(['token', 'create', '-policy=reader', '-ttl=1h', '-field=token']);
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout;
    assert.match(token, /^hvs\.\S+$/);

    // No VAULT_TOKEN: `login` stores the token in ~/.coffer-token (0600) and later commands use it.
    r = await coffer(['login', token], { VAULT_TOKEN: undefined });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).slice(0, 3), [
      'Success! You are now authenticated. The token information displayed below',
      'is already stored in the token helper. You do NOT need to run "coffer login"',
      'again. Future Coffer requests will automatically use this token.',
    ]);
    assert.match(r.stdout, /\ntoken_policies\s+\[default reader\]\n/);
    const file = join(home, '.coffer-token');
    assert.equal(readFileSync(file, 'utf8'), token);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    r = await coffer(['token', 'lookup', '-field=policies'], { VAULT_TOKEN: undefined });
    assert.deepEqual([r.code, r.stdout], [0, '["default","reader"]'], r.stderr);
    r = await coffer(['write', 'mock/kv/denied', 'a=b'], { VAULT_TOKEN: undefined });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Code: 403\. Errors:/);
    r = await coffer(['login', 'hvs.bogus'], { VAULT_TOKEN: undefined });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Error authenticating: Error making API request\./);
    assert.equal(readFileSync(file, 'utf8'), token, 'a failed login keeps the stored token');

    r = await coffer(['token', 'revoke', token]);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Revoked token (if it existed)\n'], r.stderr);
    r = await coffer(['policy', 'delete', 'reader']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Deleted policy: reader\n'], r.stderr);
  });

  it('reports seal status with its exit code, seals and unseals', async () => {
    let r = await coffer(['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).slice(0, 5), ['Key             Value', '---             -----', 'Seal Type       shamir', 'Initialized     true', 'Sealed          false']);
    r = await coffer(['operator', 'seal']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Coffer is sealed.\n'], r.stderr);
    r = await coffer(['status', '-format=json']);
    assert.equal(r.code, 2);
    assert.equal(JSON.parse(r.stdout).sealed, true);
    const key = /Unseal Key: (\S+)/.exec(output)![1];
    r = await coffer(['operator', 'unseal', key]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nSealed\s+false\n/);
    assert.equal((await coffer(['status'])).code, 0);
  });
});
