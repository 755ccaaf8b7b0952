import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './support/cluster.js';
import { REPO_ROOT } from './support/paths.js';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/**
 * Issue 10, items 4 and 5, as an attacker or a careless operator would try them against the services as processes:
 * what runs is what was pinned and shown, and registration and enable tell the truth.
 */
describe('plugin catalog and launch: trust rules', () => {
  let cluster: Cluster;
  let root: Record<string, string>;
  let mockSha = '';

  const send = (method: string, path: string, body?: unknown) =>
    cluster.fetch(`/v1/${path}`, { method, headers: root, body: body === undefined ? undefined : JSON.stringify(body) });
  const errorsOf = async (r: Response) => ((await r.json()) as { errors: string[] }).errors;
  const healthy = async () => assert.equal((await cluster.fetch('/v1/sys/health')).status, 200, 'the server keeps serving');

  /** A node script in the plugin directory. */
  const script = (name: string, body: string) => {
    const path = join(cluster.dir, name);
    writeFileSync(path, `#!/usr/bin/env node\n${body}\n`);
    chmodSync(path, 0o755);
    return sha256(path);
  };

  /**
   * The real mock plugin with a prologue: it counts its starts in `<name>.starts` and exits at once while
   * `<name>.broken` exists, so a test can let it register and then make every later start fail.
   */
  const breakable = (name: string) => {
    const mock = readFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), 'utf8').replace(/^#!.*\n/, '');
    const base = join(cluster.dir, name);
    return script(
      name,
      `import { existsSync as __exists, appendFileSync as __append } from 'node:fs';\n` +
        `__append(${JSON.stringify(`${base}.starts`)}, 'x');\n` +
        `if (__exists(${JSON.stringify(`${base}.broken`)})) process.exit(3);\n${mock}`,
    );
  };
  const starts = (name: string) => {
    try {
      return readFileSync(join(cluster.dir, `${name}.starts`), 'utf8').length;
    } catch {
      return 0;
    }
  };

  before(async () => {
    // The fixtures count their own starts in files of the test's folder, which a sandboxed plugin may not write
    // (bwrap: read-only view, private /tmp); what the sandbox stops is test/cluster-trust.e2e.test.ts's subject.
    cluster = await Cluster.create({ extraConfig: 'plugin_sandbox = "none"\n' });
    await cluster.startAll();
    root = { 'x-vault-token': (await cluster.initAndUnseal()).rootToken };
    writeFileSync(join(cluster.dir, 'mock'), readFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin')));
    chmodSync(join(cluster.dir, 'mock'), 0o755);
    mockSha = sha256(join(cluster.dir, 'mock'));
  });

  after(async () => {
    await cluster?.stop();
  });

  describe('what runs is what was pinned and shown', () => {
    it('refuses NODE_OPTIONS=--import=data:... at registration, naming it, and never runs the injected code', async () => {
      const marker = join(cluster.dir, 'pwned');
      const injected = `--import=data:text/javascript,import('node:fs').then((f)=>f.writeFileSync(${JSON.stringify(marker)},'pwned'))`;
      for (const path of ['sys/plugins/catalog/secret/evil-node', 'sys/plugins/catalog/evil-node']) {
        const r = await send('PUT', path, { sha256: mockSha, command: 'mock', env: [`NODE_OPTIONS=${injected}`] });
        assert.equal(r.status, 400, `${path}: ${r.status}`);
        const errors = await errorsOf(r);
        assert.match(errors[0], /^env entry "NODE_OPTIONS" is not allowed/, errors.join(' '));
      }
      assert.equal(existsSync(marker), false, 'the injected code never ran (the probe did not launch it)');
      assert.equal((await send('GET', 'sys/plugins/catalog/secret/evil-node')).status, 404, 'nothing was registered');
      await healthy();
    });

    it('refuses PATH and every variable that makes an interpreter or the loader run other code', async () => {
      const names = ['PATH=/tmp/evilbin', 'NODE_PATH=/tmp/x', 'LD_PRELOAD=/tmp/x.so', 'LD_LIBRARY_PATH=/tmp', 'LD_AUDIT=/tmp/x.so', 'GCONV_PATH=/tmp',
        'PYTHONPATH=/tmp', 'PYTHONSTARTUP=/tmp/x.py', 'PYTHONHOME=/tmp', 'PERL5OPT=-Mx', 'PERL5LIB=/tmp', 'RUBYOPT=-rx', 'RUBYLIB=/tmp',
        'BASH_ENV=/tmp/x', 'ENV=/tmp/x'];
      for (const entry of names) {
        const r = await send('PUT', 'sys/plugins/catalog/secret/evil-env', { sha256: mockSha, command: 'mock', env: ['HARMLESS=1', entry] });
        assert.equal(r.status, 400, `${entry}: ${r.status}`);
        const name = entry.slice(0, entry.indexOf('='));
        assert.match((await errorsOf(r))[0], new RegExp(`^env entry "${name}" is not allowed`), entry);
      }
      assert.equal((await send('GET', 'sys/plugins/catalog/secret/evil-env')).status, 404);
    });

    it('a catalog read shows the args and the names of the env entries, never their values', async () => {
      const r = await send('PUT', 'sys/plugins/catalog/secret/shown', { sha256: mockSha, command: 'mock', args: ['--flag'], env: ['API_KEY=s3cr3t-value', 'MODE=x'] });
      assert.equal(r.status, 204, await r.text());
      const read = await send('GET', 'sys/plugins/catalog/secret/shown?version=v0.0.0%2Bmock');
      const text = await read.text();
      const entry = JSON.parse(text).data;
      assert.deepEqual(entry.args, ['--flag']);
      assert.deepEqual(entry.env_names, ['API_KEY', 'MODE']);
      assert.equal(text.includes('s3cr3t-value'), false, 'values are never shown');
    });
  });

  describe('registration and enable tell the truth', () => {
    it('refuses a SHA-256 that is not the file\'s (all zeros), typed or not: checksums did not match', async () => {
      for (const path of ['sys/plugins/catalog/secret/zeros', 'sys/plugins/catalog/auth/zeros', 'sys/plugins/catalog/zeros']) {
        const r = await send('PUT', path, { sha256: '0'.repeat(64), command: 'mock' });
        assert.equal(r.status, 400, `${path}: ${r.status}`);
        assert.deepEqual(await errorsOf(r), ['checksums did not match']);
      }
      assert.equal((await send('GET', 'sys/plugins/catalog/secret/zeros')).status, 404, 'nothing was registered');
      await healthy();
    });

    it('refuses a typed registration of a plugin that exits, hangs or sends a bad hello, with the reason', async () => {
      const cases: [string, string, RegExp][] = [
        ['exits', 'process.exit(3)', /exited|code 3/i],
        ['hangs', 'setInterval(() => {}, 1000)', /handshake|did not/i],
        ['bad-hello', 'console.log(JSON.stringify({ coffer: "plugin", protocol: 99, type: "secret", name: "x" })); setInterval(() => {}, 1000)', /hello|handshake|protocol/i],
      ];
      for (const [name, body, reason] of cases) {
        const sha = script(name, body);
        const r = await send('PUT', `sys/plugins/catalog/secret/${name}`, { sha256: sha, command: name });
        assert.equal(r.status, 400, `${name}: ${r.status}`);
        const errors = await errorsOf(r);
        assert.match(errors.join(' '), reason, `${name}: ${errors.join(' ')}`);
        assert.equal((await send('GET', `sys/plugins/catalog/secret/${name}`)).status, 404, `${name} was not registered`);
        await healthy();
      }
    });

    it('secrets enable and auth enable of a plugin that cannot start fail with the reason and leave no mount', async () => {
      const sha = breakable('flaky');
      const reg = await send('PUT', 'sys/plugins/catalog/secret/flaky', { sha256: sha, command: 'flaky' });
      assert.equal(reg.status, 204, await reg.text());
      writeFileSync(join(cluster.dir, 'flaky.broken'), '');
      const enabled = await send('POST', 'sys/mounts/flaky', { type: 'flaky' });
      assert.equal(enabled.status, 400, await enabled.clone().text());
      assert.match((await errorsOf(enabled))[0], /^plugin flaky failed to start: .*exited/);
      const mounts = (await (await send('GET', 'sys/mounts')).json()).data;
      assert.equal(mounts['flaky/'], undefined, 'no mount was left');

      // An auth plugin whose file was replaced after registration: refused at enable, not at first login.
      writeFileSync(join(cluster.dir, 'flaky-auth'), readFileSync(join(REPO_ROOT, 'dist/plugins/userpass')));
      chmodSync(join(cluster.dir, 'flaky-auth'), 0o755);
      const userpassSha = sha256(join(cluster.dir, 'flaky-auth'));
      const regAuth = await send('PUT', 'sys/plugins/catalog/auth/flaky-auth', { sha256: userpassSha, command: 'flaky-auth' });
      assert.equal(regAuth.status, 204, await regAuth.text());
      writeFileSync(join(cluster.dir, 'flaky-auth'), `${readFileSync(join(cluster.dir, 'flaky-auth'), 'utf8')}\n// swapped\n`);
      const authEnabled = await send('POST', 'sys/auth/flaky-auth', { type: 'flaky-auth' });
      assert.equal(authEnabled.status, 400, await authEnabled.clone().text());
      assert.deepEqual(await errorsOf(authEnabled), ['plugin flaky-auth failed to start: checksums did not match']);
      const auths = (await (await send('GET', 'sys/auth')).json()).data;
      assert.equal(auths['flaky-auth/'], undefined, 'no auth mount was left');
      await healthy();
    });

    it("start failures back off like crashes, and one plugin's backoff holds up no other plugin or mount", async () => {
      const sha = breakable('relaunch');
      assert.equal((await send('PUT', 'sys/plugins/catalog/secret/relaunch', { sha256: sha, command: 'relaunch' })).status, 204);
      assert.equal((await send('POST', 'sys/mounts/relaunch', { type: 'relaunch' })).status, 204);
      assert.equal((await send('PUT', 'sys/plugins/catalog/secret/steady', { sha256: mockSha, command: 'mock' })).status, 204);
      assert.equal((await send('POST', 'sys/mounts/steady', { type: 'steady' })).status, 204);
      for (const m of ['relaunch', 'steady']) assert.ok((await send('PUT', `${m}/kv/k`, { value: 'v' })).status < 300, m);

      // Break it and let the runner drop its process: every later call must launch it again, and that fails.
      writeFileSync(join(cluster.dir, 'relaunch.broken'), '');
      const reload = await send('PUT', 'sys/plugins/reload/backend', { plugin: 'relaunch' });
      assert.equal(reload.status, 200);
      const reloadId = (await reload.json()).data.reload_id as string;
      for (let done = false; !done; ) {
        await new Promise((r) => setTimeout(r, 100));
        const st = (await (await send('GET', `sys/plugins/reload/backend/status?reload_id=${reloadId}`)).json()).data;
        done = st && st.in_progress.length === 0 && Object.keys(st.results).length > 0;
      }
      const before = starts('relaunch');
      const answers: string[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await send('GET', 'relaunch/kv/k');
        assert.ok(r.status >= 500, `call ${i}: ${r.status}`);
        answers.push((await errorsOf(r)).join(' '));
        // Meanwhile another plugin's mount answers at once.
        const other = await send('GET', 'steady/kv/k');
        assert.equal(other.status, 200, `steady during the backoff: ${other.status}`);
      }
      const launched = starts('relaunch') - before;
      assert.ok(launched <= 3, `${launched} starts for 8 calls: start failures must back off (the crash-loop rule: 3 in 30 s)`);
      assert.match(answers.at(-1)!, /^plugin relaunch failed to start: .*; next attempt in \d+ s$/, answers.at(-1));
      await healthy();
    });
  });
});
