import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, TEST_NATS_URL, freePort } from './support/cluster.js';
import { OwnNatsServer } from './support/nats-server.js';
import { REPO_ROOT } from './support/paths.js';

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `coffer server ARGS` to its end; a generous bound only so a regression fails the test instead of hanging it. */
async function runServer(args: string[], env: Record<string, string> = {}): Promise<Exit> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), 'server', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(killer);
  return { code, stdout, stderr };
}

/** The JSON lines of a log; every line must be one (a plain-text line is what this suite exists to catch). */
function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        assert.fail(`not a JSON log line: ${line}`);
      }
    });
}

function fatalLine(stdout: string): Record<string, unknown> {
  const fatal = jsonLines(stdout).filter((l) => l.level === 60);
  assert.equal(fatal.length, 1, `exactly one fatal line:\n${stdout}`);
  return fatal[0]!;
}

/** A process that cannot start exits non-zero with one JSON line saying why (issue 15, "fail fast"). */
describe('a server that cannot start exits', () => {
  let cluster: Cluster;
  const dir = mkdtempSync(join(tmpdir(), 'coffer-failfast-'));
  before(async () => {
    cluster = await Cluster.create({ logLevel: 'info' });
  });
  after(async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a gateway whose port is taken exits 1 with the reason, and leaves nothing subscribed', async () => {
    const squatter = createServer();
    squatter.listen(cluster.port, '127.0.0.1');
    await once(squatter, 'listening');
    try {
      const r = await runServer([`-config=${cluster.configPath}`, '-service=gateway']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const line = fatalLine(r.stdout);
      assert.match(String(line.msg), /^cannot start: .*EADDRINUSE/);
      assert.equal(r.stderr, '', 'nothing outside the JSON log');
    } finally {
      squatter.close();
    }
    // Its bus handlers went with it: a gateway status request finds nobody.
    await assert.rejects(cluster.status('gateway'), /no service is listening|no answer/);
  });

  it('a service that gives up on Postgres exits 1, naming the database (password redacted)', async () => {
    const port = await freePort();
    const file = join(dir, 'no-pg.hcl');
    writeFileSync(
      file,
      `storage "postgresql" {\n  connection_url = "postgres://coffer:hunter2@127.0.0.1:${port}/coffer"\n}\n` +
        `bus "nats" {\n  url = "${TEST_NATS_URL}"\n  namespace = "failfast_${process.pid}"\n}\n`,
    );
    const r = await runServer([`-config=${file}`, '-service=plugin-runner'], { COFFER_PG_CONNECT_ATTEMPTS: '2' });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(String(fatalLine(r.stdout).msg), /^cannot start: cannot connect to the event store database at /);
    assert.doesNotMatch(r.stdout + r.stderr, /hunter2/);
  });

  it('a service NATS refuses (wrong password) exits 1 saying so, instead of retrying in silence', async () => {
    const port = await freePort();
    const conf = join(dir, 'nats-auth.conf');
    writeFileSync(conf, `listen: "127.0.0.1:${port}"\nauthorization { user: "coffer", password: "right-${process.pid}" }\n`);
    const nats = await OwnNatsServer.start({ port, configFile: conf });
    try {
      const file = join(dir, 'wrong-nats-password.hcl');
      writeFileSync(
        file,
        `storage "postgresql" {\n  connection_url = "${cluster.databaseUrl}"\n}\n` +
          `bus "nats" {\n  url = "nats://127.0.0.1:${port}"\n  user = "coffer"\n  password = "wrong-hunter2"\n}\n`,
      );
      const r = await runServer([`-config=${file}`, '-service=catalog']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(String(fatalLine(r.stdout).msg), /^cannot start: NATS refused this client: .*Authorization Violation/i);
      assert.doesNotMatch(r.stdout + r.stderr, /hunter2/);
    } finally {
      await nats.stop();
    }
  });

  it('a bad tunable is a configuration error naming its variable', async () => {
    const r = await runServer([`-config=${cluster.configPath}`, '-service=catalog'], { COFFER_PLUGIN_CALL_TIMEOUT_MS: 'soon' });
    assert.equal(r.code, 1);
    assert.match(String(fatalLine(r.stdout).msg), /\$COFFER_PLUGIN_CALL_TIMEOUT_MS: must be a whole number/);
    assert.match(r.stderr, /COFFER_PLUGIN_CALL_TIMEOUT_MS/);
  });
});
