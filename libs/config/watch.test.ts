import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { loadConfig, watchConfig, type CofferConfig, type ConfigChanges, type ConfigLog } from './index.js';
import { recordingLog, scratchDir, writeFiles } from './testing.js';

const noEnv = { env: {} };

function configText(parts: { logLevel: string; pluginDirectory: string; certFile: string; connectionUrl?: string }): string {
  return `
    plugin_directory = "${parts.pluginDirectory}"
    log_level        = "${parts.logLevel}"
    storage "postgresql" {
      connection_url = "${parts.connectionUrl ?? 'postgres://coffer:hunter2@db/coffer'}"
    }
    listener "tcp" {
      address       = "0.0.0.0:8200"
      tls_cert_file = "${parts.certFile}"
      tls_key_file  = "/tls/key.pem"
    }
  `;
}

const FIRST = { logLevel: 'info', pluginDirectory: '/opt/plugins', certFile: '/tls/cert.pem' };

test('SIGHUP reloads: reloadable keys take effect, fixed keys are reported as needing a restart', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': configText(FIRST) });
  const initial = await loadConfig(file, noEnv);
  const log = recordingLog();
  const handlersBefore = process.listenerCount('SIGHUP');
  let notify!: (call: { config: CofferConfig; changes: ConfigChanges }) => void;
  const changed = new Promise<{ config: CofferConfig; changes: ConfigChanges }>((resolve) => (notify = resolve));
  const watcher = watchConfig(file, initial, { ...noEnv, log, onChange: (config, changes) => notify({ config, changes }) });
  t.after(() => watcher.close());
  assert.equal(process.listenerCount('SIGHUP'), handlersBefore + 1);

  await writeFiles(dir, {
    'coffer.hcl': configText({ logLevel: 'debug', pluginDirectory: '/srv/plugins', certFile: '/tls/cert-2026.pem' }),
  });
  process.kill(process.pid, 'SIGHUP');
  const { config, changes } = await withTimeout(changed, 5000);

  assert.deepEqual(changes, {
    reloaded: ['log_level', 'listener.tcp[0].tls_cert_file'],
    needsRestart: ['plugin_directory'],
  });
  assert.equal(config.logLevel, 'debug');
  assert.equal(config.listeners[0]!.tlsCertFile, '/tls/cert-2026.pem');
  assert.equal(config.pluginDirectory, '/opt/plugins', 'a fixed key keeps its running value');
  assert.equal(watcher.config, config);
  const warning = log.lines.find((line) => line.level === 'warn');
  assert.match(warning?.message ?? '', /changed on disk but needs a restart: plugin_directory/);

  watcher.close();
  assert.equal(process.listenerCount('SIGHUP'), handlersBefore);
});

test('a broken file on reload keeps the running config and logs the file and key', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': configText(FIRST) });
  const initial = await loadConfig(file, noEnv);
  const log = recordingLog();
  const calls: CofferConfig[] = [];
  const watcher = watchConfig(file, initial, { ...noEnv, log, onChange: (config) => void calls.push(config) });
  t.after(() => watcher.close());

  await writeFiles(dir, { 'coffer.hcl': `${configText({ ...FIRST, logLevel: 'debug' })}\nplugin_dir = "/x"\n` });
  const outcome = await watcher.reload();

  assert.equal(outcome.ok, false);
  assert.equal(watcher.config, initial);
  assert.equal(calls.length, 0);
  const failure = log.lines.find((line) => line.level === 'error');
  assert.ok(failure, 'the failure is logged at error level');
  assert.deepEqual([failure.details.file, failure.details.key], [file, 'plugin_dir']);
  assert.match(failure.message, /keeping the running config/);
  assert.ok(failure.message.includes(`${file}: unknown key "plugin_dir"`), failure.message);

  // A syntax error is no different, and once the file is fixed the next reload applies.
  await writeFiles(dir, { 'coffer.hcl': 'log_level = \n' });
  assert.equal((await watcher.reload()).ok, false);
  assert.match(log.lines.at(-1)!.message, /line 1, column/);
  await writeFiles(dir, { 'coffer.hcl': configText({ ...FIRST, logLevel: 'warn' }) });
  const fixed = await watcher.reload();
  assert.equal(fixed.ok, true);
  assert.equal(watcher.config.logLevel, 'warn');
  assert.equal(calls.length, 1);
});

