/**
 * The host side against real processes: small plugin scripts are written into a temporary plugin directory, some
 * built on the compiled serve() (by absolute path), some that misbehave on purpose.
 *
 * The scripts are CommonJS (`await import()` inside an async function): they run from the cache as
 * extensionless files with no package.json, which Node treats as CommonJS.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { CofferError } from '../contracts/errors.js';
import { COFFER_VERSION } from '../contracts/version.js';
import { LineSplitter } from './framing.js';
import {
  CACHE_PACKAGE_JSON,
  CHECKSUM_MISMATCH,
  launchPlugin,
  MethodNotImplemented,
  resolvePluginCommand,
  type LaunchSpec,
  RenewAuthNotImplemented,
  type PluginLog,
  type PluginProcess,
  type StorageHandler,
} from './host-side.js';
import { MAGIC_ENV, MAGIC_VALUE, type MountInfo, type PluginRequest } from './messages.js';
import { NOT_BY_HAND_MESSAGE } from './plugin-side.js';

const here = dirname(fileURLToPath(import.meta.url));
const pluginSideUrl = pathToFileURL(join(here, 'plugin-side.js')).href;

// ---- plugin scripts ----

/** A well-behaved plugin on serve(), with paths that do what their names say. */
function goodPlugin(name: string, options: { type?: 'secret' | 'auth'; multiplex?: boolean; version?: string; periodic?: boolean; renewAuth?: boolean } = {}): string {
  const hello = { type: options.type ?? 'secret', name, version: options.version ?? 'v1.2.3', multiplex: options.multiplex ?? true };
  return `#!/usr/bin/env node
const fs = require('node:fs');
(async () => {
  const { serve, PluginError } = await import(${JSON.stringify(pluginSideUrl)});
  const b64 = (s) => Buffer.from(s).toString('base64');
  serve({
    hello: ${JSON.stringify(hello)},
    async setup(mount, host) {},
    async handle(mount, req, host) {
      const d = req.data;
      switch (req.path) {
        case 'echo': return { data: { path: req.path, data: d, accessor: req.tokenAccessor } };
        case 'put': await host.call('storage.put', { mount, key: d.key, value: b64(d.value) }); return null;
        case 'get': {
          const r = await host.call('storage.get', { mount, key: d.key });
          return { data: { value: r.value === null ? null : Buffer.from(r.value, 'base64').toString() } };
        }
        case 'list': return { data: { keys: (await host.call('storage.list', { mount, prefix: d.prefix })).keys } };
        case 'delete': await host.call('storage.delete', { mount, key: d.key }); return null;
        case 'info': return { data: await host.call('system.info', { mount }) };
        case 'sleep': await new Promise((r) => setTimeout(r, d.ms)); return { data: { n: d.n } };
        case 'env': return { data: { env: { ...process.env }, argv: process.argv } };
        case 'log':
          console.log('from console.log');
          console.info('from console.info');
          process.stdout.write('from process.stdout.write\\n');
          return { data: { ok: true } };
        case 'denied': throw new PluginError('permission-denied', 'permission denied');
        case 'unsupported': throw new PluginError('unsupported-path', 'unsupported path: ' + req.path);
        case 'boom': throw new Error('detail only the operator may see');
        case 'reach': {
          try { await host.call('storage.get', { mount: d.mount, key: 'k' }); return { data: { reached: true } }; }
          catch (e) { return { data: { refused: e.message, kind: e.kind } }; }
        }
        case 'login': return { auth: { policies: ['root'] } };
        case 'hang': return new Promise(() => {});
        case 'crash': setTimeout(() => process.exit(7), d.ms || 0); return new Promise(() => {});
        case 'garbage': setTimeout(() => fs.writeSync(1, 'this is not json\\n'), d.ms || 0); return new Promise(() => {});
        case 'flood': {
          const line = 'x'.repeat(60) + '\\n';
          let chunk = '';
          for (let i = 0; i < 1000; i++) chunk += line;
          // process.stderr, not fs.writeSync(2): the pipe is non-blocking and a full one fails with EAGAIN.
          for (let i = 0; i < d.thousands; i++) process.stderr.write(chunk);
          await new Promise((r) => process.stderr.write('y'.repeat(d.longLine) + '\\n', r));
          return { data: { done: true } };
        }
      }
      throw new PluginError('unsupported-path', 'unsupported path');
    },
    async exists(mount, req) { return { checkFound: true, exists: req.path === 'there' }; },
    specialPaths() { return ['login', 'public/*']; },
    async cleanup(mount, host) { await host.call('storage.delete', { mount, key: 'cleanup-marker' }); },${options.periodic ? `
    async periodic(mount, host) { await host.call('storage.put', { mount, key: 'periodic-ran', value: b64('yes') }); },` : ''}
${options.renewAuth ? `
    // Refuses a token whose login named a user that is gone, as userpass does; otherwise grants the increment.
    async renewAuth(mount, auth, increment) {
      if (auth.internal.user === 'gone') throw new PluginError('invalid-request', 'user ' + auth.metadata.username + ' no longer exists');
      return { ttl: increment || 77, maxTtl: 500, warnings: ['renewed by ' + auth.path] };
    },` : ''}
  });
})();
`;
}

