/**
 * serve(backend) over in-memory streams: the SDK's backend behind the protocol's real plugin side, without spawning.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { MAGIC_ENV, MAGIC_VALUE } from '#plugin-protocol';
import { defineBackend, serve } from './index.js';

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: { kind?: string } };
}

function start() {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let buffer = '';
  stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    for (let i = buffer.indexOf('\n'); i !== -1; i = buffer.indexOf('\n')) {
      lines.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
      waiters.splice(0).forEach((wake) => wake());
    }
  });
  const backend = defineBackend({
    type: 'secret',
    name: 'served',
    version: 'v1.0.0',
    help: '',
    paths: [
      {
        pattern: 'kv/(?<key>\\w+)',
        operations: {
          read: async (req) => {
            const value = await req.storage.getString(req.path);
            return value === null ? null : { data: { value } };
          },
        },
      },
    ],
  });
  let exitCode: number | undefined;
  serve(backend, { stdin, stdout, stderr: new PassThrough(), env: { [MAGIC_ENV]: MAGIC_VALUE }, exit: (code) => void (exitCode = code) });

  async function next(): Promise<string> {
    while (lines.length === 0) await new Promise<void>((wake) => waiters.push(wake));
    return lines.shift()!;
  }
  return {
    next,
    nextMessage: async () => JSON.parse(await next()) as Message,
    send: (message: object) => stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`),
    end: () => stdin.end(),
    exitCode: () => exitCode,
  };
}

test('serve(backend): hello from the declaration, then setup, a request that reads storage through the host', async () => {
  const plugin = start();
  assert.deepEqual(JSON.parse(await plugin.next()), {
    coffer: 'plugin',
    protocol: 1,
    type: 'secret',
    name: 'served',
    version: 'v1.0.0',
    multiplex: true,
  });

  const mount = { id: 'm1', path: 'served/', accessor: 'served_00000000', type: 'served', config: { defaultLeaseTtl: 0, maxLeaseTtl: 0 }, options: {} };
  plugin.send({ id: 1, method: 'setup', params: { mount } });
  assert.deepEqual((await plugin.nextMessage()).result, {});

  const request = (path: string) => ({ operation: 'read', path, data: {}, tokenAccessor: 'acc', requestId: 'req-1' });
  plugin.send({ id: 2, method: 'handle', params: { mount: 'm1', request: request('kv/foo') } });
  const storageCall = await plugin.nextMessage();
  assert.equal(storageCall.method, 'storage.get');
  assert.deepEqual(storageCall.params, { mount: 'm1', key: 'kv/foo' });
  plugin.send({ id: storageCall.id, result: { value: Buffer.from('bar').toString('base64') } });
  assert.deepEqual(await plugin.nextMessage(), { jsonrpc: '2.0', id: 2, result: { response: { data: { value: 'bar' } } } });

  plugin.send({ id: 3, method: 'handle', params: { mount: 'm1', request: request('nope') } });
  const failed = await plugin.nextMessage();
  assert.equal(failed.id, 3);
  assert.equal(failed.error?.message, 'unsupported path');
  assert.equal(failed.error?.data?.kind, 'unsupported-path');

  plugin.send({ id: 4, method: 'exists', params: { mount: 'm1', request: { ...request('kv/foo'), operation: 'update' } } });
  assert.deepEqual((await plugin.nextMessage()).result, { checkFound: false, exists: false });

  // help: the backend's own text for the mount's root and for a path; an unknown path is unsupported.
  plugin.send({ id: 5, method: 'help', params: { mount: 'm1', path: '' } });
  const root = (await plugin.nextMessage()).result as { help: string };
  assert.match(root.help, /^## PATHS\n\nThe following paths are supported by this backend\./);
  assert.match(root.help, /\n\n {4}\^kv\/\(\?<key>\\w\+\)\$$/);
  plugin.send({ id: 6, method: 'help', params: { mount: 'm1', path: 'kv/foo' } });
  const one = (await plugin.nextMessage()).result as { help: string };
  assert.match(one.help, /^Request: {8}kv\/foo\nMatching Route: \^kv\/\(\?<key>\\w\+\)\$\n/);
  assert.match(one.help, /\n {4}key \(string\)\n/);
  plugin.send({ id: 7, method: 'help', params: { mount: 'm1', path: 'nope' } });
  assert.deepEqual((await plugin.nextMessage()).error, { code: -32000, message: 'unsupported path', data: { kind: 'unsupported-path' } });
  plugin.send({ id: 8, method: 'help', params: { mount: 'not-set-up', path: '' } });
  assert.equal((await plugin.nextMessage()).error?.data?.kind, 'internal');
  plugin.end();
});
