import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PLUGIN_ERROR_KINDS, type HostToPlugin, type PluginToHost } from './messages.js';
import { allSchemas, helloSchema, hostToPluginSchemas, pluginToHostSchemas, responseSchema, rpcResponseSchema } from './schemas.js';
import { isStrictBase64, validate } from './validate.js';
import { staleSchemaFiles } from './write-schemas.js';

test('schemas/*.json are up to date with schemas.ts', () => {
  assert.deepEqual(staleSchemaFiles(), [], 'run: node dist/libs/plugin-protocol/write-schemas.js');
});

test('every method of messages.ts has schemas, and no more', () => {
  const host: Record<keyof HostToPlugin, true> = { setup: true, handle: true, exists: true, specialPaths: true, invalidate: true, cleanup: true, shutdown: true, help: true, renew: true, revoke: true, periodic: true, renewAuth: true };
  const plugin: Record<keyof PluginToHost, true> = {
    'storage.get': true,
    'storage.put': true,
    'storage.delete': true,
    'storage.list': true,
    'system.info': true,
    'storage.exists': true,
    'storage.txn': true,
  };
  assert.deepEqual(Object.keys(hostToPluginSchemas).sort(), Object.keys(host).sort());
  assert.deepEqual(Object.keys(pluginToHostSchemas).sort(), Object.keys(plugin).sort());
  for (const [name, schema] of Object.entries(allSchemas())) {
    assert.ok(schema.$id?.endsWith(`/${name}.json`));
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  }
});

test('response: a secret (protocol 3) is strict and never with auth, raw or an error', () => {
  const secret = { type: 'creds', internal: { username: 'v-x' }, ttl: 60, maxTtl: 120, renewable: true };
  assert.equal(validate(responseSchema, { data: { username: 'v-x' }, secret }), null);
  assert.match(validate(responseSchema, { secret: { ...secret, extra: 1 } }, 'r') ?? '', /must not have property "extra"/);
  assert.match(validate(responseSchema, { secret: { internal: {} } }, 'r') ?? '', /must have property "type"/);
  assert.equal(validate(responseSchema, { secret, auth: { policies: ['a'] } }, 'r'), 'r: a response with a secret must carry neither auth nor raw');
  assert.equal(validate(responseSchema, { secret, data: { error: 'x' } }, 'r'), 'r: a response with a secret must not also carry an error');
  const lease = { id: 'database/creds/r/abc', type: 'creds', internal: {}, issueTime: '2026-01-01T00:00:00Z', ttl: 60 };
  assert.equal(validate(hostToPluginSchemas.renew.params, { mount: 'm', lease, increment: 0 }), null);
  assert.match(validate(hostToPluginSchemas.renew.result, { ttl: -1 }, 'r') ?? '', /ttl/);
  assert.equal(validate(hostToPluginSchemas.revoke.result, {}), null);
});

test('renewAuth (protocol 3): the login\'s auth info in, a TTL or nothing out; a login may carry internal data', () => {
  const auth = { path: 'login/alice', policies: ['dev'], metadata: { username: 'alice' }, internal: { id: 1 }, displayName: 'alice', issueTime: '2026-01-01T00:00:00Z', ttl: 60 };
  assert.equal(validate(hostToPluginSchemas.renewAuth.params, { mount: 'm', auth, increment: 0 }), null);
  assert.match(validate(hostToPluginSchemas.renewAuth.params, { mount: 'm', auth: { ...auth, internal: undefined }, increment: 0 }, 'p') ?? '', /internal/);
  assert.equal(validate(hostToPluginSchemas.renewAuth.result, {}), null);
  assert.equal(validate(hostToPluginSchemas.renewAuth.result, { ttl: 60, maxTtl: 120, warnings: ['w'] }), null);
  assert.match(validate(hostToPluginSchemas.renewAuth.result, { policies: ['root'] }, 'r') ?? '', /must not have property "policies"/);
  assert.equal(validate(responseSchema, { auth: { policies: ['a'], internal: { user: 'alice' } } }), null);
});

test('hello: strict', () => {
  const ok = { coffer: 'plugin', protocol: 1, type: 'auth', name: 'userpass', version: 'v0.0.0+mock', multiplex: false };
  assert.equal(validate(helloSchema, ok), null);
  assert.equal(validate(helloSchema, { ...ok, version: '' }), null);
  assert.equal(validate(helloSchema, { ...ok, extra: 1 }, 'hello'), 'hello: must not have property "extra"');
  assert.equal(validate(helloSchema, { ...ok, multiplex: 'yes' }, 'hello'), 'hello.multiplex: must be boolean, not string');
  assert.equal(validate(helloSchema, { ...ok, protocol: 1.5 }, 'hello'), 'hello.protocol: must be integer, not number');
  assert.equal(validate(helloSchema, { ...ok, version: 'latest' }, 'hello')?.startsWith('hello.version: must match'), true);
  const { name: _name, ...noName } = ok;
  assert.equal(validate(helloSchema, noName, 'hello'), 'hello: must have property "name"');
  assert.equal(validate(helloSchema, [ok], 'hello'), 'hello: must be object, not array');
});