/** A plugin written by hand that answers `handle` with the reply named by the request path, verbatim. */
function rawPlugin(hello: object): string {
  return `#!/usr/bin/env node
const fs = require('node:fs');
const hello = ${JSON.stringify(hello)};
fs.writeSync(1, JSON.stringify(hello) + '\\n');
let buf = '';
let pendingTxn;
const out = (o) => fs.writeSync(1, JSON.stringify(o) + '\\n');
process.stdin.on('data', (c) => {
  buf += c;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const m = JSON.parse(buf.slice(0, i));
    buf = buf.slice(i + 1);
    if (m.method === 'setup') out({ jsonrpc: '2.0', id: m.id, result: {} });
    if (m.id === 'txn-call' && !m.method) { out({ jsonrpc: '2.0', id: pendingTxn, result: { response: { data: { hostSaid: m.error ?? m.result } } } }); continue; }
    if (m.method !== 'handle') continue;
    const id = m.id;
    switch (m.params.request.path) {
      case 'ok': out({ jsonrpc: '2.0', id, result: { response: { auth: { policies: ['default'], ttl: 60 } } } }); break;
      case 'auth-and-error': out({ jsonrpc: '2.0', id, result: { response: { auth: { policies: ['root'] }, data: { error: 'login failed' } } } }); break;
      case 'policies-not-array': out({ jsonrpc: '2.0', id, result: { response: { auth: { policies: 'root' } } } }); break;
      case 'policy-not-string': out({ jsonrpc: '2.0', id, result: { response: { auth: { policies: [1] } } } }); break;
      case 'auth-internal': out({ jsonrpc: '2.0', id, result: { response: { auth: { policies: ['default'], internal: { user: 'x' } } } } }); break;
      case 'extra-auth-field': out({ jsonrpc: '2.0', id, result: { response: { auth: { policies: [], clientToken: 'forged' } } } }); break;
      case 'result-and-error': out({ jsonrpc: '2.0', id, result: { response: null }, error: { code: -32000, message: 'x', data: { kind: 'internal' } } }); break;
      case 'neither': out({ jsonrpc: '2.0', id }); break;
      case 'txn': pendingTxn = id; out({ jsonrpc: '2.0', id: 'txn-call', method: 'storage.txn', params: { mount: m.params.mount, checks: [], ops: [] } }); break;
      case 'no-kind': out({ jsonrpc: '2.0', id, error: { code: -32000, message: 'x' } }); break;
      case 'missing-response': out({ jsonrpc: '2.0', id, result: {} }); break;
      case 'late': setTimeout(() => out({ jsonrpc: '2.0', id, result: { response: { auth: { policies: ['root'] } } } }), 300); break;
      case 'unknown-id': out({ jsonrpc: '2.0', id: 987654, result: { response: null } }); break;
      case 'no-jsonrpc': out({ id, result: { response: null } }); break;
      case 'choose-silent': out({ jsonrpc: '2.0', id, result: { response: null } }); break;
      case 'choose-update': out({ jsonrpc: '2.0', id, result: { response: { data: { ok: true } }, operation: 'update' } }); break;
      case 'choose-create': out({ jsonrpc: '2.0', id, result: { response: { data: { ok: true } }, operation: 'create' } }); break;
      case 'choose-denied-update': out({ jsonrpc: '2.0', id, result: { response: null, operation: 'update', denied: true } }); break;
      case 'choose-denied-create': out({ jsonrpc: '2.0', id, result: { response: null, operation: 'create', denied: true } }); break;
    }
  }
});
// Ignores shutdown and the end of its input, so only a kill stops it.
setInterval(() => {}, 1000);
`;
}

const scripts = {
  neverHello: `#!/usr/bin/env node\nsetInterval(() => {}, 1000);\n`,
  garbageHello: `#!/usr/bin/env node\nprocess.stdout.write('Z'.repeat(500) + '\\n');\nsetInterval(() => {}, 1000);\n`,
  invalidHello: `#!/usr/bin/env node\nprocess.stdout.write(JSON.stringify({ coffer: 'plugin', protocol: 1, type: 'database', name: 'x', version: '1.0.0', multiplex: true }) + '\\n');\nsetInterval(() => {}, 1000);\n`,
  otherProtocol: `#!/usr/bin/env node\nprocess.stdout.write(JSON.stringify({ coffer: 'plugin', protocol: 5, type: 'secret', name: 'x', version: '1.0.0', multiplex: true }) + '\\n');\nsetInterval(() => {}, 1000);\n`,
  exitsAtOnce: `#!/usr/bin/env node\nprocess.stderr.write('cannot start: no config\\n');\nprocess.exit(3);\n`,
  endlessHello: `#!/usr/bin/env node\nconst fs = require('node:fs');\nfor (let i = 0; i < 200; i++) fs.writeSync(1, 'a'.repeat(1024));\nsetInterval(() => {}, 1000);\n`,
};

// ---- fixture ----

interface Fixture {
  root: string;
  pluginDir: string;
  cacheDir: string;
  logs: { level: string; obj: Record<string, unknown>; msg: string }[];
  log: PluginLog;
  storage: StorageHandler & { data: Map<string, Buffer>; calls: string[] };
  write(file: string, text: string): string;
  spec(file: string, overrides?: Partial<LaunchSpec>): LaunchSpec;
  launch(file: string, overrides?: Partial<LaunchSpec>): Promise<PluginProcess>;
}

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

function memoryStorage(): StorageHandler & { data: Map<string, Buffer>; calls: string[] } {
  const data = new Map<string, Buffer>();
  const calls: string[] = [];
  return {
    data,
    calls,
    async get(mount, key) {
      calls.push(`get ${mount} ${key}`);
      return data.get(`${mount}\0${key}`) ?? null;
    },
    async put(mount, key, value) {
      calls.push(`put ${mount} ${key}`);
      data.set(`${mount}\0${key}`, value);
    },
    async delete(mount, key) {
      calls.push(`delete ${mount} ${key}`);
      data.delete(`${mount}\0${key}`);
    },
    async list(mount, prefix) {
      calls.push(`list ${mount} ${prefix}`);
      return [...data.keys()].filter((k) => k.startsWith(`${mount}\0${prefix}`)).map((k) => k.slice(mount.length + 1 + prefix.length));
    },
    async info(mount) {
      calls.push(`info ${mount}`);
      return { defaultLeaseTtl: 2764800, maxLeaseTtl: 2764800, version: COFFER_VERSION };
    },
  };
}

