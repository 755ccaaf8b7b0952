/** serve() in-process, over PassThrough streams: what a plugin says on the wire, line by line. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { MAGIC_ENV, MAGIC_VALUE, PROTOCOL_ENV, PROTOCOLS_ENV, RPC_ERRORS, negotiateProtocol, type MountInfo, type PluginRequest } from './messages.js';
import { INTERNAL_ERROR_MESSAGE, NOT_BY_HAND_MESSAGE, PluginError, serve, type PluginImplementation } from './plugin-side.js';

interface Wire {
  /** The next line the plugin writes, parsed. */
  next(): Promise<Record<string, any>>;
  send(message: object): void;
  raw(text: string): void;
  end(): void;
  stderr: () => string;
  exits: number[];
  exited: Promise<number>;
}

function run(impl: PluginImplementation, env: NodeJS.ProcessEnv = { [MAGIC_ENV]: MAGIC_VALUE }): Wire {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let errText = '';
  stderr.on('data', (c) => (errText += c));
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let buf = '';
  stdout.on('data', (c: Buffer) => {
    buf += c.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const exits: number[] = [];
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => (resolveExit = r));
  serve(impl, {
    stdin,
    stdout,
    stderr,
    env,
    exit: (code) => {
      exits.push(code);
      resolveExit(code);
    },
  });
  return {
    next: () =>
      new Promise((resolve) => {
        const line = lines.shift();
        if (line !== undefined) resolve(JSON.parse(line));
        else waiters.push((l) => resolve(JSON.parse(l)));
      }),
    send: (m) => stdin.write(`${JSON.stringify(m)}\n`),
    raw: (text) => stdin.write(text),
    end: () => stdin.end(),
    stderr: () => errText,
    exits,
    exited,
  };
}

const mount: MountInfo = { id: 'm1', path: 'kv/', accessor: 'kv_1234', type: 'kv', config: { defaultLeaseTtl: 0, maxLeaseTtl: 0 }, options: {} };
const request = (path: string, data: Record<string, unknown> = {}): PluginRequest => ({ operation: 'read', path, data, tokenAccessor: '', requestId: 'r' });

function plugin(overrides: Partial<PluginImplementation> = {}): PluginImplementation {
  return {
    hello: { type: 'secret', name: 'inproc', version: '0.1.0', multiplex: true },
    async setup() {},
    async handle(_mount, req, host) {
      if (req.path === 'slow') {
        await new Promise((r) => setTimeout(r, 50));
        return { data: { which: 'slow' } };
      }
      if (req.path === 'fast') return { data: { which: 'fast' } };
      if (req.path === 'stored') {
        const r = await host.call('storage.get', { mount: _mount, key: 'k' });
        return { data: { value: r.value } };
      }
      if (req.path === 'refused') {
        try {
          await host.call('storage.get', { mount: 'other', key: 'k' });
          return null;
        } catch (err) {
          return { data: { kind: (err as PluginError).kind, message: (err as Error).message } };
        }
      }
      if (req.path === 'kind') throw new PluginError('not-found', 'no such role');
      if (req.path === 'throw') throw new TypeError('cannot read x of undefined');
      if (req.path === 'bad') return { auth: { policies: 'root' } } as never;
      if (req.path === 'undefined') return undefined as never;
      return null;
    },
    async exists() {
      return { checkFound: false, exists: false };
    },
    specialPaths: () => ['login'],
    ...overrides,
  };
}

test('without the magic it refuses to run, and says so on stderr', () => {
  const w = run(plugin(), {});
  assert.deepEqual(w.exits, [1]);
  assert.equal(w.stderr(), `${NOT_BY_HAND_MESSAGE}\n`);
});

test('a host speaking another protocol version is refused', () => {
  const w = run(plugin(), { [MAGIC_ENV]: MAGIC_VALUE, [PROTOCOL_ENV]: '1', [PROTOCOLS_ENV]: '5,6' });
  assert.deepEqual(w.exits, [1]);
  assert.match(w.stderr(), /speaks Coffer plugin protocol 1, 2, 3 and 4, the host asked for 5,6/);
});

test('the handshake settles on the newest version both sides speak; a protocol-1 host gets 1', async () => {
  assert.equal(negotiateProtocol({ [PROTOCOL_ENV]: '1', [PROTOCOLS_ENV]: '1,2' }), 2);
  assert.equal(negotiateProtocol({ [PROTOCOL_ENV]: '1' }), 1, 'a host that predates the list');
  assert.equal(negotiateProtocol({}), 1);
  assert.equal(negotiateProtocol({ [PROTOCOLS_ENV]: '1,2' }, [1]), 1, 'a plugin that speaks 1 only');
  assert.equal(negotiateProtocol({ [PROTOCOLS_ENV]: '5' }), null);
  const calls: string[] = [];
  const w = run(
    plugin({
      handle: async (_m, _r, host) => {
        calls.push(String(host.protocol));
        await host.call('storage.txn', { mount: 'm1', checks: [], ops: [] });
        return null;
      },
    }),
    { [MAGIC_ENV]: MAGIC_VALUE, [PROTOCOL_ENV]: '1' },
  );
  assert.equal((await w.next()).protocol, 1);
  w.send({ jsonrpc: '2.0', id: 1, method: 'setup', params: { mount } });
  await w.next();
  w.send({ jsonrpc: '2.0', id: 2, method: 'handle', params: { mount: 'm1', request: request('x') } });
  const reply = await w.next();
  assert.deepEqual(calls, ['1']);
  assert.match(reply.error.message, /storage\.txn needs plugin protocol 2; this host speaks protocol 1/);
});

test('an invalid hello is refused before anything is written', () => {
  const w = run(plugin({ hello: { type: 'secret', name: '', version: 'x', multiplex: true } }));
  assert.deepEqual(w.exits, [1]);
  assert.match(w.stderr(), /invalid plugin hello: hello\.name: must not be empty/);
});

test('hello first, then calls answered as they finish, not as they came', async () => {
  const w = run(plugin());
  assert.deepEqual(await w.next(), { coffer: 'plugin', protocol: 1, type: 'secret', name: 'inproc', version: '0.1.0', multiplex: true });
  w.send({ jsonrpc: '2.0', id: 1, method: 'setup', params: { mount } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 1, result: {} });
  w.send({ jsonrpc: '2.0', id: 2, method: 'handle', params: { mount: 'm1', request: request('slow') } });
  w.send({ jsonrpc: '2.0', id: 3, method: 'handle', params: { mount: 'm1', request: request('fast') } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 3, result: { response: { data: { which: 'fast' } } } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 2, result: { response: { data: { which: 'slow' } } } });
  w.send({ jsonrpc: '2.0', id: 'x', method: 'specialPaths', params: {} });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 'x', result: { unauthenticated: ['login'] } });
  w.send({ jsonrpc: '2.0', id: 4, method: 'exists', params: { mount: 'm1', request: request('a') } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 4, result: { checkFound: false, exists: false } });
  w.send({ jsonrpc: '2.0', id: 5, method: 'handle', params: { mount: 'm1', request: request('undefined') } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 5, result: { response: null } });
  w.send({ jsonrpc: '2.0', id: 6, method: 'invalidate', params: { mount: 'm1', key: 'k' } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 6, result: {} });
  w.send({ jsonrpc: '2.0', id: 7, method: 'cleanup', params: { mount: 'm1' } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 7, result: {} });
  w.send({ jsonrpc: '2.0', id: 8, method: 'shutdown', params: {} });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 8, result: {} });
  assert.equal(await w.exited, 0);
});

