/**
 * `coffer plugin test`, the conformance kit, run as a user runs it (the CLI as a process) on real plugin
 * executables: the bundled plugins, the docs' Python example, a Python plugin built on docs/examples/coffer_plugin.py,
 * and broken fixtures that must each fail the one check that names what is wrong with them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer } from './support/dev-server.js';
import { REPO_ROOT } from './support/paths.js';

interface KitRun {
  code: number | null;
  output: string;
  /** status by check name, from the PASS/FAIL/SKIP lines */
  checks: Map<string, { status: string; detail: string }>;
}

function runKit(file: string, flags: string[] = []): Promise<KitRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), 'plugin', 'test', ...flags, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const checks = new Map<string, { status: string; detail: string }>();
      for (const m of output.matchAll(/^(PASS|FAIL|SKIP) {2}([^:\n]+)(?:: (.*))?$/gm)) checks.set(m[2]!, { status: m[1]!, detail: m[3] ?? '' });
      resolve({ code, output, checks });
    });
  });
}

function assertAllPass(run: KitRun): void {
  const failed = [...run.checks].filter(([, c]) => c.status === 'FAIL');
  assert.deepEqual(failed, [], run.output);
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /\n\d+ passed, 0 failed, \d+ skipped\n/);
  // The checks the issue names all ran.
  for (const name of ['handshake', 'method handle', 'unknown method gets -32601', 'invalid params to handle get -32602', 'timeouts', 'concurrent calls', 'shutdown', 'protocol hygiene']) {
    assert.equal(run.checks.get(name)?.status, 'PASS', `${name}\n${run.output}`);
  }
}

const python = spawnSync('python3', ['-c', '0']).status === 0;
let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'coffer-kit-test-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('the bundled plugins pass', () => {
  it('template, with its greeting path', async () => {
    const run = await runKit(join(REPO_ROOT, 'dist/plugins/template'), ['-type=secret', '-path=greeting', '-data={"text":"x"}']);
    assertAllPass(run);
    assert.equal(run.checks.get('storage scoping')?.status, 'PASS');
    assert.equal(run.checks.get('large values stored and read back')?.status, 'PASS');
    // No scheduled work: periodic's -32601 is the protocol's own answer, a pass.
    assert.deepEqual(run.checks.get('method periodic'), { status: 'PASS', detail: 'answered -32601: optional, for a plugin with no scheduled work' });
  });
  it('mock-plugin, with kv/<key>', async () => {
    const run = await runKit(join(REPO_ROOT, 'dist/plugins/mock-plugin'), ['-type=secret', '-path=kv/conformance']);
    assertAllPass(run);
    // Protocol 4 (the SDK): the existence check and the write in one call, and a refused write stores nothing.
    assert.equal(run.checks.get('handle with choose')?.status, 'PASS', run.output);
  });
  it('userpass, with users/<name>; it has renewAuth, and its answer is checked', async () => {
    const run = await runKit(join(REPO_ROOT, 'dist/plugins/userpass'), ['-type=auth', '-path=users/conformance', '-data={"password":"p","policies":"a"}']);
    assertAllPass(run);
    assert.equal(run.checks.get('method renewAuth')?.status, 'PASS', run.output);
    assert.doesNotMatch(run.checks.get('method renewAuth')!.detail, /-32601/, 'userpass implements it');
    assert.equal(run.checks.get('invalid params to renewAuth get -32602')?.status, 'PASS', run.output);
  });
  // The builtins bundled since (kv, cubbyhole, approle, database) face the same kit.
  it('kv, with a key of its v1 layout', async () => {
    assertAllPass(await runKit(join(REPO_ROOT, 'dist/plugins/kv'), ['-type=secret', '-path=conformance']));
  });
  it('cubbyhole, with a key of the calling token', async () => {
    assertAllPass(await runKit(join(REPO_ROOT, 'dist/plugins/cubbyhole'), ['-type=secret', '-path=conformance']));
  });
  it('database, with roles/<name> (a role write needs no connection)', async () => {
    const run = await runKit(join(REPO_ROOT, 'dist/plugins/database'), ['-type=secret', '-path=roles/conformance', '-data={"db_name":"x"}']);
    assertAllPass(run);
    // The database engine rotates static roles on schedule: it has periodic, and its answer matches the schema.
    assert.equal(run.checks.get('method periodic')?.status, 'PASS', run.output);
    assert.doesNotMatch(run.checks.get('method periodic')!.detail, /-32601/);
    assert.equal(run.checks.get('invalid params to periodic get -32602')?.status, 'PASS', run.output);
  });
  it('approle (its role writes need the host\'s existence check, which the kit does not run: no -path)', async () => {
    assertAllPass(await runKit(join(REPO_ROOT, 'dist/plugins/approle'), ['-type=auth']));
  });
  it('without -path the storage checks are skipped, and say how to run them', async () => {
    const run = await runKit(join(REPO_ROOT, 'dist/plugins/template'));
    assertAllPass(run);
    // A plugin without renewAuth passes: -32601 is the protocol's answer for it.
    assert.equal(run.checks.get('method renewAuth')?.status, 'PASS', run.output);
    assert.match(run.checks.get('method renewAuth')!.detail, /answered -32601: optional/);
    assert.equal(run.checks.get('storage scoping')?.status, 'SKIP');
    assert.match(run.checks.get('storage scoping')!.detail, /-path=PATH/);
  });
  it('-type that the hello contradicts fails the handshake', async () => {
    const run = await runKit(join(REPO_ROOT, 'dist/plugins/template'), ['-type=auth']);
    assert.equal(run.code, 2);
    assert.match(run.checks.get('handshake')!.detail, /the hello says type "secret", expected "auth"/);
  });
});