function fixture(): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'coffer-pp-'));
  const pluginDir = join(root, 'plugins');
  // Under a "type": "module" package, as a cache inside a repository would be: the cache must neutralize it.
  const cacheDir = join(root, 'state', 'cache');
  mkdirSync(pluginDir);
  mkdirSync(join(root, 'state'));
  writeFileSync(join(root, 'state', 'package.json'), '{"type":"module"}\n');
  const logs: Fixture['logs'] = [];
  const log: PluginLog = {
    info: (obj, msg) => void logs.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj, msg) => void logs.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  };
  const storage = memoryStorage();
  const f: Fixture = {
    root,
    pluginDir,
    cacheDir,
    logs,
    log,
    storage,
    write(file, text) {
      const path = join(pluginDir, file);
      writeFileSync(path, text);
      chmodSync(path, 0o755);
      return sha256(text);
    },
    spec(file, overrides = {}) {
      return {
        name: file,
        pluginDirectory: pluginDir,
        command: file,
        sha256: sha256(readFileSync(join(pluginDir, file))),
        cacheDir,
        log,
        storage,
        ...overrides,
      };
    },
    launch(file, overrides) {
      return launchPlugin(f.spec(file, overrides));
    },
  };
  return f;
}

const mount = (id: string): MountInfo => ({
  id,
  path: `${id}/`,
  accessor: `secret_${id}`,
  type: 'good',
  config: { defaultLeaseTtl: 0, maxLeaseTtl: 0 },
  options: {},
});

const request = (path: string, data: Record<string, unknown> = {}): PluginRequest => ({
  operation: 'update',
  path,
  data,
  tokenAccessor: 'acc',
  requestId: 'req-1',
});