test('host calls go out with their own ids and their answers come back to the handler', async () => {
  const w = run(plugin());
  await w.next();
  w.send({ jsonrpc: '2.0', id: 1, method: 'handle', params: { mount: 'm1', request: request('stored') } });
  const call = await w.next();
  assert.deepEqual(call, { jsonrpc: '2.0', id: 1, method: 'storage.get', params: { mount: 'm1', key: 'k' } });
  w.send({ jsonrpc: '2.0', id: call.id, result: { value: 'dmFsdWU=' } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 1, result: { response: { data: { value: 'dmFsdWU=' } } } });

  w.send({ jsonrpc: '2.0', id: 2, method: 'handle', params: { mount: 'm1', request: request('refused') } });
  const refused = await w.next();
  w.send({ jsonrpc: '2.0', id: refused.id, error: { code: RPC_ERRORS.plugin, message: 'unknown mount', data: { kind: 'permission-denied' } } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 2, result: { response: { data: { kind: 'permission-denied', message: 'unknown mount' } } } });
  w.end();
  assert.equal(await w.exited, 0, 'the end of stdin ends the plugin');
});

test('errors: a PluginError keeps kind and message; anything else is internal, details on stderr only', async () => {
  const w = run(plugin());
  await w.next();
  w.send({ jsonrpc: '2.0', id: 1, method: 'handle', params: { mount: 'm1', request: request('kind') } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 1, error: { code: -32000, message: 'no such role', data: { kind: 'not-found' } } });
  w.send({ jsonrpc: '2.0', id: 2, method: 'handle', params: { mount: 'm1', request: request('throw') } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 2, error: { code: -32000, message: INTERNAL_ERROR_MESSAGE, data: { kind: 'internal' } } });
  assert.match(w.stderr(), /handle failed: TypeError: cannot read x of undefined/);
  w.send({ jsonrpc: '2.0', id: 3, method: 'handle', params: { mount: 'm1', request: request('bad') } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 3, error: { code: -32000, message: INTERNAL_ERROR_MESSAGE, data: { kind: 'internal' } } });
  assert.match(w.stderr(), /handle returned something outside the protocol, refused: result\.response\.auth\.policies: must be array/);
  w.send({ jsonrpc: '2.0', id: 4, method: 'nope', params: {} });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 4, error: { code: -32601, message: 'unknown method "nope"', data: { kind: 'unsupported-operation' } } });
  w.send({ jsonrpc: '2.0', id: 5, method: 'handle', params: { mount: 'm1', request: { ...request('x'), operation: 'explode' } } });
  const invalid = await w.next();
  assert.equal(invalid.error.code, -32602);
  assert.match(invalid.error.message, /params\.request\.operation: must be one of/);
  w.send({ jsonrpc: '2.0', id: 6, method: 'setup', params: { mount: { ...mount, extra: 'fields are fine' } } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 6, result: {} }, 'unknown fields from the host are tolerated');
  w.send({ jsonrpc: '2.0', method: 'someNotification', params: {} });
  w.send({ jsonrpc: '2.0', id: 7, method: 'specialPaths' });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 7, result: { unauthenticated: ['login'] } }, 'notifications get no answer');
  w.end();
  await w.exited;
});

