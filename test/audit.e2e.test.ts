import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Collector } from './support/collector.js';
import { startDevServer, type DevServer } from './support/dev-server.js';
import { eventually, rawRequest } from './support/http.js';
import { REPO_ROOT } from './support/paths.js';

const readLog = (path: string): any[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l))
    : [];

/** Every request id sent has a request entry and a response entry in `entries`. */
function assertRecorded(entries: any[], ids: string[], where: string): void {
  for (const id of ids) {
    const kinds = entries.filter((e) => e.request?.id === id).map((e) => e.type);
    assert.ok(kinds.includes('request'), `${where}: no request entry for ${id}`);
    assert.ok(kinds.includes('response'), `${where}: no response entry for ${id}`);
  }
}

/**
 * Audit devices on the dev server: the plugin guide walked with a file and a socket device on, the rules that keep
 * a device from becoming a way in, and fail-closed with an unwritable file and a collector that stops.
 */
describe('audit devices on the dev server', () => {
  let server: DevServer;
  let dir: string;
  let plugins: string;
  let collector: Collector;
  let root: Record<string, string>;
  const ids: string[] = [];
  const SECRET = 'the-secret-value-7f3a';
  const PASSWORD = 'correct-horse-battery-staple';

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = root) => {
    const r = await rawRequest(server.url, method, `/v1/${path}`, body === undefined ? undefined : JSON.stringify(body), headers);
    ids.push(String(r.headers['x-request-id']));
    return r;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coffer-audit-'));
    plugins = join(dir, 'plugins');
    mkdirSync(plugins);
    copyFileSync(join(REPO_ROOT, 'dist/plugins/userpass'), join(plugins, 'userpass'));
    chmodSync(join(plugins, 'userpass'), 0o755);
    collector = await Collector.start();
    server = await startDevServer({ args: [`-dev-plugin-dir=${plugins}`] });
    root = { 'x-vault-token': server.rootToken };
  });

  after(async () => {
    await server?.stop();
    await collector?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // CVE-2025-6000: an audit device used to write a plugin-shaped executable. Without audit devices these requests
  // were 404/405 (no such path); each must now be a 400 that enables nothing.
  it('refuses a device that could become a way in: a file in the plugin directory, an executable mode, a #! prefix', async () => {
    const inPlugins = await call('PUT', 'sys/audit/evil', { type: 'file', options: { file_path: join(plugins, 'evil') } });
    assert.equal(inPlugins.status, 400);
    assert.match(inPlugins.json().errors[0], /inside the plugin directory/);
    const exec = await call('PUT', 'sys/audit/evil', { type: 'file', options: { file_path: join(dir, 'evil'), mode: '0755' } });
    assert.equal(exec.status, 400);
    assert.match(exec.json().errors[0], /may not be executable/);
    const shebang = await call('PUT', 'sys/audit/evil', { type: 'file', options: { file_path: join(dir, 'evil'), prefix: '#!/bin/sh' } });
    assert.equal(shebang.status, 400);
    assert.match(shebang.json().errors[0], /may not start with "#!"/);
    assert.equal(existsSync(join(plugins, 'evil')), false);
    assert.equal(existsSync(join(dir, 'evil')), false);
    assert.deepEqual((await call('GET', 'sys/audit')).json().data, {});
  });

  it('needs sudo to enable, list or disable a device', async () => {
    const policy = 'path "sys/audit/*" { capabilities = ["create", "update", "read", "delete", "list"] }\npath "sys/audit" { capabilities = ["read"] }';
    assert.equal((await call('PUT', 'sys/policies/acl/auditor', { policy })).status, 204);
    const created = await call('POST', 'auth/token/create', { policies: ['auditor'] });
    const token = { 'x-vault-token': created.json().auth.client_token };
    const enable = await call('PUT', 'sys/audit/mine', { type: 'file', options: { file_path: join(dir, 'mine.log') } }, token);
    assert.equal(enable.status, 403);
    assert.equal((await call('GET', 'sys/audit', undefined, token)).status, 403);
    assert.equal(existsSync(join(dir, 'mine.log')), false);
  });

  it('walks the guide with a file and a socket device on: every request recorded twice, nothing secret in clear', async () => {
    const logPath = join(dir, 'audit.log');
    ids.length = 0;
    assert.equal((await call('PUT', 'sys/audit/file', { type: 'file', options: { file_path: logPath } })).status, 204);
    assert.equal((await call('PUT', 'sys/audit/socket', { type: 'socket', options: { address: collector.address, socket_type: 'tcp' } })).status, 204);
    const listed = (await call('GET', 'sys/audit')).json();
    assert.deepEqual(Object.keys(listed.data).sort(), ['file/', 'socket/']);
    assert.deepEqual(listed.data['file/'], { type: 'file', description: '', options: { file_path: logPath }, local: false, path: 'file/' });
    const first = ids.length; // from here on, both devices record every request
    const t0 = Date.now();

    // Vault's plugin guide: register, enable, write, read, list, disable.
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(plugins, 'my-mock-plugin'));
    chmodSync(join(plugins, 'my-mock-plugin'), 0o755);
    const sha = createHash('sha256').update(readFileSync(join(plugins, 'my-mock-plugin'))).digest('hex');
    assert.equal((await call('PUT', 'sys/plugins/catalog/secret/my-mock-plugin', { sha256: sha, command: 'my-mock-plugin' })).status, 204);
    assert.equal((await call('POST', 'sys/mounts/my-secrets-plugin', { type: 'plugin', plugin_name: 'my-mock-plugin' })).status, 204);
    assert.equal((await call('PUT', 'my-secrets-plugin/kv/foo', { value: SECRET })).status, 200);
    const read = await call('GET', 'my-secrets-plugin/kv/foo');
    assert.equal(read.json().data.value, SECRET);
    assert.deepEqual((await call('LIST', 'my-secrets-plugin/kv')).json().data, { keys: ['foo'] });
    // A login and a token: passwords and tokens must not reach the log either.
    assert.equal((await call('POST', 'sys/auth/userpass', { type: 'userpass' })).status, 204);
    assert.equal((await call('POST', 'auth/userpass/users/alice', { password: PASSWORD, policies: 'default' })).status, 204);
    const login = await call('POST', 'auth/userpass/login/alice', { password: PASSWORD });
    assert.equal(login.status, 200);
    const userToken = login.json().auth.client_token;
    const child = (await call('POST', 'auth/token/create', { policies: ['default'] })).json().auth.client_token;
    // Refused: an unknown token, and a valid token the ACL stops.
    assert.equal((await call('GET', 'my-secrets-plugin/kv/foo', undefined, { 'x-vault-token': 'hvs.not-a-token' })).status, 403);
    assert.equal((await call('GET', 'my-secrets-plugin/kv/foo', undefined, { 'x-vault-token': userToken })).status, 403);
    // A mount's audit_non_hmac_request_keys: those keys in clear, the others still hashed.
    assert.equal((await call('POST', 'sys/mounts/my-secrets-plugin/tune', { audit_non_hmac_request_keys: ['note'] })).status, 204);
    assert.deepEqual((await call('GET', 'sys/mounts/my-secrets-plugin/tune')).json().data.audit_non_hmac_request_keys, ['note']);
    assert.equal((await call('PUT', 'my-secrets-plugin/kv/bar', { value: SECRET, note: 'a-plain-note' })).status, 200);
    assert.equal((await call('DELETE', 'sys/mounts/my-secrets-plugin')).status, 204);
    const hashed = (await call('PUT', 'sys/audit-hash/file', { input: SECRET })).json().data.hash;
    const socketHashed = (await call('PUT', 'sys/audit-hash/socket', { input: SECRET })).json().data.hash;
    const walked = ids.slice(first);

    const fileLog = readLog(logPath);
    await eventually(async () => assertRecorded(collector.entries(), walked, 'socket'), 10_000);
    assertRecorded(fileLog, walked, 'file');
    const socketLog = collector.entries();

    // The write's value, hashed as sys/audit-hash hashes it, each device with its own salt.
    const writeId = walked[2];
    const fileWrite = fileLog.find((e) => e.type === 'request' && e.request.id === writeId);
    assert.equal(fileWrite.request.path, 'my-secrets-plugin/kv/foo');
    // Vault's existence check ran before the entry: a write of a key that is not there yet is a create.
    assert.equal(fileWrite.request.operation, 'create');
    assert.equal(fileWrite.request.mount_type, 'my-mock-plugin');
    assert.match(fileWrite.request.mount_accessor, /^my-mock-plugin_[0-9a-f]{8}$|^[a-z-]+_[0-9a-f]{8}$/);
    assert.equal(fileWrite.request.remote_address, '127.0.0.1');
    assert.deepEqual(fileWrite.auth.policies, ['root']);
    assert.equal(fileWrite.request.data.value, hashed);
    assert.match(hashed, /^hmac-sha256:[0-9a-f]{64}$/);
    assert.equal(socketLog.find((e) => e.type === 'request' && e.request.id === writeId).request.data.value, socketHashed);
    assert.notEqual(hashed, socketHashed);
    // The read's response carries the value, hashed too.
    const readResponse = fileLog.find((e) => e.type === 'response' && e.request.id === walked[3]);
    assert.equal(readResponse.response.data.value, hashed);
    const noted = fileLog.find((e) => e.type === 'request' && e.request.id === walked[13]);
    assert.deepEqual(noted.request.data, { value: hashed, note: 'a-plain-note' });
    // The refused requests, with the error that refused them (an ACL refusal in Vault's multierror text, as Vault logs it).
    const badToken = fileLog.filter((e) => e.request.id === walked[9]);
    assert.deepEqual(badToken.map((e) => [e.type, e.error]), [['request', 'permission denied'], ['response', 'permission denied']]);
    assert.equal(badToken[0].auth, undefined);
    const denied = fileLog.filter((e) => e.request.id === walked[10]);
    assert.deepEqual(denied.map((e) => [e.type, e.error]), [['request', '1 error occurred:\n\t* permission denied\n\n'], ['response', '1 error occurred:\n\t* permission denied\n\n']]);
    assert.deepEqual(denied[0].auth.policies, ['default']);
    // Time order, and within the walk.
    for (const e of fileLog.filter((x) => walked.includes(x.request.id))) assert.ok(Date.parse(e.time) >= t0 - 1000);

    for (const [name, text] of [['file', readFileSync(logPath, 'utf8')], ['socket', collector.lines.join('\n')]] as const) {
      for (const secret of [SECRET, PASSWORD, server.rootToken, userToken, child, server.unsealKey]) {
        assert.equal(text.includes(secret), false, `${name} log holds a secret in clear: ${secret.slice(0, 6)}...`);
      }
    }
    const mode = (await import('node:fs')).statSync(logPath).mode & 0o777;
    assert.equal(mode, 0o600);
  });

  it('fails closed: a file that cannot be written refuses every request and runs none, until it can again', async () => {
    assert.equal((await call('DELETE', 'sys/audit/socket')).status, 204);
    const logPath = join(dir, 'audit.log');
    // The file becomes a directory: nothing can be appended to it any more.
    rmSync(logPath);
    mkdirSync(logPath);
    const write = await call('PUT', 'sys/policies/acl/written-while-failing', { policy: 'path "x" { capabilities = ["read"] }' });
    assert.equal(write.status, 500);
    assert.deepEqual(write.json(), { errors: ['internal error'] });
    assert.equal((await call('GET', 'sys/mounts')).status, 500);
    rmdirSync(logPath);
    // It recovers by itself: the next request is recorded and served, and the refused write never happened.
    assert.equal((await call('GET', 'sys/policies/acl/written-while-failing')).status, 404);
    const log = readLog(logPath);
    assert.ok(log.some((e) => e.request?.path === 'sys/policies/acl/written-while-failing' && e.request.operation === 'read'));
    assert.equal(log.some((e) => e.request?.operation !== 'read' && e.request?.path === 'sys/policies/acl/written-while-failing'), false);
  });

  it('fails closed when the only device is a socket whose collector stopped, and uses it again when it is back', async () => {
    const lone = await Collector.start();
    assert.equal((await call('PUT', 'sys/audit/lone', { type: 'socket', options: { address: lone.address } })).status, 204);
    assert.equal((await call('DELETE', 'sys/audit/file')).status, 204);
    assert.equal((await call('GET', 'sys/mounts')).status, 200);
    await lone.stop();
    // The gateway notices the hang-up; from then on requests are refused.
    await eventually(async () => assert.equal((await call('GET', 'sys/mounts')).status, 500), 10_000, 100);
    const write = await call('PUT', 'sys/policies/acl/written-while-down', { policy: 'path "x" { capabilities = ["read"] }' });
    assert.equal(write.status, 500);
    await lone.resume();
    await eventually(async () => assert.equal((await call('GET', 'sys/mounts')).status, 200), 10_000, 100);
    assert.equal((await call('GET', 'sys/policies/acl/written-while-down')).status, 404);
    assert.equal(lone.entries().some((e) => e.request.path === 'sys/policies/acl/written-while-down' && e.request.operation !== 'read'), false);
    assert.ok(lone.entries().some((e) => e.request.path === 'sys/policies/acl/written-while-down' && e.request.operation === 'read'));
    // With no device left, nothing is required any more.
    assert.equal((await call('DELETE', 'sys/audit/lone')).status, 204);
    await lone.stop();
    assert.equal((await call('GET', 'sys/mounts')).status, 200);
    await collector.stop();
  });

  it('CLI: coffer audit enable, list, disable and read sys/audit-hash print what Vault prints', async () => {
    const coffer = async (...args: string[]) => {
      const env: NodeJS.ProcessEnv = { ...process.env, VAULT_ADDR: server.url, VAULT_TOKEN: server.rootToken };
      delete env.VAULT_FORMAT;
      const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const [code] = (await once(child, 'close')) as [number];
      return { code, stdout, stderr };
    };
    assert.deepEqual(await coffer('audit', 'list'), { code: 2, stdout: 'No audit devices are enabled.\n', stderr: '' });
    const logPath = join(dir, 'cli.log');
    let r = await coffer('audit', 'enable', 'file', `file_path=${logPath}`);
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Enabled the file audit device at: file/\n'], r.stderr);
    r = await coffer('audit', 'enable', '-path=discarded', '-description=nowhere', 'file', 'file_path=discard');
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Enabled the file audit device at: discarded/\n'], r.stderr);
    r = await coffer('audit', 'list');
    assert.deepEqual([r.code, r.stdout], [0, 'Path          Type    Description\n----          ----    -----------\ndiscarded/    file    nowhere\nfile/         file    n/a\n']);
    r = await coffer('audit', 'list', '-detailed');
    assert.equal(r.stdout.split('\n')[0], 'Path          Type    Description    Replication    Options');
    assert.match(r.stdout, new RegExp(`file/\\s+file\\s+n/a\\s+replicated\\s+file_path=${logPath.replace(/[.]/g, '\\.')}\\n`));
    r = await coffer('audit', 'enable', '-path=other', 'file', `file_path=${join(plugins, 'x')}`);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Error enabling audit device: Error making API request\.[\s\S]*Code: 400[\s\S]*inside the plugin directory/);
    r = await coffer('read', 'sys/audit-hash/file', 'input=hello');
    assert.equal(r.code, 0, r.stderr);
    const expected = (await call('PUT', 'sys/audit-hash/file', { input: 'hello' })).json().data.hash;
    assert.equal(r.stdout, `Key     Value\n---     -----\nhash    ${expected}\n`);
    r = await coffer('write', '-field=hash', 'sys/audit-hash/file', 'input=hello');
    assert.equal(r.stdout, expected);
    r = await coffer('audit', 'disable', 'file');
    assert.deepEqual([r.code, r.stdout], [0, 'Success! Disabled audit device (if it was enabled) at: file/\n']);
    r = await coffer('audit', 'disable', 'discarded/');
    assert.equal(r.code, 0);
    assert.equal((await coffer('audit', 'list')).code, 2);
    // The CLI's own requests were recorded while the device was on.
    assert.ok(readLog(logPath).some((e) => e.type === 'response' && e.request.path === 'sys/audit-hash/file'));
  });

  it('records help, a login, a wrapped response and refusals as Vault does; nothing while sealed', async () => {
    const logPath = join(dir, 'edges.log');
    assert.equal((await call('PUT', 'sys/audit/edges', { type: 'file', options: { file_path: logPath } })).status, 204);
    const hash = async (input: string) => (await call('PUT', 'sys/audit-hash/edges', { input })).json().data.hash as string;
    const entriesOf = (id: string) => readLog(logPath).filter((e) => e.request?.id === id);

    // Help is a request like any: Vault's operation `help`, and with no token it is refused and recorded so.
    const help = await call('GET', 'sys/mounts?help=1');
    assert.equal(help.status, 200);
    const helpEntries = entriesOf(String(help.headers['x-request-id']));
    assert.deepEqual(helpEntries.map((e) => [e.type, e.request.operation, e.request.path]), [['request', 'help', 'sys/mounts'], ['response', 'help', 'sys/mounts']]);
    const anonymousHelp = await call('GET', 'sys/mounts?help=1', undefined, {});
    assert.equal(anonymousHelp.status, 403);
    assert.deepEqual(entriesOf(String(anonymousHelp.headers['x-request-id'])).map((e) => [e.type, e.error]), [['request', 'permission denied'], ['response', 'permission denied']]);
    // A verb the path does not serve: refused before it ran, recorded with the error.
    const wrongVerb = await call('DELETE', 'sys/mounts');
    assert.equal(wrongVerb.status, 405);
    assert.equal(entriesOf(String(wrongVerb.headers['x-request-id'])).length, 2);

    // A login: the request carries no auth, the response the issued token, hashed as sys/audit-hash hashes it.
    const login = await call('POST', 'auth/userpass/login/alice', { password: PASSWORD });
    assert.equal(login.status, 200);
    const issued = login.json().auth;
    const [loginRequest, loginResponse] = entriesOf(String(login.headers['x-request-id']));
    assert.equal(loginRequest.auth, undefined);
    assert.equal(loginRequest.request.data.password, await hash(PASSWORD));
    assert.equal(loginResponse.response.auth.client_token, await hash(issued.client_token));
    assert.equal(loginResponse.response.auth.accessor, await hash(issued.accessor));
    assert.deepEqual(loginResponse.response.auth.policies, issued.policies);

    // A wrapped response is logged as the client got it: wrap_info, its token hashed, no data and no auth.
    const wrapped = await call('POST', 'auth/token/create', { policies: ['default'] }, { ...root, 'x-vault-wrap-ttl': '60' });
    assert.equal(wrapped.status, 200);
    const wrapInfo = wrapped.json().wrap_info;
    const [, wrapResponse] = entriesOf(String(wrapped.headers['x-request-id']));
    assert.equal(wrapResponse.response.wrap_info.token, await hash(wrapInfo.token));
    assert.equal(wrapResponse.response.wrap_info.accessor, await hash(wrapInfo.accessor));
    assert.equal(wrapResponse.response.wrap_info.creation_path, 'auth/token/create');
    assert.equal(wrapResponse.response.wrap_info.ttl, 60);
    assert.equal(wrapResponse.response.auth, undefined);
    assert.equal(wrapResponse.response.data, undefined);
    const unwrapped = await call('PUT', 'sys/wrapping/unwrap', {}, { 'x-vault-token': wrapInfo.token });
    assert.equal(unwrapped.status, 200);
    const childToken = unwrapped.json().auth.client_token;
    const [unwrapRequest, unwrapResponse] = entriesOf(String(unwrapped.headers['x-request-id']));
    assert.equal(unwrapRequest.auth.client_token, await hash(wrapInfo.token));
    assert.equal(unwrapResponse.response.auth.client_token, await hash(childToken));

    // Sealed: Vault's audit devices are behind the barrier, so a sealed 503 is not recorded; after unseal they are.
    assert.equal((await call('PUT', 'sys/seal')).status, 204);
    const sealed = await call('GET', 'sys/mounts');
    assert.equal(sealed.status, 503);
    assert.equal((await call('PUT', 'sys/unseal', { key: server.unsealKey })).status, 200);
    await eventually(async () => assert.equal((await call('GET', 'sys/mounts')).status, 200), 10_000, 100);
    const afterUnseal = await call('GET', 'sys/mounts');
    assert.equal(entriesOf(String(sealed.headers['x-request-id'])).length, 0);
    assert.equal(entriesOf(String(afterUnseal.headers['x-request-id'])).length, 2);

    const text = readFileSync(logPath, 'utf8');
    for (const secret of [PASSWORD, server.rootToken, issued.client_token, wrapInfo.token, childToken]) {
      assert.equal(text.includes(secret), false, `the log holds a secret in clear: ${secret.slice(0, 6)}...`);
    }
    assert.equal((await call('DELETE', 'sys/audit/edges')).status, 204);
  });
});