function coffer(code: string, message?: string | RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof CofferError, `expected a CofferError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    return true;
  };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of processes executing `path` (Linux /proc), to see that a refused plugin left nothing running. */
function processesRunning(path: string): number[] {
  if (!existsSync('/proc/self/cmdline')) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(path)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

// Compile-time check: a pino Logger is a PluginLog.
const _pinoIsAPluginLog = (l: Logger): PluginLog => l;
void _pinoIsAPluginLog;

// ---- tests ----

describe('resolvePluginCommand', () => {
  let f: Fixture;
  before(() => {
    f = fixture();
    f.write('plug', '#!/bin/sh\n');
    mkdirSync(join(f.pluginDir, 'sub'));
    f.write('sub/inner', '#!/bin/sh\n');
    writeFileSync(join(f.root, 'outside'), '#!/bin/sh\n');
    symlinkSync(join(f.root, 'outside'), join(f.pluginDir, 'escape'));
    symlinkSync(join(f.pluginDir, 'plug'), join(f.pluginDir, 'alias'));
    symlinkSync(f.pluginDir, join(f.root, 'dir-link'));
  });
  after(() => rmSync(f.root, { recursive: true, force: true }));

  test('a file in the directory, with arguments split off the command', async () => {
    const r = await resolvePluginCommand(f.pluginDir, 'plug -a  --b=c');
    assert.equal(r.path, join(f.pluginDir, 'plug'));
    assert.deepEqual(r.args, ['-a', '--b=c']);
  });

  test('symlinks inside the directory and a symlinked directory resolve', async () => {
    assert.equal((await resolvePluginCommand(f.pluginDir, 'alias')).path, join(f.pluginDir, 'plug'));
    assert.equal((await resolvePluginCommand(join(f.root, 'dir-link'), 'sub/inner')).path, join(f.pluginDir, 'sub', 'inner'));
  });

  test("Vault's texts: no directory, parent references, outside, missing", async () => {
    await assert.rejects(resolvePluginCommand('', 'plug'), coffer('internal', 'could not set plugin, plugin directory is not configured'));
    await assert.rejects(resolvePluginCommand(f.pluginDir, '../../bin/sh'), coffer('internal', 'path cannot contain parent references'));
    await assert.rejects(resolvePluginCommand(f.pluginDir, 'escape'), coffer('internal', 'cannot execute files outside of configured plugin directory'));
    await assert.rejects(resolvePluginCommand(f.pluginDir, '/bin/sh'), coffer('internal', /^error while validating the command path: lstat \/bin\/sh: no such file or directory$/));
    await assert.rejects(resolvePluginCommand(f.pluginDir, 'nope arg'), (err: unknown) => {
      assert.ok(err instanceof CofferError);
      assert.equal(err.message, 'error while validating the command path: lstat nope: no such file or directory');
      assert.ok(!err.message.includes(f.root), 'the absolute path is not shown');
      return true;
    });
  });
});

describe('launchPlugin', () => {
  let f: Fixture;
  const running: PluginProcess[] = [];
  const track = (p: PluginProcess) => (running.push(p), p);
  before(() => {
    f = fixture();
    f.write('good', goodPlugin('good'));
    f.write('scheduled', goodPlugin('scheduled', { periodic: true }));
    f.write('auth-renew', goodPlugin('auth-renew', { type: 'auth', renewAuth: true }));
    f.write('auth-good', goodPlugin('auth-good', { type: 'auth' }));
    f.write('auth-raw', rawPlugin({ coffer: 'plugin', protocol: 1, type: 'auth', name: 'auth-raw', version: '', multiplex: true }));
    f.write('choose-raw', rawPlugin({ coffer: 'plugin', protocol: 4, type: 'secret', name: 'choose-raw', version: '', multiplex: true }));
    for (const [file, text] of Object.entries(scripts)) f.write(file, text);
  });
  after(async () => {
    await Promise.all(running.map((p) => p.kill()));
    rmSync(f.root, { recursive: true, force: true });
  });

  test('handshake, calls, storage round trip through the host handler, shutdown', async () => {
    const p = track(await f.launch('good'));
    // Built on serve(): it settles on the newest protocol with this host.
    assert.deepEqual(p.hello, { coffer: 'plugin', protocol: 4, type: 'secret', name: 'good', version: 'v1.2.3', multiplex: true });
    assert.ok(p.alive);
    if (existsSync('/proc/self/cmdline')) assert.deepEqual(processesRunning(join(f.cacheDir, f.spec('good').sha256)), [p.pid]);
    await p.call('setup', { mount: mount('m1') });
    assert.deepEqual(await p.call('specialPaths', {}), { unauthenticated: ['login', 'public/*'] });
    assert.deepEqual(await p.call('exists', { mount: 'm1', request: request('there') }), { checkFound: true, exists: true });
    const echo = await p.call('handle', { mount: 'm1', request: request('echo', { a: [1, 'ü'] }) });
    assert.deepEqual(echo.response?.data, { path: 'echo', data: { a: [1, 'ü'] }, accessor: 'acc' });

    assert.equal((await p.call('handle', { mount: 'm1', request: request('put', { key: 'a/b', value: 'sécret' }) })).response, null);
    assert.deepEqual(f.storage.data.get('m1\0a/b'), Buffer.from('sécret'));
    assert.deepEqual((await p.call('handle', { mount: 'm1', request: request('get', { key: 'a/b' }) })).response?.data, { value: 'sécret' });
    assert.deepEqual((await p.call('handle', { mount: 'm1', request: request('get', { key: 'none' }) })).response?.data, { value: null });
    assert.deepEqual((await p.call('handle', { mount: 'm1', request: request('list', { prefix: 'a/' }) })).response?.data, { keys: ['b'] });
    assert.deepEqual((await p.call('handle', { mount: 'm1', request: request('info') })).response?.data, {
      defaultLeaseTtl: 2764800,
      maxLeaseTtl: 2764800,
      version: COFFER_VERSION,
    });
    await p.call('handle', { mount: 'm1', request: request('delete', { key: 'a/b' }) });
    assert.equal(f.storage.data.has('m1\0a/b'), false);

    await p.call('cleanup', { mount: 'm1' });
    assert.ok(f.storage.calls.includes('delete m1 cleanup-marker'));
    assert.equal(p.mounts.has('m1'), false, 'a cleaned-up mount is no longer reachable');
    await assert.rejects(p.call('handle', { mount: 'm1', request: request('echo') }), coffer('internal', /mount m1 is not set up/));

    const exit = await p.shutdown();
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.equal(p.alive, false);
    await assert.rejects(p.call('specialPaths', {}), coffer('plugin-failed', 'plugin good was stopped'));
  });

  test('many calls in flight, answered out of order, each to its caller', async () => {
    const p = track(await f.launch('good'));
    await p.call('setup', { mount: mount('m1') });
    const order: number[] = [];
    const calls = Array.from({ length: 200 }, (_, n) =>
      p.call('handle', { mount: 'm1', request: request('sleep', { n, ms: (n * 7919) % 60 }) }).then((r) => {
        order.push(n);
        return r.response?.data?.n;
      }),
    );
    const puts = Array.from({ length: 50 }, (_, n) => p.call('handle', { mount: 'm1', request: request('put', { key: `k${n}`, value: `v${n}` }) }));
    assert.deepEqual(await Promise.all(calls), Array.from({ length: 200 }, (_, n) => n));
    await Promise.all(puts);
    assert.notDeepEqual(order, [...order].sort((a, b) => a - b), 'replies came back in another order than sent');
    assert.equal(f.storage.data.get('m1\0k49')?.toString(), 'v49');
    await p.shutdown();
  });

  test("plugin errors keep their kind and message; anything else is 'internal' with a generic message", async () => {
    const p = track(await f.launch('good'));
    await p.call('setup', { mount: mount('m1') });
    await assert.rejects(p.call('handle', { mount: 'm1', request: request('denied') }), coffer('permission-denied', 'permission denied'));
    await assert.rejects(p.call('handle', { mount: 'm1', request: request('unsupported') }), coffer('unsupported-path', 'unsupported path: unsupported'));
    await assert.rejects(p.call('handle', { mount: 'm1', request: request('boom') }), coffer('internal', 'internal error'));
    await p.call('specialPaths', {}); // the details reach stderr, and so the log, by now
    assert.ok(
      f.logs.some((l) => l.obj.plugin === 'good' && l.msg.includes('detail only the operator may see')),
      'the details are in the log',
    );
    await p.shutdown();
  });

  test('help is optional: a plugin without it answers -32601, which the host reports as no help (404), not a failure', async () => {
    const p = track(await f.launch('good'));
    await p.call('setup', { mount: mount('m1') });
    await assert.rejects(p.call('help', { mount: 'm1', path: 'kv/x' }), coffer('unsupported-path', 'no help available: plugin good does not implement help'));
    assert.ok(p.alive, 'the process keeps serving');
    assert.deepEqual(await p.call('specialPaths', {}), { unauthenticated: ['login', 'public/*'] });
    await p.shutdown();
  });

  test('periodic is optional: without it the host gets MethodNotImplemented (not a failure); with it the call runs', async () => {
    const p = track(await f.launch('good'));
    await p.call('setup', { mount: mount('m1') });
    const refused = await p.call('periodic', { mount: 'm1' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(refused instanceof MethodNotImplemented, String(refused));
    assert.equal((refused as MethodNotImplemented).message, 'plugin good does not implement periodic');
    assert.ok(p.alive, 'the process keeps serving');
    await p.shutdown();

    const q = track(await f.launch('scheduled'));
    await q.call('setup', { mount: mount('m2') });
    assert.deepEqual(await q.call('periodic', { mount: 'm2' }), {});
    assert.equal(f.storage.data.get('m2\0periodic-ran')?.toString(), 'yes', 'the plugin ran its periodic function for the mount');
    await q.shutdown();
  });

  test('renewAuth (protocol 3, optional): answered, refused with the plugin\'s words, or not implemented', async () => {
    const auth = { path: 'login/alice', policies: ['dev'], metadata: { username: 'alice' }, internal: { user: 'alice' }, displayName: 'alice', issueTime: '2026-01-01T00:00:00Z', ttl: 60 };
    const p = track(await f.launch('auth-renew'));
    await p.call('setup', { mount: mount('a1') });
    assert.deepEqual(await p.call('renewAuth', { mount: 'a1', auth, increment: 0 }), { ttl: 77, maxTtl: 500, warnings: ['renewed by login/alice'] });
    assert.deepEqual(await p.call('renewAuth', { mount: 'a1', auth, increment: 30 }), { ttl: 30, maxTtl: 500, warnings: ['renewed by login/alice'] });
    const refused = p.call('renewAuth', { mount: 'a1', auth: { ...auth, internal: { user: 'gone' } }, increment: 0 });
    await assert.rejects(refused, (err) => !(err instanceof RenewAuthNotImplemented) && coffer('invalid-request', 'user alice no longer exists')(err));
    await p.shutdown();

    // Without the callback: -32601, which the host reports as "not implemented", never as a refusal or a failure.
    const q = track(await f.launch('auth-good'));
    await q.call('setup', { mount: mount('a2') });
    await assert.rejects(q.call('renewAuth', { mount: 'a2', auth, increment: 0 }), (err) => err instanceof RenewAuthNotImplemented && coffer('unsupported-operation')(err));
    assert.ok(q.alive);
    await q.shutdown();

    // A protocol-1 session is never sent it.
    const old = track(await f.launch('auth-raw'));
    await old.call('setup', { mount: mount('a3') });
    await assert.rejects(old.call('renewAuth', { mount: 'a3', auth, increment: 0 }), (err) => err instanceof RenewAuthNotImplemented);
    // Nor may it hand the host a login's internal data (protocol 3): a malformed reply, that call only.
    await assert.rejects(
      old.call('handle', { mount: 'a3', request: request('auth-internal') }),
      coffer('plugin-failed', /malformed reply to handle: a login's internal data needs protocol 3; this session speaks 1/),
    );
    assert.ok(old.alive);
  });

  test('console.log and stray stdout writes in plugin code go to the log, not the protocol', async () => {
    const p = track(await f.launch('good'));
    await p.call('setup', { mount: mount('m1') });
    assert.deepEqual((await p.call('handle', { mount: 'm1', request: request('log') })).response?.data, { ok: true });
    await p.call('specialPaths', {});
    assert.ok(p.alive);
    const messages = f.logs.filter((l) => l.obj.plugin === 'good').map((l) => l.msg);
    for (const text of ['from console.log', 'from console.info', 'from process.stdout.write']) assert.ok(messages.includes(text), text);
    await p.shutdown();
  });

  test('the plugin sees only the catalog env and the protocol variables, and runs from the cache', async () => {
    process.env.DATABASE_URL = 'postgres://coffer:hunter2@db/coffer';
    try {
      const p = track(await f.launch('good', { env: ['FOO=bar=baz', 'EMPTY='] }));
      await p.call('setup', { mount: mount('m1') });
      const data = (await p.call('handle', { mount: 'm1', request: request('env') })).response?.data as {
        env: Record<string, string>;
        argv: string[];
      };
      assert.deepEqual(data.env, {
        PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
        FOO: 'bar=baz',
        EMPTY: '',
        COFFER_PLUGIN_MAGIC: MAGIC_VALUE,
        COFFER_PLUGIN_PROTOCOL: '1',
        COFFER_PLUGIN_PROTOCOLS: '1,2,3,4',
        COFFER_VERSION,
      });
      assert.equal(data.argv[1], join(f.cacheDir, f.spec('good').sha256));
      await p.shutdown();
    } finally {
      delete process.env.DATABASE_URL;
    }
  });

  test('an env entry that could run unpinned code, or is not KEY=VALUE, is never launched', async () => {
    for (const [entry, name] of [
      ['NODE_OPTIONS=--import=data:text/javascript,process.exit(7)', 'NODE_OPTIONS'],
      ['PATH=/tmp/evilbin', 'PATH'],
      ['LD_PRELOAD=/tmp/evil.so', 'LD_PRELOAD'],
      ['LD_BIND_NOW=1', 'LD_BIND_NOW'],
      ['BASH_FUNC_x=() { id; }', 'BASH_FUNC_x'],
    ]) {
      await assert.rejects(f.launch('good', { env: ['OK=1', entry] }), coffer('invalid-request', new RegExp(`^env entry "${name}" is not allowed`)));
    }
    await assert.rejects(f.launch('good', { env: ['bogus'] }), coffer('invalid-request', 'invalid env entry "bogus": must be KEY=VALUE'));
  });

  test('a mount that was not set up on the process is unreachable; a non-multiplexing plugin serves one mount', async () => {
    const p = track(await f.launch('good'));
    await p.call('setup', { mount: mount('m1') });
    const before = f.storage.calls.length;
    const r = await p.call('handle', { mount: 'm1', request: request('reach', { mount: 'm2' }) });
    assert.deepEqual(r.response?.data, { refused: 'unknown mount', kind: 'permission-denied' });
    assert.equal(f.storage.calls.length, before, 'the storage handler was never called');
    await assert.rejects(p.call('handle', { mount: 'm2', request: request('echo') }), coffer('internal', 'mount m2 is not set up on plugin good'));
    await p.shutdown();

    f.write('single', goodPlugin('single', { multiplex: false }));
    const s = track(await f.launch('single'));
    await s.call('setup', { mount: mount('m1') });
    await assert.rejects(s.call('setup', { mount: mount('m2') }), coffer('internal', /does not multiplex/));
    await s.shutdown();
  });

  test('sha256 mismatch, and a file swapped after registration, are refused', async () => {
    await assert.rejects(f.launch('good', { sha256: 'a'.repeat(64) }), coffer('plugin-failed', CHECKSUM_MISMATCH));
    await assert.rejects(f.launch('good', { sha256: 'not-hex' }), coffer('invalid-request', 'Could not decode SHA-256 value from Hex'));

    const registered = f.write('swapped', goodPlugin('swapped'));
    f.write('swapped', goodPlugin('swapped') + '// changed after registration\n');
    await assert.rejects(f.launch('swapped', { sha256: registered }), coffer('plugin-failed', CHECKSUM_MISMATCH));
  });

  test('the process runs the hashed bytes: swapping the original after launch changes nothing', async () => {
    const registered = f.write('original', goodPlugin('original'));
    const p = track(await f.launch('original', { sha256: registered }));
    await p.call('setup', { mount: mount('m1') });
    f.write('original', scripts.exitsAtOnce);
    assert.deepEqual((await p.call('handle', { mount: 'm1', request: request('echo') })).response?.data?.path, 'echo');
    assert.equal(sha256(readFileSync(join(f.cacheDir, registered))), registered);
    assert.equal(readFileSync(join(f.cacheDir, registered)).toString(), goodPlugin('original'));
    await assert.rejects(f.launch('original', { sha256: registered }), coffer('plugin-failed', CHECKSUM_MISMATCH));
    await p.shutdown();
  });

  test('CommonJS and ES module plugins both run from the cache, whatever package.json is above it', async () => {
    // The fixture's cache sits under {"type":"module"}; the other tests' plugins are CommonJS.
    f.write('esm', `#!/usr/bin/env node\nimport { serve } from ${JSON.stringify(pluginSideUrl)};\nserve({ hello: { type: 'auth', name: 'esm', version: '', multiplex: true }, async setup() {}, async handle() { return { data: { esm: typeof require === 'undefined' } }; }, async exists() { return { checkFound: false, exists: false }; }, specialPaths: () => [] });\n`);
    const p = track(await f.launch('esm'));
    await p.call('setup', { mount: mount('e1') });
    assert.deepEqual((await p.call('handle', { mount: 'e1', request: request('x') })).response?.data, { esm: true });
    await p.shutdown();
    assert.equal(readFileSync(join(f.cacheDir, 'package.json'), 'utf8'), CACHE_PACKAGE_JSON);
  });

  test('a tampered file in the cache is replaced, never run', async () => {
    const registered = f.write('cached', goodPlugin('cached'));
    mkdirSync(f.cacheDir, { recursive: true });
    writeFileSync(join(f.cacheDir, registered), scripts.exitsAtOnce, { mode: 0o755 });
    const p = track(await f.launch('cached', { sha256: registered }));
    assert.equal(p.hello.name, 'cached');
    assert.equal(readFileSync(join(f.cacheDir, registered)).toString(), goodPlugin('cached'));
    await p.shutdown();
  });

  test('confinement errors at launch', async () => {
    await assert.rejects(f.launch('good', { command: '../../bin/sh' }), coffer('internal', 'path cannot contain parent references'));
    symlinkSync('/bin/sh', join(f.pluginDir, 'sh-link'));
    await assert.rejects(
      f.launch('good', { command: 'sh-link', sha256: sha256(readFileSync('/bin/sh')) }),
      coffer('internal', 'cannot execute files outside of configured plugin directory'),
    );
  });

  test('a plugin that never says hello is killed after the start timeout', async () => {
    // The error and the log name the start timeout as the cause; no clock is asserted.
    await assert.rejects(f.launch('neverHello', { startTimeoutMs: 300 }), coffer('plugin-failed', 'plugin neverHello did not complete its handshake within 300 ms'));
    assert.ok(f.logs.some((l) => l.msg === 'plugin neverHello did not complete its handshake within 300 ms'));
    assert.deepEqual(processesRunning(join(f.cacheDir, f.spec('neverHello').sha256)), [], 'it was killed');
  });

  test('garbage, invalid and wrong-protocol handshakes are refused, quoting at most 100 characters', async () => {
    await assert.rejects(f.launch('garbageHello'), (err: unknown) => {
      assert.ok(err instanceof CofferError && err.code === 'plugin-failed');
      assert.equal(err.message, `plugin garbageHello sent a garbage handshake: "${'Z'.repeat(100)}…"`);
      return true;
    });
    await assert.rejects(f.launch('invalidHello'), coffer('plugin-failed', /^plugin invalidHello sent an invalid handshake \(hello\.type: must be one of "secret", "auth"\): /));
    await assert.rejects(f.launch('otherProtocol'), coffer('plugin-failed', 'plugin otherProtocol speaks protocol 5; this host speaks protocol 1, 2, 3 and 4'));
    await assert.rejects(f.launch('endlessHello'), coffer('plugin-failed', /no newline within 65536 bytes/));
    for (const file of ['garbageHello', 'invalidHello', 'otherProtocol', 'endlessHello']) {
      assert.deepEqual(processesRunning(join(f.cacheDir, f.spec(file).sha256)), [], `${file} was killed`);
    }
  });

  test('a plugin that exits at once: the error gives its exit code, its stderr is logged', async () => {
    await assert.rejects(f.launch('exitsAtOnce'), coffer('plugin-failed', 'plugin exitsAtOnce exited with code 3 before its handshake'));
    assert.ok(f.logs.some((l) => l.obj.plugin === 'exitsAtOnce' && l.msg === 'cannot start: no config'));
  });

  test('a plugin run by hand refuses to start', () => {
    const r = spawnSync(join(f.pluginDir, 'good'), [], { env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `${NOT_BY_HAND_MESSAGE}\n`);
    const ok = spawnSync(join(f.pluginDir, 'good'), [], { env: { PATH: process.env.PATH, [MAGIC_ENV]: MAGIC_VALUE }, input: '', encoding: 'utf8', timeout: 10_000 });
    assert.equal(ok.status, 0, 'with the magic it says hello and exits when its input ends');
    assert.match(ok.stdout, /^\{"coffer":"plugin","protocol":1,"type":"secret","name":"good","version":"v1.2.3","multiplex":true\}\n$/);
  });

  test('garbage mid-session fails every in-flight call and kills the process', async () => {
    const p = track(await f.launch('good'));
    await p.call('setup', { mount: mount('m1') });
    const hung = [1, 2, 3].map(() => p.call('handle', { mount: 'm1', request: request('hang') }));
    const garbage = p.call('handle', { mount: 'm1', request: request('garbage', { ms: 50 }) });
    const expected = coffer('plugin-failed', 'plugin good broke the protocol: not JSON; line: "this is not json"');
    for (const call of [...hung, garbage]) await assert.rejects(call, expected);
    const exit = await p.exited;
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(p.alive, false);
    assert.equal(isRunning(p.pid), false);
    await assert.rejects(p.call('specialPaths', {}), expected);
  });

  test('a crash mid-call fails the in-flight calls clearly', async () => {
    const p = track(await f.launch('good'));
    let exitEvent: unknown;
    p.on('exit', (e) => (exitEvent = e));
    await p.call('setup', { mount: mount('m1') });
    const calls = [
      ...[1, 2, 3, 4].map(() => p.call('handle', { mount: 'm1', request: request('hang') })),
      p.call('handle', { mount: 'm1', request: request('crash', { ms: 50 }) }),
    ];
    for (const call of calls) await assert.rejects(call, coffer('plugin-failed', 'plugin good exited unexpectedly (code 7)'));
    assert.deepEqual(await p.exited, { code: 7, signal: null });
    assert.deepEqual(exitEvent, { code: 7, signal: null });
    assert.equal(p.alive, false);
  });

  test('a hung call times out; the process stays up for the caller to replace', async () => {
    const p = track(await f.launch('good'));
    await p.call('setup', { mount: mount('m1') });
    await assert.rejects(
      p.call('handle', { mount: 'm1', request: request('hang') }, { timeoutMs: 150 }),
      coffer('plugin-failed', 'plugin good did not answer handle within 150 ms'),
    );
    assert.ok(p.alive);
    assert.deepEqual((await p.call('handle', { mount: 'm1', request: request('echo') })).response?.data?.path, 'echo');
    await p.shutdown();
  });

  test('a plugin that said protocol 1 keeps working, and gets no protocol-2 method (storage.txn: method not found)', async () => {
    const p = track(await f.launch('auth-raw'));
    assert.equal(p.hello.protocol, 1);
    await p.call('setup', { mount: mount('old') });
    assert.deepEqual((await p.call('handle', { mount: 'old', request: request('ok') })).response, { auth: { policies: ['default'], ttl: 60 } });
    const said = (await p.call('handle', { mount: 'old', request: request('txn') })).response?.data?.hostSaid as { code: number; message: string };
    assert.equal(said.code, -32601);
    assert.match(said.message, /unknown method "storage\.txn" in protocol 1/);
  });

  test('untrusted replies: a malformed answer fails that call, never becomes a token', async () => {
    const p = track(await f.launch('auth-raw'));
    await p.call('setup', { mount: mount('a1') });
    const handle = (path: string, timeoutMs?: number) => p.call('handle', { mount: 'a1', request: request(path) }, { timeoutMs });
    assert.deepEqual((await handle('ok')).response, { auth: { policies: ['default'], ttl: 60 } });
    const bad = (why: RegExp) => coffer('plugin-failed', why);
    await assert.rejects(handle('auth-and-error'), bad(/^plugin auth-raw sent a malformed reply to handle: result\.response: an auth response must not also carry an error$/));
    await assert.rejects(handle('policies-not-array'), bad(/result\.response\.auth\.policies: must be array, not string$/));
    await assert.rejects(handle('policy-not-string'), bad(/result\.response\.auth\.policies\[0\]: must be string, not number$/));
    await assert.rejects(handle('extra-auth-field'), bad(/result\.response\.auth: must not have property "clientToken"$/));
    await assert.rejects(handle('result-and-error'), bad(/reply: must carry exactly one of result and error/));
    await assert.rejects(handle('neither'), bad(/reply: must carry exactly one of result and error/));
    await assert.rejects(handle('no-kind'), bad(/must say its kind/));
    await assert.rejects(handle('missing-response'), bad(/result: must have property "response"/));
    assert.ok(p.alive, 'a malformed reply fails the call, not the process');

    await assert.rejects(handle('late', 100), coffer('plugin-failed', 'plugin auth-raw did not answer handle within 100 ms'));
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(p.stats.lateReplies, 1, 'the late reply was recognized and dropped');
    assert.ok(p.alive);

    const pending = handle('hang-forever');
    await assert.rejects(handle('unknown-id'), bad(/^plugin auth-raw broke the protocol: a reply to an unknown call id 987654; line: /));
    await assert.rejects(pending, bad(/broke the protocol/));
    assert.equal(p.alive, false);
    await p.exited;
  });

  test('protocol 4: an answer to a handle with choose must keep to it; older sessions never get choose', async () => {
    const p = track(await f.launch('choose-raw'));
    assert.equal(p.hello.protocol, 4);
    await p.call('setup', { mount: mount('c1') });
    const write = (path: string, choose?: ('create' | 'update')[]) =>
      p.call('handle', { mount: 'c1', request: { ...request(path), operation: 'update' }, ...(choose ? { choose } : {}) });
    const bad = (why: RegExp) => coffer('plugin-failed', why);
    assert.deepEqual(await write('choose-update', ['update']), { response: { data: { ok: true } }, operation: 'update' });
    assert.deepEqual(await write('choose-denied-create', ['update']), { response: null, operation: 'create', denied: true });
    await assert.rejects(write('choose-silent', ['update']), bad(/malformed reply to handle: a handle with choose must say the operation it picked$/));
    await assert.rejects(write('choose-create', ['update']), bad(/malformed reply to handle: handled create, which choose did not allow$/));
    await assert.rejects(write('choose-denied-update', ['update']), bad(/malformed reply to handle: denied update, which choose allowed/));
    await assert.rejects(write('choose-update'), bad(/malformed reply to handle: operation and denied answer a handle with choose only$/));
    assert.ok(p.alive);

    // A protocol-1 session would ignore choose and write unchecked: the host does not send it.
    const old = track(await f.launch('auth-raw'));
    await old.call('setup', { mount: mount('o1') });
    await assert.rejects(
      old.call('handle', { mount: 'o1', request: { ...request('ok'), operation: 'update' }, choose: ['create'] }),
      coffer('internal', 'plugin auth-raw speaks protocol 1: handle has no choose before protocol 4'),
    );
  });

  test('a secret plugin cannot issue auth; a reply without jsonrpc breaks the protocol', async () => {
    const p = track(await f.launch('good'));
    await p.call('setup', { mount: mount('m1') });
    await assert.rejects(p.call('handle', { mount: 'm1', request: request('login') }), coffer('plugin-failed', /a secret plugin cannot issue auth/));
    await p.shutdown();

    const r = track(await f.launch('auth-raw'));
    await r.call('setup', { mount: mount('a1') });
    await assert.rejects(r.call('handle', { mount: 'a1', request: request('no-jsonrpc') }), coffer('plugin-failed', /broke the protocol: not a JSON-RPC 2\.0 message/));
  });

  test('shutdown kills a plugin that ignores it after the grace period', async () => {
    const p = track(await f.launch('auth-raw'));
    const exit = await p.shutdown(300);
    assert.equal(exit.signal, 'SIGKILL');
    assert.ok(f.logs.some((l) => l.msg === 'plugin did not exit after shutdown; killed'));
  });

  test('a plugin flooding stderr: lines rate-limited and cut, drops counted, the host unharmed', async () => {
    const p = track(await f.launch('good', { stderr: { maxLineBytes: 1024, linesPerSecond: 100, burst: 50 } }));
    await p.call('setup', { mount: mount('m1') });
    const logged = () => f.logs.filter((l) => l.obj.plugin === 'good' && l.level === 'info').length;
    const before = logged();
    const started = Date.now();
    const r = await p.call('handle', { mount: 'm1', request: request('flood', { thousands: 100, longLine: 4_000_000 }) });
    assert.deepEqual(r.response?.data, { done: true });
    await p.call('specialPaths', {});
    await p.shutdown();
    const seconds = (Date.now() - started) / 1000;
    assert.ok(p.stats.stderrLines >= 100_001, `saw ${p.stats.stderrLines} lines`);
    const forwarded = logged() - before;
    assert.ok(forwarded <= 50 + Math.ceil(seconds * 100) + 5, `forwarded ${forwarded} lines in ${seconds}s`);
    assert.ok(p.stats.stderrDropped >= 100_001 - forwarded - 5, `dropped ${p.stats.stderrDropped}`);
    assert.ok(f.logs.filter((l) => l.obj.plugin === 'good').every((l) => l.msg.length <= 1024));
    const report = f.logs.filter((l) => l.msg === 'plugin stderr lines dropped (rate limit)');
    assert.ok(report.length > 0);
    assert.equal(report.at(-1)!.obj.droppedTotal, p.stats.stderrDropped);
  });
});