test('a line that is not JSON gets a parse error, and serving goes on', async () => {
  const w = run(plugin());
  await w.next();
  w.raw('oops\n');
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error', data: { kind: 'invalid-request' } } });
  w.raw('[1,2]\n');
  assert.equal((await w.next()).error.code, -32600);
  w.send({ jsonrpc: '2.0', id: 1, method: 'specialPaths', params: {} });
  assert.deepEqual((await w.next()).result, { unauthenticated: ['login'] });
  w.end();
  await w.exited;
});

test('help is optional: answered from the implementation when it has one, -32601 when it has none', async () => {
  const w = run(plugin({ help: (mountId, path) => `help of ${JSON.stringify(path)} on ${mountId}` }));
  await w.next();
  w.send({ jsonrpc: '2.0', id: 1, method: 'help', params: { mount: 'm1', path: 'kv/a' } });
  assert.deepEqual(await w.next(), { jsonrpc: '2.0', id: 1, result: { help: 'help of "kv/a" on m1' } });
  w.send({ jsonrpc: '2.0', id: 2, method: 'help', params: { mount: 'm1', path: '/abs' } });
  assert.match((await w.next()).error.message, /^params\.path: must match/);
  w.end();
  await w.exited;

  const bare = run(plugin());
  await bare.next();
  bare.send({ jsonrpc: '2.0', id: 1, method: 'help', params: { mount: 'm1', path: '' } });
  assert.deepEqual(await bare.next(), { jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'unknown method "help"', data: { kind: 'unsupported-operation' } } });
  bare.end();
  await bare.exited;
});