describe('Python', { skip: !python && 'no python3' }, () => {
  it("the docs' Python example passes", async () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs/plugin-protocol.md'), 'utf8');
    const code = /```python\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(code);
    const file = join(work, 'docs-example');
    writeFileSync(file, code, { mode: 0o755 });
    const run = await runKit(file, ['-type=secret', '-path=kv/x']);
    assertAllPass(run);
    assert.equal(run.checks.get('storage scoping')?.status, 'PASS');
    // A protocol-2 plugin: the host keeps asking exists, then handle.
    assert.equal(run.checks.get('handle with choose')?.status, 'SKIP');
  });

  /** docs/examples/pykv.py with the helper inside, as one zipapp file (built once). */
  let pykv: string | undefined;
  const buildPykv = () => {
    if (pykv) return pykv;
    const dir = join(work, 'pykv-build');
    mkdirSync(dir);
    copyFileSync(join(REPO_ROOT, 'docs/examples/coffer_plugin.py'), join(dir, 'coffer_plugin.py'));
    copyFileSync(join(REPO_ROOT, 'docs/examples/pykv.py'), join(dir, '__main__.py'));
    const file = join(work, 'pykv');
    const zip = spawnSync('python3', ['-m', 'zipapp', dir, '-p', '/usr/bin/env python3', '-o', file], { encoding: 'utf8' });
    assert.equal(zip.status, 0, zip.stderr);
    return (pykv = file);
  };

  it('a plugin built on docs/examples/coffer_plugin.py, as one zipapp file, passes', async () => {
    const run = await runKit(buildPykv(), ['-type=secret', '-path=kv/x']);
    assertAllPass(run);
    assert.equal(run.checks.get('method help')?.status, 'PASS');
    assert.equal(run.checks.get('large values stored and read back')?.status, 'PASS');
    // It speaks protocol 3 and issues leases: renew and revoke are answered (the kit's made-up lease is refused).
    assert.match(run.checks.get('handshake')!.detail, /protocol 3/);
    for (const method of ['renew', 'revoke']) {
      assert.equal(run.checks.get(`method ${method}`)?.status, 'PASS', run.output);
      assert.doesNotMatch(run.checks.get(`method ${method}`)!.detail, /-32601/);
      assert.equal(run.checks.get(`invalid params to ${method} get -32602`)?.status, 'PASS', run.output);
    }
    assert.match(run.checks.get('method renewAuth')!.detail, /answered -32601/, 'a secrets engine has no renewAuth');
  });

  it("the zipapp on a dev server: a token under a lease (Vault's framework.Secret shape), renewed, then revoked", async () => {
    const plugins = join(work, 'dev-plugins');
    mkdirSync(plugins);
    copyFileSync(buildPykv(), join(plugins, 'pykv'));
    chmodSync(join(plugins, 'pykv'), 0o755);
    const server = await startDevServer({ args: [`-dev-plugin-dir=${plugins}`] });
    try {
      const call = async (method: string, path: string, body?: unknown) => {
        const r = await fetch(`${server.url}/v1/${path}`, { method, headers: { 'x-vault-token': server.rootToken }, body: body === undefined ? undefined : JSON.stringify(body) });
        const text = await r.text();
        return { status: r.status, body: text ? JSON.parse(text) : null };
      };
      assert.equal((await call('POST', 'sys/mounts/py', { type: 'pykv' })).status, 204);
      const issued = await call('GET', 'py/tokens/ci');
      assert.equal(issued.status, 200, JSON.stringify(issued.body));
      const { lease_id: leaseId, lease_duration: duration, renewable, data } = issued.body;
      assert.match(leaseId, /^py\/tokens\/ci\/[0-9A-Za-z]{24}$/);
      assert.deepEqual([duration, renewable], [60, true], "the Secret's default TTL");
      assert.equal(Object.keys(data).sort().join(), 'token,token_id', 'the internal data is not shown');
      assert.deepEqual((await call('LIST', 'py/issued')).body.data.keys, [data.token_id]);

      const renewed = await call('PUT', 'sys/leases/renew', { lease_id: leaseId, increment: 300 });
      assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
      assert.equal(renewed.body.lease_duration, 300);

      assert.equal((await call('PUT', 'sys/leases/revoke', { lease_id: leaseId, sync: true })).status, 204);
      assert.equal((await call('LIST', 'py/issued')).status, 404, 'revoke_token ran: the record is gone');
      assert.equal((await call('PUT', 'sys/leases/renew', { lease_id: leaseId })).status, 400, 'a revoked lease is not renewed');
    } finally {
      await server.stop();
    }
  });

  it('an auth plugin on the helper with auth_renew answers renewAuth (its refusal is checked as an answer, not -32601)', async () => {
    const dir = join(work, 'pyauth-build');
    mkdirSync(dir);
    copyFileSync(join(REPO_ROOT, 'docs/examples/coffer_plugin.py'), join(dir, 'coffer_plugin.py'));
    writeFileSync(
      join(dir, '__main__.py'),
      [
        'from coffer_plugin import Backend, PluginError, serve',
        'class PyAuth(Backend):',
        '    type, name, version = "auth", "pyauth", "v0.1.0"',
        '    unauthenticated = ("login/*",)',
        '    def auth_renew(self, req):',
        '        if req.storage.get("user/" + req.auth["metadata"].get("username", "")) is None:',
        '            raise PluginError("invalid-request", "user no longer exists")',
        '        return {"ttl": req.increment}',
        'serve(PyAuth())',
        '',
      ].join('\n'),
    );
    const file = join(work, 'pyauth');
    const zip = spawnSync('python3', ['-m', 'zipapp', dir, '-p', '/usr/bin/env python3', '-o', file], { encoding: 'utf8' });
    assert.equal(zip.status, 0, zip.stderr);
    const run = await runKit(file, ['-type=auth']);
    assertAllPass(run);
    assert.equal(run.checks.get('method renewAuth')?.status, 'PASS', run.output);
    assert.match(run.checks.get('method renewAuth')!.detail, /user no longer exists/);
    assert.equal(run.checks.get('invalid params to renewAuth get -32602')?.status, 'PASS', run.output);
    assert.match(run.checks.get('method renew')!.detail, /-32601/, 'no secrets declared: no renew');
  });

  it('the same plugin as a script that imports the helper from beside it fails, saying a plugin must be one file', async () => {
    const run = await runKit(join(REPO_ROOT, 'docs/examples/pykv.py'));
    assert.equal(run.code, 2);
    assert.equal(run.checks.get('handshake')?.status, 'FAIL');
    assert.match(run.checks.get('handshake')!.detail, /a plugin must be ONE file/);
  });
});

describe('broken fixtures fail, each with a message naming what is wrong', () => {
  const base = readFileSync(join(REPO_ROOT, 'test/fixtures/conformance/base.mjs'), 'utf8');
  const fixture = (name: string, breakage: string) => {
    const file = join(work, name);
    writeFileSync(file, `#!/usr/bin/env node\n${base}\nrun(${breakage});\n`);
    chmodSync(file, 0o755);
    return file;
  };
  const cases: { name: string; breakage: string; flags?: string[]; check: string; message: RegExp }[] = [
    { name: 'no-hello', breakage: '{ noHello: true }', flags: ['-start-timeout=2000'], check: 'handshake', message: /did not complete its handshake within 2000 ms/ },
    { name: 'bad-hello', breakage: "{ hello: { coffer: 'plugin', protocol: 1, type: 'secret', name: 'f', version: 'v1.0.0' } }", check: 'handshake', message: /invalid handshake \(hello.*multiplex/ },
    { name: 'runs-by-hand', breakage: '{ runsByHand: true }', check: 'refuses to run by hand', message: /without COFFER_PLUGIN_MAGIC it wrote to stdout/ },
    { name: 'unknown-method-code', breakage: '{ unknownMethodCode: -32000 }', check: 'unknown method gets -32601', message: /answered with error -32000.*expected error -32601/ },
    { name: 'no-param-check', breakage: '{ noParamCheck: true }', check: 'invalid params to handle get -32602', message: /no params \(\{\}\) was answered .*expected error -32602/ },
    { name: 'stray-stdout', breakage: '{ strayStdout: true }', flags: ['-path=kv/x'], check: 'protocol hygiene', message: /not JSON on stdout \(log to stderr instead\): "debug: handling/ },
    { name: 'leaky-mounts', breakage: '{ leaky: true }', flags: ['-path=kv/x'], check: 'storage scoping', message: /mount b read what was written on mount a/ },
    { name: 'wrong-mount', breakage: '{ wrongMount: true }', flags: ['-path=kv/x'], check: 'storage scoping', message: /while handling a call for mount b it called storage.get for mount "conformance-a-/ },
    { name: 'ignores-shutdown', breakage: '{ ignoresShutdown: true }', check: 'shutdown', message: /did not exit within 3000 ms of being asked to shut down/ },
    { name: 'ignores-choose', breakage: '{ ignoresChoose: true }', flags: ['-path=kv/x'], check: 'handle with choose', message: /does not say the operation it picked/ },
    { name: 'hangs-on-exists', breakage: "{ hangOn: 'exists' }", flags: ['-timeout=2000'], check: 'method exists', message: /did not answer exists within \d+ ms/ },
  ];
  it('the fixture plugin unbroken passes (so each failure below is its breakage)', async () => {
    assertAllPass(await runKit(fixture('good', '{}'), ['-path=kv/x']));
  });
  for (const c of cases) {
    it(`${c.name}: FAIL ${c.check}`, async () => {
      const run = await runKit(fixture(c.name, c.breakage), c.flags);
      assert.equal(run.code, 2, run.output);
      assert.equal(run.checks.get(c.check)?.status, 'FAIL', run.output);
      assert.match(run.checks.get(c.check)!.detail, c.message, run.output);
      assert.match(run.output, /\n\d+ passed, [1-9]\d* failed, \d+ skipped\n/);
    });
  }
});