test('the Python plugin of docs/plugin-protocol.md works as documented', async (t) => {
  const env = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` };
  if (spawnSync('/usr/bin/env', ['python3', '-c', '0'], { env }).status !== 0) {
    t.skip('no python3 on the plugin PATH');
    return;
  }
  const doc = readFileSync(join(here, '../../../docs/plugin-protocol.md'), 'utf8');
  const code = /```python\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(code, 'the doc has a python block');
  assert.ok(code.split('\n').length <= 60, 'still a short sketch');
  const f = fixture();
  try {
    f.write('pykv', code);
    const p = await f.launch('pykv');
    assert.deepEqual(p.hello, { coffer: 'plugin', protocol: 2, type: 'secret', name: 'pykv', version: 'v0.1.0', multiplex: true });
    assert.deepEqual(await p.call('specialPaths', {}), { unauthenticated: [] });
    await p.call('setup', { mount: mount('py') });
    const op = (operation: PluginRequest['operation'], path: string, data = {}) =>
      p.call('handle', { mount: 'py', request: { ...request(path, data), operation } });
    const existence = (path: string) => p.call('exists', { mount: 'py', request: { ...request(path, {}), operation: 'update' } });
    assert.deepEqual(await existence('db'), { checkFound: true, exists: false });
    assert.equal((await op('update', 'db', { password: 's3cr3t' })).response, null);
    assert.deepEqual(JSON.parse(f.storage.data.get('py\0data/db')!.toString()), { password: 's3cr3t' });
    assert.deepEqual(await existence('db'), { checkFound: true, exists: true }, 'storage.exists, answered from the handler\'s get');
    assert.deepEqual((await op('read', 'db')).response, { data: { password: 's3cr3t' } });
    assert.equal((await op('read', 'none')).response, null);
    await assert.rejects(op('list', ''), coffer('unsupported-operation', 'unsupported operation'));
    await assert.rejects(p.call('help', { mount: 'py', path: '' }), coffer('unsupported-path', 'no help available: plugin pykv does not implement help'));
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => op('update', `k${i}`, { i }).then(() => op('read', `k${i}`))));
    assert.deepEqual(many.map((r) => r.response?.data?.i), Array.from({ length: 20 }, (_, i) => i));
    await op('delete', 'db');
    assert.equal((await op('read', 'db')).response, null);
    assert.deepEqual(await p.shutdown(), { code: 0, signal: null });
  } finally {
    rmSync(f.root, { recursive: true, force: true });
  }
});

test('LineSplitter keeps at most maxBytes of an endless line', () => {
  let overflows = 0;
  const lines: [string, number][] = [];
  const s = new LineSplitter(
    1000,
    (line, discarded) => lines.push([line.toString(), discarded]),
    () => overflows++,
  );
  const chunk = Buffer.alloc(64 * 1024, 'q');
  for (let i = 0; i < 1600; i++) {
    s.push(chunk); // 100 MiB without a newline
    assert.ok((s as unknown as { size: number }).size <= 1000);
  }
  s.push(Buffer.from('\nab\ncd'));
  s.flush();
  assert.equal(overflows, 1);
  assert.deepEqual(lines, [
    ['q'.repeat(1000), 1600 * 64 * 1024 - 1000],
    ['ab', 0],
    ['cd', 0],
  ]);
});
