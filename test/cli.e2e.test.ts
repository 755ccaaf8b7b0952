import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { adminQuery, freePort, TEST_DATABASE_URL, TEST_NATS_URL } from './support/cluster.js';
import { startDevServer, type DevServer } from './support/dev-server.js';
import { REPO_ROOT } from './support/paths.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The `coffer` CLI as a Vault user drives it, against one `coffer server -dev`. */
describe('coffer CLI', () => {
  let server: DevServer;
  let url: string;
  let root: string;
  let home: string;
  let sha: string;

  /** `coffer <args>` with VAULT_ADDR/VAULT_TOKEN/HOME set (override with `env`); never a stack trace. */
  const coffer = (args: string[], env: Record<string, string | undefined> = {}, input?: string): Promise<Run> =>
    runCoffer(args, { VAULT_ADDR: url, VAULT_TOKEN: root, HOME: home, ...env }, input);

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'coffer-cli-'));
    const plugins = join(home, 'plugins');
    mkdirSync(plugins);
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(plugins, 'my-mock-plugin'));
    chmodSync(join(plugins, 'my-mock-plugin'), 0o755);
    sha = createHash('sha256').update(readFileSync(join(plugins, 'my-mock-plugin'))).digest('hex');
    // An auth method too, for `auth` and `login -method=userpass`.
    copyFileSync(join(REPO_ROOT, 'dist/plugins/userpass'), join(plugins, 'userpass'));
    chmodSync(join(plugins, 'userpass'), 0o755);
    server = await startDevServer({ args: [`-dev-plugin-dir=${plugins}`] });
    url = server.url;
    root = server.rootToken;
  });

  after(async () => {
    await server?.stop();
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
    // The dev server's own secret/ (kv v2), cubbyhole/ and sys/ are listed too, as on Vault's dev server.
    assert.deepEqual(lines(r.stdout).slice(0, 2), ['Path          Type              Accessor                   Description', '----          ----              --------                   -----------']);
    assert.match(r.stdout, /\ncubbyhole\/\s{4}cubbyhole\s{9}cubbyhole_[0-9a-f]{8}\s{9}per-token private secret storage\n/);
    assert.match(r.stdout, /\nmock\/\s{9}my-mock-plugin\s{4}my-mock-plugin_[0-9a-f]{8}\s{4}n\/a\n/);
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
      ['token', 'create'], ['token', 'lookup'], ['token', 'renew'], ['token', 'revoke'],
      ['operator', 'init'], ['operator', 'unseal'], ['operator', 'seal'],
      ['patch'], ['path-help'], ['secrets', 'move'], ['plugin', 'reload'], ['plugin', 'reload-status'],
    ];
    await Promise.all(
      commands.map(async (c) => {
        const r = await coffer([...c, '-h']);
        assert.equal(r.code, 0, c.join(' '));
        assert.ok(r.stdout.startsWith(`Usage: coffer ${c.join(' ')}`), r.stdout);
        assert.match(r.stdout, /\$ coffer /, `${c.join(' ')} has examples`);
      }),
    );
    // Every group and the top level list what they hold, the new commands included.
    const listed: [string[], string[]][] = [
      [['-h'], ['patch', 'path-help']],
      [['secrets', '-h'], ['enable', 'disable', 'list', 'tune', 'move']],
      [['token', '-h'], ['create', 'lookup', 'renew', 'revoke']],
      [['plugin', '-h'], ['register', 'list', 'info', 'deregister', 'reload', 'reload-status']],
    ];
    for (const [args, subs] of listed) {
      const r = await coffer(args);
      assert.equal(r.code, 0, args.join(' '));
      const text = r.stdout + r.stderr;
      for (const sub of subs) assert.match(text, new RegExp(`\n {4}${sub} +\\S`), `${args.join(' ')} lists ${sub}`);
    }
    const unknown = await coffer(['secrets', 'relocate']);
    assert.equal(unknown.code, 127);
    assert.match(unknown.stderr, /^Unknown subcommand: secrets relocate\n\nUsage: coffer secrets <subcommand>/);
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

  it('patches like write, only the fields given, and refuses a patch of nothing', async () => {
    assert.equal((await coffer(['write', 'mock/kv/patched', 'value=one'])).code, 0);
    let r = await coffer(['patch', 'mock/kv/patched', 'value=two']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ['Key      Value', '---      -----', 'value    two']);
    assert.equal((await coffer(['read', '-field=value', 'mock/kv/patched'])).stdout, 'two');

    r = await coffer(['patch', '-format=json', 'mock/kv/patched', 'value=-'], {}, 'three');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).data, { value: 'three' });
    r = await coffer(['patch', '-field=value', 'mock/kv/patched', 'value=four']);
    assert.deepEqual([r.code, r.stdout], [0, 'four']);

    // Nothing to merge into: the mock answers as Vault's kv-v2 does, a bare 404, and the command fails remotely.
    r = await coffer(['patch', 'mock/kv/absent', 'value=x']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.deepEqual(lines(r.stderr), ['Error writing data to mock/kv/absent: Error making API request.', '', `URL: PATCH ${url}/v1/mock/kv/absent`, 'Code: 404. Errors:', '', '']);
    assert.equal((await coffer(['read', 'mock/kv/absent'])).code, 2, 'a patch never creates');

    r = await coffer(['patch', 'mock/kv/patched']);
    assert.deepEqual([r.code, r.stderr], [1, 'Must supply data or use -force\n']);
    r = await coffer(['patch', 'mock/kv/patched', 'novalue']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Failed to parse K=V data: invalid key\/value pair "novalue"/);
    r = await coffer(['patch']);
    assert.deepEqual([r.code, r.stderr], [1, 'Not enough arguments (expected 1, got 0)\n']);
  });

  it("prints path help from the mount's plugin and from the gateway, as is", async () => {
    let r = await coffer(['path-help', 'mock']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).slice(0, 3), ["Vault's mock plugin: a small key/value store plus paths that exercise the plugin system.", '', '## PATHS']);
    assert.match(r.stdout, /\n {4}\^kv\/\?\$\n {8}Lists the keys\.\n/);

    r = await coffer(['path-help', 'mock/kv/foo']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).slice(0, 8), [
      'Request:        kv/foo',
      'Matching Route: ^kv/(?<key>\\w(([\\w.-]+)?\\w)?)$',
      '',
      'One string value.',
      '',
      '## PARAMETERS',
      '',
      '    key (string)',
    ]);
    assert.match(r.stdout, /\n## DESCRIPTION\n\nStores the raw string of `value` under the request path;[^\n]*\n$/);

    r = await coffer(['path-help', '-format=json', 'mock/kv/foo']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(JSON.parse(r.stdout).help, /^Request: {8}kv\/foo\nMatching Route: /);

    r = await coffer(['path-help', 'sys/mounts']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).slice(0, 4), ['Request:        sys/mounts', 'Matching Route: ^sys/mounts/?$', '', 'A path the Coffer gateway serves itself (read).']);
    r = await coffer(['path-help', 'sys/']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\n {4}\^sys\/plugins\/reload\/backend\/status\$\n {8}read; needs sudo\n/);

    r = await coffer(['path-help', 'sys/nowhere']);
    assert.equal(r.code, 2);
    assert.deepEqual(lines(r.stderr).slice(0, 6), [
      'Error retrieving help: Error making API request.',
      '',
      `URL: GET ${url}/v1/sys/nowhere?help=1`,
      'Code: 404. Errors:',
      '',
      '* 1 error occurred:',
    ]);
    r = await coffer(['path-help', 'nomount/x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\* no handler for route "nomount\/x"\. route entry not found\.\n$/);
    r = await coffer(['path-help', 'mock/kv/foo'], { VAULT_TOKEN: 'hvs.not-a-token' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Code: 403\. Errors:\n\n\* permission denied\n\* invalid token\n$/);
    r = await coffer(['path-help']);
    assert.deepEqual([r.code, r.stderr], [1, 'Not enough arguments (expected 1, got 0)\n']);
  });

  it('renews a token, its own or another, printing the auth table', async () => {
    let r = await coffer(['token', 'create', '-policy=default', '-ttl=1h', '-format=json']);
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout).auth as { client_token: string; accessor: string };

    r = await coffer(['token', 'renew', '-increment=2h', created.client_token]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).slice(0, 6), [
      'Key                  Value',
      '---                  -----',
      `token                ${created.client_token}`,
      `token_accessor       ${created.accessor}`,
      'token_duration       2h',
      'token_renewable      true',
    ]);
    assert.match(r.stdout, /\ntoken_policies       \[default\]\n/);

    r = await coffer(['token', 'renew', '-format=json', '-increment=30m', created.client_token]);
    assert.equal(r.code, 0, r.stderr);
    const auth = JSON.parse(r.stdout).auth;
    assert.deepEqual([auth.client_token, auth.lease_duration, auth.renewable], [created.client_token, 1800, true]);

    // No TOKEN: renew-self, which the default policy allows.
    r = await coffer(['token', 'renew', '-increment=45m'], { VAULT_TOKEN: created.client_token });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`\\ntoken {16}${created.client_token.replace(/\./g, '\\.')}\\n`));
    assert.match(r.stdout, /\ntoken_duration       45m\n/);

    r = await coffer(['token', 'renew', '-accessor', created.accessor]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\ntoken                n\/a\n/, 'renewing by accessor does not show the token');

    r = await coffer(['token', 'renew', 'hvs.not-a-token']);
    assert.equal(r.code, 2);
    assert.deepEqual(lines(r.stderr), ['Error renewing token: Error making API request.', '', `URL: POST ${url}/v1/auth/token/renew`, 'Code: 400. Errors:', '', '* token not found']);
    r = await coffer(['token', 'renew', '-increment=soon', created.client_token]);
    assert.deepEqual([r.code, r.stderr], [1, 'invalid value "soon" for flag -increment: time: invalid duration "soon"\n']);
    r = await coffer(['token', 'renew', 'a', 'b']);
    assert.deepEqual([r.code, r.stderr], [1, 'Too many arguments (expected 1, got 2)\n']);
    assert.equal((await coffer(['token', 'revoke', created.client_token])).code, 0);
  });

  it('moves a secrets engine with its data, reporting the migration as Vault does', async () => {
    assert.equal((await coffer(['secrets', 'enable', '-path=movable', 'my-mock-plugin'])).code, 0);
    assert.equal((await coffer(['write', 'movable/kv/k', 'value=travels'])).code, 0);
    let r = await coffer(['secrets', 'move', 'movable', 'moved/']);
    assert.equal(r.code, 0, r.stderr);
    const id = /with migration ID (\S+)\n/.exec(r.stdout)?.[1] ?? '';
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(lines(r.stdout), [
      `Started moving secrets engine movable/ to moved/, with migration ID ${id}`,
      `Success! Finished moving secrets engine movable/ to moved/, with migration ID ${id}`,
    ]);
    assert.equal((await coffer(['read', '-field=value', 'moved/kv/k'])).stdout, 'travels');
    assert.equal((await coffer(['read', 'movable/kv/k'])).code, 2);

    r = await coffer(['secrets', 'move', 'nowhere', 'elsewhere']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.deepEqual(lines(r.stderr).slice(0, 4), [
      'Error moving secrets engine nowhere/ to elsewhere/: Error making API request.',
      '',
      `URL: POST ${url}/v1/sys/remount`,
      'Code: 400. Errors:',
    ]);
    r = await coffer(['secrets', 'move', 'moved']);
    assert.deepEqual([r.code, r.stderr], [1, 'Not enough arguments (expected 2, got 1)\n']);
  });

  it('reloads a plugin locally or on every runner, waiting with progress, and reports per runner', async () => {
    let r = await coffer(['plugin', 'reload', '-plugin=my-mock-plugin']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Reloaded plugin: my-mock-plugin\n'], r.stderr);
    r = await coffer(['plugin', 'reload', '-mounts=mock,moved']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Reloaded mounts: [mock moved]\n'], r.stderr);

    // The mock's in-memory value is "bar" after setup: set it, and a reload (a fresh process) puts it back. Only the
    // global scope waits for the runners, so only it can be followed by a read that must see the new process.
    assert.equal((await coffer(['write', 'mock/internal', 'value=changed'])).code, 0);
    assert.equal((await coffer(['read', '-field=value', 'mock/internal'])).stdout, 'changed');
    r = await coffer(['plugin', 'reload', '-plugin=my-mock-plugin', '-scope=global']);
    assert.equal(r.code, 0, r.stderr);
    const id = /^Success! Reloading plugin: my-mock-plugin, reload_id: (\S+)\n$/.exec(r.stdout)?.[1] ?? '';
    assert.match(id, /^[0-9a-f-]{36}$/, r.stdout);
    assert.match(r.stderr, /^ {2}plugin-runner-[0-9a-f]{8}: reloaded\n$/m, 'each runner, on stderr');
    assert.equal((await coffer(['read', '-field=value', 'mock/internal'])).stdout, 'bar');

    r = await coffer(['plugin', 'reload-status', id]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).slice(0, 2), ['Time        Participant               Success    Message', '----        -----------               -------    -------']);
    assert.match(lines(r.stdout)[2], /^\d\d:\d\d:\d\d    plugin-runner-[0-9a-f]{8}    true       n\/a$/);
    r = await coffer(['plugin', 'reload-status', '-format=json', id]);
    const status = JSON.parse(r.stdout);
    assert.equal(status.reload_id, id);
    assert.deepEqual(status.in_progress, []);
    assert.deepEqual(Object.values(status.results).map((x) => (x as { success: boolean }).success), [true]);

    r = await coffer(['plugin', 'reload-status', 'not-a-reload']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Error retrieving plugin reload status: Error making API request\.\n\nURL: GET .*reload_id=not-a-reload\nCode: 404\./);
    r = await coffer(['plugin', 'reload', '-mounts=nowhere']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Error reloading plugin\/mounts: Error making API request\.\n[\s\S]*\* no mount at nowhere\n$/);
    r = await coffer(['plugin', 'reload']);
    assert.deepEqual([r.code, r.stderr], [1, 'Not enough arguments (expected 1, got 0)\n']);
    r = await coffer(['plugin', 'reload', '-plugin=a', '-mounts=b']);
    assert.deepEqual([r.code, r.stderr], [1, 'Too many arguments (expected 1, got 2)\n']);
    r = await coffer(['plugin', 'reload', '-plugin=a', '-scope=cluster']);
    assert.deepEqual([r.code, r.stderr], [1, 'Invalid reload scope: cluster\n']);
    r = await coffer(['plugin', 'reload-status']);
    assert.deepEqual([r.code, r.stderr], [1, 'Not enough arguments (expected 1, got 0)\n']);
  });

  it('prints mount tables, tuning, auth methods, logins, the catalog, policies and tokens as tables and as JSON', async () => {
    let r = await coffer(['secrets', 'enable', '-path=tables', 'my-mock-plugin']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Enabled the my-mock-plugin secrets engine at: tables/\n'], r.stderr);
    r = await coffer(['secrets', 'list', '-format=json']);
    assert.equal(r.code, 0, r.stderr);
    const secrets = JSON.parse(r.stdout);
    assert.equal(secrets['tables/'].type, 'my-mock-plugin');
    assert.match(secrets['tables/'].accessor, /^my-mock-plugin_[0-9a-f]{8}$/);
    r = await coffer(['secrets', 'tune', '-default-lease-ttl=1h', '-max-lease-ttl=2h', 'tables']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Tuned the secrets engine at: tables/\n'], r.stderr);
    r = await coffer(['read', '-format=json', 'sys/mounts/tables/tune']);
    assert.deepEqual([JSON.parse(r.stdout).data.default_lease_ttl, JSON.parse(r.stdout).data.max_lease_ttl], [3600, 7200]);
    r = await coffer(['secrets', 'list', '-detailed']);
    assert.match(lines(r.stdout)[0], /^Path\s+Plugin\s+Accessor\s+Default TTL\s+Max TTL\s+/);
    assert.match(r.stdout, /\ntables\/\s+my-mock-plugin\s+my-mock-plugin_[0-9a-f]{8}\s+3600\s+7200\s+/);

    r = await coffer(['auth', 'enable', '-path=up', 'userpass']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Enabled userpass auth method at: up/\n'], r.stderr);
    r = await coffer(['auth', 'list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(lines(r.stdout)[0], /^Path\s+Type\s+Accessor\s+Description/);
    assert.match(r.stdout, /\ntoken\/\s+token\s+auth_token_[0-9a-f]{8}\s+token based credentials/);
    assert.match(r.stdout, /\nup\/\s+userpass\s+auth_userpass_[0-9a-f]{8}\s/);
    r = await coffer(['auth', 'list', '-format=json']);
    const auths = JSON.parse(r.stdout);
    assert.deepEqual([auths['token/'].type, auths['up/'].type], ['token', 'userpass']);
    r = await coffer(['auth', 'tune', '-default-lease-ttl=30m', 'up']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Tuned the auth method at: up/\n'], r.stderr);
    assert.equal((await coffer(['write', 'auth/up/users/alice', 'password=pw', 'policies=default'])).code, 0);

    // -no-store: the token helper file keeps what the earlier test stored.
    r = await coffer(['login', '-method=userpass', '-path=up', '-no-store', 'username=alice', 'password=pw']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\ntoken\s+hvs\.\S+\n/);
    assert.match(r.stdout, /\ntoken_duration\s+30m\n/, 'the tuned default TTL of the mount');
    assert.match(r.stdout, /\ntoken_meta_username\s+alice\n/);
    assert.ok(!r.stdout.includes('pw\n'), 'the password is not printed');
    r = await coffer(['login', '-method=userpass', '-path=up', '-no-store', '-format=json', 'username=alice', 'password=pw']);
    const login = JSON.parse(r.stdout).auth;
    assert.match(login.client_token, /^hvs\./);
    assert.deepEqual([login.policies, login.lease_duration, login.metadata], [['default'], 1800, { username: 'alice' }]);
    r = await coffer(['auth', 'disable', 'up']);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Disabled the auth method (if it existed) at: up/\n'], r.stderr);

    r = await coffer(['plugin', 'list', '-format=json']);
    const catalog = JSON.parse(r.stdout);
    // kv, cubbyhole, approle and userpass are builtins (userpass's copy here has the builtin's bytes, so it is not registered again).
    assert.deepEqual([catalog.secret, catalog.auth], [['cubbyhole', 'database', 'kv', 'my-mock-plugin'], ['approle', 'userpass']]);
    r = await coffer(['plugin', 'info', '-version=v0.0.0+mock', 'secret', 'my-mock-plugin']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).slice(0, 2), ['Key                   Value', '---                   -----']);
    assert.ok(lines(r.stdout).includes(`sha256                ${sha}`), r.stdout);
    r = await coffer(['plugin', 'info', '-version=v0.0.0+mock', '-format=json', 'secret', 'my-mock-plugin']);
    assert.deepEqual([JSON.parse(r.stdout).data.sha256, JSON.parse(r.stdout).data.command], [sha, 'my-mock-plugin']);

    r = await coffer(['policy', 'write', 'tabled', '-'], {}, 'path "t/*" { capabilities = ["read"] }\n');
    assert.equal(r.code, 0, r.stderr);
    r = await coffer(['policy', 'list', '-format=json']);
    assert.ok(JSON.parse(r.stdout).includes('tabled'), r.stdout);
    r = await coffer(['policy', 'read', '-format=json', 'tabled']);
    assert.deepEqual(JSON.parse(r.stdout), { policy: 'path "t/*" { capabilities = ["read"] }\n' });

    r = await coffer(['token', 'create', '-policy=tabled', '-ttl=1h']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout).slice(0, 2), ['Key                  Value', '---                  -----']);
    assert.match(r.stdout, /\ntoken_duration\s+1h\n/);
    assert.match(r.stdout, /\ntoken_policies\s+\[default tabled\]\n/);
    const created = /\ntoken\s+(hvs\.\S+)\n/.exec(r.stdout)![1];
    r = await coffer(['token', 'create', '-policy=tabled', '-ttl=1h', '-format=json']);
    assert.deepEqual(JSON.parse(r.stdout).auth.token_policies, ['default', 'tabled']);
    r = await coffer(['token', 'lookup', created]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nid\s+hvs\.\S+\n/);
    assert.match(r.stdout, /\npolicies\s+\[default tabled\]\n/);
    assert.match(r.stdout, /\ncreation_ttl\s+1h\n/);
    r = await coffer(['token', 'lookup', '-format=json', created]);
    const looked = JSON.parse(r.stdout).data;
    assert.deepEqual([looked.id, looked.policies, looked.creation_ttl], [created, ['default', 'tabled'], 3600]);

    r = await coffer(['version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Coffer v\d+\.\d+\.\d+/);
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
    const key = server.unsealKey;
    // No KEY and stdin not a terminal: the key is the first line of stdin, and it is never echoed.
    r = await coffer(['operator', 'unseal'], {}, `${key}\nignored second line\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nSealed\s+false\n/);
    assert.equal(r.stderr, '', 'no prompt when stdin is not a terminal');
    assert.ok(!r.stdout.includes(key) && !r.stderr.includes(key), 'the key appears nowhere');
    assert.equal((await coffer(['status'])).code, 0);

    r = await coffer(['operator', 'seal']);
    assert.equal(r.code, 0, r.stderr);
    r = await coffer(['operator', 'unseal', '-format=json', key]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).sealed, false);
    r = await coffer(['operator', 'unseal'], {}, '\n');
    assert.deepEqual([r.code, r.stdout, r.stderr], [1, '', 'Missing unseal key\n']);
    r = await coffer(['operator', 'unseal', 'a', 'b']);
    assert.deepEqual([r.code, r.stderr], [1, 'Too many arguments (expected 1, got 2)\n']);
  });
});

/**
 * `operator init` needs a server nobody has initialized: `coffer server -config` (all four services in one process)
 * on a database of its own and a NATS namespace of its own, started anew for each form of the output.
 */
describe('coffer operator init', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-init-'));
  let server: ChildProcess | undefined;
  let url = '';
  let database = '';

  async function startFresh(): Promise<void> {
    database = `coffer_cli_init_${process.pid}_${Date.now().toString(36)}`;
    await adminQuery(`CREATE DATABASE ${database}`);
    const db = new URL(TEST_DATABASE_URL);
    db.pathname = `/${database}`;
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const config = join(dir, `${database}.hcl`);
    writeFileSync(
      config,
      `storage "postgresql" {\n  connection_url = "${db}"\n}\nbus "nats" {\n  url = "${TEST_NATS_URL}"\n  namespace = "${database}"\n}\n` +
        `listener "tcp" {\n  address = "127.0.0.1:${port}"\n  tls_disable = true\n}\nplugin_directory = "${dir}"\n`,
    );
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), 'server', `-config=${config}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    server = child;
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!log.includes('gateway listening')) {
      if (child.exitCode !== null) throw new Error(`server exited:\n${log}`);
      if (Date.now() > deadline) throw new Error(`server did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function stop(): Promise<void> {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
    server = undefined;
    if (database) await adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    database = '';
  }

  const coffer = (args: string[]): Promise<Run> => runCoffer(args, { VAULT_ADDR: url, HOME: dir, VAULT_TOKEN: undefined });

  after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('initializes with -format=json, refuses a second init, and the keys it printed unseal', async () => {
    await startFresh();
    let r = await coffer(['operator', 'init', '-status']);
    assert.deepEqual([r.code, r.stdout], [2, 'Coffer is not initialized\n']);
    r = await coffer(['operator', 'init', '-key-shares=3', '-key-threshold=2', '-format=json']);
    assert.equal(r.code, 0, r.stderr);
    const init = JSON.parse(r.stdout);
    assert.equal(init.unseal_keys_b64.length, 3);
    assert.equal(init.unseal_keys_hex.length, 3);
    assert.deepEqual([init.unseal_shares, init.unseal_threshold], [3, 2]);
    assert.match(init.root_token, /^hvs\.[A-Za-z0-9]{24}$/);
    r = await coffer(['operator', 'init', '-key-shares=1', '-key-threshold=1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Error initializing: Error making API request\./);
    assert.match(r.stderr, /\* Vault is already initialized\n$/);
    r = await coffer(['operator', 'init', '-status']);
    assert.deepEqual([r.code, r.stdout], [0, 'Coffer is initialized\n']);

    r = await coffer(['status', '-format=json']);
    assert.equal(r.code, 2, 'sealed');
    assert.deepEqual([JSON.parse(r.stdout).sealed, JSON.parse(r.stdout).t], [true, 2]);
    r = await coffer(['operator', 'unseal', init.unseal_keys_hex[0]]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nUnseal Progress\s+1\/2\n/);
    r = await coffer(['operator', 'unseal', '-format=json', init.unseal_keys_b64[2]]);
    assert.equal(JSON.parse(r.stdout).sealed, false);
    await stop();
  });

  it('prints the unseal keys and root token as Vault does in table form', async () => {
    await startFresh();
    const r = await coffer(['operator', 'init', '-key-shares=2', '-key-threshold=2']);
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.match(out[0], /^Unseal Key 1: \S{44}$/);
    assert.match(out[1], /^Unseal Key 2: \S{44}$/);
    assert.equal(out[2], '');
    assert.match(out[3], /^Initial Root Token: hvs\.[A-Za-z0-9]{24}$/);
    assert.equal(out[5], 'Coffer initialized with 2 key shares and a key threshold of 2. Please securely');
    await stop();
  });
});

function lines(text: string): string[] {
  return text.replace(/\n$/, '').split('\n');
}

/** `node bin/coffer.js <args>` with `env` over this process's (undefined removes a variable); never a stack trace. */
async function runCoffer(args: string[], env: Record<string, string | undefined>, input?: string): Promise<Run> {
  const merged: Record<string, string | undefined> = { ...process.env, VAULT_FORMAT: undefined, ...env };
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