test('response: auth is never paired with an error or a raw body; data is free-form', () => {
  assert.equal(validate(responseSchema, { data: { anything: [1, { deep: null }] }, warnings: ['w'] }), null);
  assert.equal(validate(responseSchema, { data: { error: 'this is only data' } }), null);
  assert.equal(validate(responseSchema, { auth: { policies: ['a'], metadata: { user: 'bob' }, ttl: 60, renewable: true } }), null);
  assert.equal(validate(responseSchema, { auth: { policies: [] }, data: { error: 'x' } }, 'r'), 'r: an auth response must not also carry an error');
  assert.equal(validate(responseSchema, { auth: { policies: [] }, data: null }), null);
  assert.equal(
    validate(responseSchema, { auth: { policies: [] }, raw: { status: 200, contentType: 'text/plain', bodyBase64: '' } }, 'r'),
    'r: an auth response must not be a raw response',
  );
  assert.equal(validate(responseSchema, { auth: { policies: [''] } }, 'r'), 'r.auth.policies[0]: must not be empty');
  assert.equal(validate(responseSchema, { auth: { policies: [], ttl: -1 } }, 'r'), 'r.auth.ttl: must be >= 0');
  assert.equal(validate(responseSchema, { auth: { policies: [], metadata: { n: 1 } } }, 'r'), 'r.auth.metadata.n: must be string, not number');
  assert.equal(validate(responseSchema, { raw: { status: 200, contentType: 'x', bodyBase64: 'abc' } }, 'r'), 'r.raw.bodyBase64: must be standard base64 with padding');
  assert.equal(validate(responseSchema, { data: undefined, warnings: undefined }), null, 'undefined properties are absent, as in JSON');
});

test('rpc response: exactly one of result and error; error kinds from the list', () => {
  assert.equal(validate(rpcResponseSchema, { jsonrpc: '2.0', id: 1, result: null }), null);
  assert.equal(validate(rpcResponseSchema, { jsonrpc: '2.0', id: 1, error: { code: -32000, message: 'm', data: { kind: 'not-found' } } }), null);
  assert.match(validate(rpcResponseSchema, { jsonrpc: '2.0', id: 1, error: { code: -32000, message: 'm', data: { kind: 'teapot' } } }) ?? '', /kind: must be one of/);
  assert.equal(validate(rpcResponseSchema, { jsonrpc: '2.0', id: 1 }, 'x'), 'x: must carry exactly one of result and error');
  assert.equal(validate(rpcResponseSchema, { jsonrpc: '2.0', id: 1, result: 1, error: { code: 1, message: '' } }, 'x'), 'x: must carry exactly one of result and error');
  assert.equal(validate(rpcResponseSchema, { jsonrpc: '2.0', id: 1.5, result: 1 }, 'x'), 'x.id: must be an integer, a short string or null');
  assert.equal(validate(rpcResponseSchema, { jsonrpc: '2.0', id: 1, result: 1, extra: true }, 'x'), 'x: must not have property "extra"');
  assert.deepEqual([...PLUGIN_ERROR_KINDS].sort(), ['internal', 'invalid-request', 'not-found', 'permission-denied', 'unsupported-operation', 'unsupported-path']);
});

test('plugin → host params are strict: no stray fields, keys not empty, values strict base64', () => {
  const put = pluginToHostSchemas['storage.put'].params;
  assert.equal(validate(put, { mount: 'm', key: 'k', value: 'dmFsdWU=' }), null);
  assert.equal(validate(put, { mount: 'm', key: '', value: '' }, 'p'), 'p.key: must not be empty');
  assert.equal(validate(put, { mount: 'm', key: 'k', value: 'dmFsdWU' }, 'p'), 'p.value: must be standard base64 with padding');
  assert.equal(validate(put, { mount: 'm', key: 'k', value: '', other: 'mount' }, 'p'), 'p: must not have property "other"');
  assert.equal(validate(pluginToHostSchemas['storage.list'].params, { mount: 'm', prefix: '' }), null);
});

test('strict base64 in linear time on large values', () => {
  const big = Buffer.alloc(24 * 1024 * 1024, 7).toString('base64');
  assert.equal(isStrictBase64(big), true);
  assert.equal(isStrictBase64(`${big.slice(0, -4)}ab=c`), false);
  assert.equal(isStrictBase64('ab-_'), false, 'base64url is not accepted');
  assert.equal(isStrictBase64(''), true);
});