test('every successful reload calls onChange, even with nothing changed, so certificates are re-read', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': configText(FIRST) });
  const initial = await loadConfig(file, noEnv);
  const calls: ConfigChanges[] = [];
  const watcher = watchConfig(file, initial, { ...noEnv, log: recordingLog(), onChange: (_, changes) => void calls.push(changes) });
  t.after(() => watcher.close());

  const outcome = await watcher.reload();

  assert.equal(outcome.ok, true);
  assert.deepEqual(calls, [{ reloaded: [], needsRestart: [] }]);
});

test('when onChange fails the running config stays in force', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': configText(FIRST) });
  const initial = await loadConfig(file, noEnv);
  const log = recordingLog();
  const watcher = watchConfig(file, initial, {
    ...noEnv,
    log,
    onChange: () => Promise.reject(new Error('cannot read /tls/cert-2026.pem')),
  });
  t.after(() => watcher.close());
  await writeFiles(dir, { 'coffer.hcl': configText({ ...FIRST, certFile: '/tls/cert-2026.pem' }) });

  const outcome = await watcher.reload();

  assert.equal(outcome.ok, false);
  assert.equal(watcher.config, initial);
  assert.match(log.lines.at(-1)!.message, /could not be applied, keeping the running config: cannot read/);
});

test('reloads run one at a time, in the order asked', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': configText(FIRST) });
  const initial = await loadConfig(file, noEnv);
  const seen: string[] = [];
  const watcher = watchConfig(file, initial, {
    ...noEnv,
    log: recordingLog(),
    onChange: async (config) => {
      seen.push(`start ${config.logLevel}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      seen.push(`end ${config.logLevel}`);
    },
  });
  t.after(() => watcher.close());

  await writeFiles(dir, { 'coffer.hcl': configText({ ...FIRST, logLevel: 'debug' }) });
  const first = watcher.reload();
  const second = watcher.reload();
  await Promise.all([first, second]);

  assert.deepEqual(seen, ['start debug', 'end debug', 'start debug', 'end debug']);
});

test('reload logs through pino and never writes a secret', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': configText(FIRST) });
  const initial = await loadConfig(file, noEnv);
  const written: string[] = [];
  const sink = new Writable({ write: (chunk, _encoding, done) => void (written.push(String(chunk)), done()) });
  const log: ConfigLog = pino({ level: 'trace' }, sink); // also checks that a pino logger fits ConfigLog
  const watcher = watchConfig(file, initial, { ...noEnv, log, onChange: () => undefined });
  t.after(() => watcher.close());

  // A new database password needs a restart: the key is named, neither value is.
  await writeFiles(dir, { 'coffer.hcl': configText({ ...FIRST, connectionUrl: 'postgres://coffer:s3cr3t-2@db/coffer' }) });
  assert.equal((await watcher.reload()).ok, true);
  // A broken URL fails the reload; the error names the key, not the value.
  await writeFiles(dir, { 'coffer.hcl': configText({ ...FIRST, connectionUrl: 'mysql://coffer:s3cr3t-3@db/coffer' }) });
  assert.equal((await watcher.reload()).ok, false);

  const output = written.join('');
  assert.match(output, /storage\.postgresql\.connection_url/);
  for (const secret of ['hunter2', 's3cr3t-2', 's3cr3t-3']) assert.ok(!output.includes(secret), `log leaks ${secret}`);
});

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reload within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
