/**
 * serve(backend) over in-memory streams: the SDK's backend behind the protocol's real plugin side, without spawning.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineBackend } from './index.js';
import { servedPeer } from './served-peer.test-support.js';


function start() {
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
  const peer = servedPeer(backend);
  return { ...peer, next: peer.nextLine, nextMessage: peer.next };
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