test('protocol 4: handle with choose runs the existence check, then only the operation choose allows', async () => {
  const present = new Set(['there']);
  const handled: string[] = [];
  const impl = plugin({
    async exists(_m, req) {
      return { checkFound: req.path !== 'unchecked', exists: present.has(req.path) };
    },
    async handle(_m, req) {
      handled.push(`${req.operation} ${req.path}`);
      return { data: { op: req.operation } };
    },
  });
  const write = (path: string): PluginRequest => ({ ...request(path), operation: 'update' });
  const w = run(impl, { [MAGIC_ENV]: MAGIC_VALUE, [PROTOCOL_ENV]: '1', [PROTOCOLS_ENV]: '1,2,3,4' });
  assert.equal((await w.next()).protocol, 4);
  w.send({ jsonrpc: '2.0', id: 1, method: 'handle', params: { mount: 'm1', request: write('absent'), choose: ['create', 'update'] } });
  assert.deepEqual((await w.next()).result, { response: { data: { op: 'create' } }, operation: 'create' });
  w.send({ jsonrpc: '2.0', id: 2, method: 'handle', params: { mount: 'm1', request: write('there'), choose: ['update'] } });
  assert.deepEqual((await w.next()).result, { response: { data: { op: 'update' } }, operation: 'update' });
  // Refused: the handler never sees the request.
  w.send({ jsonrpc: '2.0', id: 3, method: 'handle', params: { mount: 'm1', request: write('absent'), choose: ['update'] } });
  assert.deepEqual((await w.next()).result, { response: null, operation: 'create', denied: true });
  w.send({ jsonrpc: '2.0', id: 4, method: 'handle', params: { mount: 'm1', request: write('there'), choose: ['create'] } });
  assert.deepEqual((await w.next()).result, { response: null, operation: 'update', denied: true });
  // No existence check on the path: an update, as in Vault.
  w.send({ jsonrpc: '2.0', id: 5, method: 'handle', params: { mount: 'm1', request: write('unchecked'), choose: ['update'] } });
  assert.deepEqual((await w.next()).result, { response: { data: { op: 'update' } }, operation: 'update' });
  w.send({ jsonrpc: '2.0', id: 6, method: 'handle', params: { mount: 'm1', request: write('x'), choose: ['delete'] } });
  assert.match((await w.next()).error.message, /^params\.choose/);
  assert.deepEqual(handled, ['create absent', 'update there', 'update unchecked']);
  w.end();
  await w.exited;

  // A session that settled on 3 has no choose: the write is handled as sent, and the answer says no operation.
  const old = run(impl, { [MAGIC_ENV]: MAGIC_VALUE, [PROTOCOL_ENV]: '1', [PROTOCOLS_ENV]: '1,2,3' });
  assert.equal((await old.next()).protocol, 3);
  old.send({ jsonrpc: '2.0', id: 1, method: 'handle', params: { mount: 'm1', request: write('absent'), choose: ['update'] } });
  assert.deepEqual((await old.next()).result, { response: { data: { op: 'update' } } });
  old.end();
  await old.exited;
});
