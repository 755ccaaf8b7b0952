/**
 * The compiled validators (scripts/compile-validators.mjs → validators.generated.ts) against the interpreter
 * (validate.ts), which stays the reference: on every case the two agree on valid or not, and the checkers of
 * compiled.ts give the interpreter's exact message. A table of tricky cases per schema, then mutations of valid
 * messages (deterministic) over every schema.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkHello, hostToPluginChecks } from './compiled.js';
import { allSchemas, LIMITS } from './schemas.js';
import * as generated from './validators.generated.js';
import { validate } from './validate.js';

const schemas = allSchemas();
const compiledOf = (name: string) => (generated as unknown as Record<string, (value: unknown) => boolean>)[name.replace(/[^A-Za-z0-9_$]/g, '_')];

/** Valid or not, by both; and never valid compiled where the interpreter refuses. */
function agree(name: string, value: unknown, label: string): boolean {
  const schema = schemas[name]!;
  const compiled = compiledOf(name)!;
  const interpreted = validate(schema, value) === null;
  assert.equal(compiled(value), interpreted, `${name}: ${label}: compiled says ${compiled(value)}, interpreter ${validate(schema, value) ?? 'valid'}`);
  return interpreted;
}

test('every schema of schemas/ has a compiled validator', () => {
  for (const name of Object.keys(schemas)) assert.equal(typeof compiledOf(name), 'function', name);
});

const astral = '😀'; // one code point, two UTF-16 code units
const b64 = (bytes: number) => Buffer.alloc(bytes, 7).toString('base64');
const hello = { coffer: 'plugin', protocol: 4, type: 'secret', name: 'kv', version: 'v1.2.3', multiplex: true };
const request = { operation: 'read', path: 'foo/bar', data: {}, tokenAccessor: 'acc', requestId: 'req' };
const mount = { id: 'm1', path: 'secret/', accessor: 'kv_1', type: 'kv', config: { defaultLeaseTtl: 0, maxLeaseTtl: 0 }, options: {} };
const lease = { id: 'database/creds/r/abc', type: 'creds', internal: {}, issueTime: '2026-01-01T00:00:00Z', ttl: 60 };
const authRenew = { path: 'login/x', policies: ['a'], metadata: {}, internal: {}, displayName: 'x', issueTime: 't', ttl: 5 };

/** [schema name, case label, value, valid?] */
const cases: [string, string, unknown, boolean][] = [
  ['hello', 'valid', hello, true],
  ['hello', 'missing multiplex', { ...hello, multiplex: undefined }, false],
  ['hello', 'extra property', { ...hello, extra: 1 }, false],
  ['hello', '__proto__ as an own key (JSON.parse)', JSON.parse(JSON.stringify(hello).replace('{', '{"__proto__":1,')), false],
  ['hello', 'coffer not plugin', { ...hello, coffer: 'plugins' }, false],
  ['hello', 'protocol 1.5', { ...hello, protocol: 1.5 }, false],
  ['hello', 'protocol 0', { ...hello, protocol: 0 }, false],
  ['hello', 'protocol Infinity', { ...hello, protocol: Infinity }, false],
  ['hello', 'protocol NaN', { ...hello, protocol: NaN }, false],
  ['hello', 'protocol as a string', { ...hello, protocol: '4' }, false],
  ['hello', 'type not in enum', { ...hello, type: 'database' }, false],
  ['hello', 'name empty', { ...hello, name: '' }, false],
  ['hello', 'name at its limit', { ...hello, name: 'n'.repeat(LIMITS.name) }, true],
  ['hello', 'name one over', { ...hello, name: 'n'.repeat(LIMITS.name + 1) }, false],
  // The limits count UTF-16 code units (validate.ts): 64 emoji are 128 units, 65 are 130 (but 65 code points).
  ['hello', 'name of astral characters at the limit in code units', { ...hello, name: astral.repeat(LIMITS.name / 2) }, true],
  ['hello', 'name over in code units, under in code points', { ...hello, name: astral.repeat(LIMITS.name / 2 + 1) }, false],
  ['hello', 'version empty (allowed)', { ...hello, version: '' }, true],
  ['hello', 'version not semver', { ...hello, version: '1.2' }, false],
  ['hello', 'version with prerelease and build', { ...hello, version: '1.2.3-rc.1+g0a' }, true],
  ['hello', 'not an object', [hello], false],
  ['hello', 'null', null, false],

  ['storage.put.params', 'valid', { mount: 'm', key: 'k', value: b64(5) }, true],
  ['storage.put.params', 'empty value (empty base64)', { mount: 'm', key: 'k', value: '' }, true],
  ['storage.put.params', 'base64 without padding', { mount: 'm', key: 'k', value: 'YWJjZA' }, false],
  ['storage.put.params', 'base64url characters', { mount: 'm', key: 'k', value: 'ab-_' }, false],
  ['storage.put.params', 'padding inside', { mount: 'm', key: 'k', value: 'ab=c' }, false],
  ['storage.put.params', 'three padding characters', { mount: 'm', key: 'k', value: 'a===' }, false],
  ['storage.put.params', 'a newline in base64', { mount: 'm', key: 'k', value: 'YWJj\nZA==' }, false],
  ['storage.put.params', 'non-ASCII', { mount: 'm', key: 'k', value: 'ééé=' }, false],
  ['storage.put.params', 'value a number', { mount: 'm', key: 'k', value: 12 }, false],
  ['storage.put.params', 'key empty', { mount: 'm', key: '', value: '' }, false],
  ['storage.put.params', 'key at its limit', { mount: 'm', key: 'k'.repeat(LIMITS.storageKey), value: '' }, true],
  ['storage.put.params', 'key over in code units only', { mount: 'm', key: astral.repeat(LIMITS.storageKey / 2 + 1), value: '' }, false],
  ['storage.put.params', 'extra property', { mount: 'm', key: 'k', value: '', ttl: 1 }, false],
  ['storage.put.params', 'missing mount', { key: 'k', value: '' }, false],
  ['storage.get.result', 'null value', { value: null }, true],
  ['storage.get.result', 'bad base64 value', { value: 'abc' }, false],
  ['storage.get.result', 'tolerant: extra property', { value: null, more: 1 }, true],

  ['storage.txn.params', 'valid', { mount: 'm', checks: [{ key: 'a', exists: false }, { key: 'b', value: b64(3) }], ops: [{ op: 'put', key: 'a', value: b64(1) }, { op: 'delete', key: 'b' }] }, true],
  ['storage.txn.params', 'check with both exists and value', { mount: 'm', checks: [{ key: 'a', exists: true, value: '' }], ops: [] }, false],
  ['storage.txn.params', 'check with bad base64', { mount: 'm', checks: [{ key: 'a', value: '###=' }], ops: [] }, false],
  ['storage.txn.params', 'op put without value', { mount: 'm', checks: [], ops: [{ op: 'put', key: 'a' }] }, false],
  ['storage.txn.params', 'op delete with a value', { mount: 'm', checks: [], ops: [{ op: 'delete', key: 'a', value: '' }] }, false],
  ['storage.txn.params', 'op unknown', { mount: 'm', checks: [], ops: [{ op: 'move', key: 'a' }] }, false],
  ['storage.txn.params', 'ops at the limit', { mount: 'm', checks: [], ops: Array.from({ length: LIMITS.txnItems }, () => ({ op: 'delete', key: 'a' })) }, true],
  ['storage.txn.params', 'ops one over', { mount: 'm', checks: [], ops: Array.from({ length: LIMITS.txnItems + 1 }, () => ({ op: 'delete', key: 'a' })) }, false],

  ['handle.params', 'valid', { mount: 'm', request }, true],
  ['handle.params', 'with choose', { mount: 'm', request, choose: ['create', 'update'] }, true],
  ['handle.params', 'choose empty', { mount: 'm', request, choose: [] }, false],
  ['handle.params', 'choose of three', { mount: 'm', request, choose: ['create', 'update', 'create'] }, false],
  ['handle.params', 'choose read', { mount: 'm', request, choose: ['read'] }, false],
  ['handle.params', 'tolerant: unknown property', { mount: 'm', request: { ...request, newField: 1 }, later: true }, true],
  ['handle.params', 'path starting with /', { mount: 'm', request: { ...request, path: '/foo' } }, false],
  ['handle.params', 'path with unicode', { mount: 'm', request: { ...request, path: 'été/😀' } }, true],
  ['handle.params', 'operation not known', { mount: 'm', request: { ...request, operation: 'write' } }, false],
  ['handle.params', 'data an array', { mount: 'm', request: { ...request, data: [] } }, false],
  ['handle.params', 'mount id over', { mount: 'm'.repeat(LIMITS.mountId + 1), request }, false],
  ['handle.params', 'missing requestId', { mount: 'm', request: { ...request, requestId: undefined } }, false],

  ['handle.result', 'null response', { response: null }, true],
  ['handle.result', 'data', { response: { data: { a: 1 } } }, true],
  ['handle.result', 'data null', { response: { data: null } }, true],
  ['handle.result', 'auth', { response: { auth: { policies: ['a'], ttl: 5, metadata: { k: 'v' } } } }, true],
  ['handle.result', 'auth with data.error', { response: { auth: { policies: [] }, data: { error: 'x' } } }, false],
  ['handle.result', 'auth with data null', { response: { auth: { policies: [] }, data: null } }, true],
  ['handle.result', 'auth and raw', { response: { auth: { policies: [] }, raw: { status: 200, contentType: 't', bodyBase64: '' } } }, false],
  ['handle.result', 'secret and auth', { response: { secret: { type: 't', internal: {} }, auth: { policies: [] } } }, false],
  ['handle.result', 'secret with data.error', { response: { secret: { type: 't', internal: {} }, data: { error: 'e' } } }, false],
  ['handle.result', 'secret', { response: { secret: { type: 't', internal: {}, ttl: 3 }, data: { a: 1 } } }, true],
  ['handle.result', 'raw with bad base64', { response: { raw: { status: 200, contentType: 't', bodyBase64: 'a' } } }, false],
  ['handle.result', 'raw status 600', { response: { raw: { status: 600, contentType: 't', bodyBase64: '' } } }, false],
  ['handle.result', 'policy empty', { response: { auth: { policies: [''] } } }, false],
  ['handle.result', 'metadata value not a string', { response: { auth: { policies: [], metadata: { k: 1 } } } }, false],
  ['handle.result', 'metadata over its count', { response: { auth: { policies: [], metadata: Object.fromEntries(Array.from({ length: LIMITS.metadata + 1 }, (_, i) => [`k${i}`, 'v'])) } } }, false],
  ['handle.result', 'warnings at the limit', { response: { warnings: Array.from({ length: LIMITS.warnings }, () => 'w') } }, true],
  ['handle.result', 'warnings over', { response: { warnings: Array.from({ length: LIMITS.warnings + 1 }, () => 'w') } }, false],
  ['handle.result', 'warning too long in code units', { response: { warnings: [astral.repeat(LIMITS.warning / 2 + 1)] } }, false],
  ['handle.result', 'unknown response property', { response: { data: {}, extra: 1 } }, false],
  ['handle.result', 'response a string', { response: 'x' }, false],
  ['handle.result', 'operation picked', { response: null, operation: 'create' }, true],
  ['handle.result', 'operation read', { response: null, operation: 'read' }, false],
  ['handle.result', 'missing response', {}, false],
  ['handle.result', 'ttl 2^53', { response: { auth: { policies: [], ttl: 2 ** 53 } } }, false],
  ['handle.result', 'ttl 2^53 - 1', { response: { auth: { policies: [], ttl: 2 ** 53 - 1 } } }, true],
  ['handle.result', 'ttl negative', { response: { auth: { policies: [], ttl: -1 } } }, false],

  ['rpc-response', 'result', { jsonrpc: '2.0', id: 1, result: {} }, true],
  ['rpc-response', 'result null', { jsonrpc: '2.0', id: 1, result: null }, true],
  ['rpc-response', 'error', { jsonrpc: '2.0', id: 'a', error: { code: -32000, message: 'm', data: { kind: 'not-found' } } }, true],
  ['rpc-response', 'both', { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'm' } }, false],
  ['rpc-response', 'neither', { jsonrpc: '2.0', id: 1 }, false],
  ['rpc-response', 'id null', { jsonrpc: '2.0', id: null, error: { code: 1, message: 'm' } }, true],
  ['rpc-response', 'id empty string', { jsonrpc: '2.0', id: '', result: 1 }, false],
  ['rpc-response', 'id 1.5', { jsonrpc: '2.0', id: 1.5, result: 1 }, false],
  ['rpc-response', 'id too long', { jsonrpc: '2.0', id: 'i'.repeat(LIMITS.rpcStringId + 1), result: 1 }, false],
  ['rpc-response', 'jsonrpc 1.0', { jsonrpc: '1.0', id: 1, result: 1 }, false],
  ['rpc-response', 'error kind unknown', { jsonrpc: '2.0', id: 1, error: { code: 1, message: 'm', data: { kind: 'oops' } } }, false],
  ['rpc-response', 'error message too long', { jsonrpc: '2.0', id: 1, error: { code: 1, message: 'm'.repeat(LIMITS.errorMessage + 1) } }, false],
  ['rpc-request', 'a call', { jsonrpc: '2.0', id: 3, method: 'storage.get', params: {} }, true],
  ['rpc-request', 'a notification', { jsonrpc: '2.0', method: 'x' }, true],
  ['rpc-request', 'method empty', { jsonrpc: '2.0', id: 3, method: '' }, false],
  ['rpc-request', 'params an array', { jsonrpc: '2.0', id: 3, method: 'm', params: [] }, false],

  ['setup.params', 'valid', { mount }, true],
  ['setup.params', 'options value a number', { mount: { ...mount, options: { a: 1 } } }, false],
  ['setup.params', 'options at their count', { mount: { ...mount, options: Object.fromEntries(Array.from({ length: 1024 }, (_, i) => [`o${i}`, 'v'])) } }, true],
  ['setup.params', 'options over their count', { mount: { ...mount, options: Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`o${i}`, 'v'])) } }, false],
  ['setup.params', 'config without maxLeaseTtl', { mount: { ...mount, config: { defaultLeaseTtl: 0 } } }, false],
  ['setup.result', 'empty', {}, true],
  ['setup.result', 'not empty', { a: 1 }, false],
  ['renew.params', 'valid', { mount: 'm', lease, increment: 0 }, true],
  ['renew.params', 'increment 1.5', { mount: 'm', lease, increment: 1.5 }, false],
  ['renew.params', 'lease id empty', { mount: 'm', lease: { ...lease, id: '' }, increment: 0 }, false],
  ['renewAuth.params', 'valid', { mount: 'm', auth: authRenew, increment: 1 }, true],
  ['renewAuth.params', 'path with a leading /', { mount: 'm', auth: { ...authRenew, path: '/x' }, increment: 1 }, false],
  ['renewAuth.result', 'warnings', { ttl: 1, warnings: ['w'] }, true],
  ['help.result', 'help at the limit', { help: 'h'.repeat(LIMITS.helpText) }, true],
  ['help.result', 'help over', { help: 'h'.repeat(LIMITS.helpText + 1) }, false],
  ['specialPaths.result', 'valid', { unauthenticated: ['login'] }, true],
  ['specialPaths.result', 'missing unauthenticated', { caseInsensitive: [] }, false],
  ['exists.result', 'valid', { checkFound: true, exists: false }, true],
  ['exists.result', 'exists a string', { checkFound: true, exists: 'no' }, false],
  ['system.info.result', 'valid', { defaultLeaseTtl: 1, maxLeaseTtl: 2, version: 'v' }, true],
];

test('the table: compiled and interpreter agree on each tricky case, as the table says', () => {
  for (const [name, label, value, valid] of cases) {
    assert.equal(agree(name, value, label), valid, `${name}: ${label}: expected ${valid ? 'valid' : 'invalid'}, interpreter says ${validate(schemas[name]!, value) ?? 'valid'}`);
  }
});

test('a storage value of 24 MiB: base64 checked by both without overflowing the regexp stack', () => {
  const value = b64(24 * 1024 * 1024);
  agree('storage.put.params', { mount: 'm', key: 'k', value }, '24 MiB');
  agree('storage.put.params', { mount: 'm', key: 'k', value: `${value.slice(0, -4)}abc!` }, '24 MiB, last group broken');
});

test('the checkers give the interpreter\'s exact message', () => {
  assert.equal(checkHello(hello, 'hello'), null);
  assert.equal(checkHello({ ...hello, name: '' }, 'hello'), validate(schemas.hello!, { ...hello, name: '' }, 'hello'));
  assert.equal(checkHello({ ...hello, name: '' }, 'hello'), 'hello.name: must not be empty');
  const bad = { response: { auth: { policies: [] }, data: { error: 'x' } } };
  assert.equal(hostToPluginChecks.handle.result(bad, 'result'), 'result.response: an auth response must not also carry an error');
  for (const [name, , value] of cases) {
    const [method, side] = name.split('.') as [keyof typeof hostToPluginChecks, 'params' | 'result'];
    if (!(method in hostToPluginChecks) || (side !== 'params' && side !== 'result')) continue;
    assert.equal(hostToPluginChecks[method][side](value, 'x'), validate(schemas[name]!, value, 'x'), name);
  }
});

test('a property set to undefined (an object built in code): the interpreter ignores it, and the checker keeps its verdict', () => {
  // ajv counts such a property for additionalProperties: false; the compiled function refuses, the interpreter
  // (JSON's view: it would not be sent) accepts, and the checker answers as the interpreter.
  const built = { response: null, extra: undefined };
  assert.equal(validate(schemas['handle.result']!, built), null);
  assert.equal(compiledOf('handle.result')!(built), false);
  assert.equal(hostToPluginChecks.handle.result(built, 'result'), null);
  // A known property set to undefined is absent for both.
  assert.equal(compiledOf('handle.result')!({ response: null, operation: undefined }), true);
});

/** A small deterministic PRNG (mulberry32), so a failure names a case that can be run again. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const oddValues: unknown[] = [null, true, 0, -1, 1.5, 2 ** 53, '', 'x', '/x', 'YQ==', 'a', astral, 'create', 'update', 'read', 'plugin', '2.0', [], ['x'], [''], {}, { a: 1 }, { error: 'e' }];

/** Changes one place of a JSON value: a property dropped, added or replaced, an item replaced, a string lengthened. */
function mutate(value: unknown, random: () => number): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  if (Array.isArray(value)) {
    if (value.length === 0 || random() < 0.3) return [...value, pick(oddValues)];
    const i = Math.floor(random() * value.length);
    return value.map((item, j) => (j === i ? mutate(item, random) : item));
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    const roll = random();
    if (keys.length === 0 || roll < 0.15) return { ...value, [pick(['extra', 'auth', 'raw', 'secret', 'error', 'result', 'data', 'id'])]: pick(oddValues) };
    const key = pick(keys);
    if (roll < 0.3) {
      const { [key]: _dropped, ...rest } = value as Record<string, unknown>;
      return rest;
    }
    if (roll < 0.45) return { ...value, [key]: pick(oddValues) };
    return { ...value, [key]: mutate((value as Record<string, unknown>)[key], random) };
  }
  if (typeof value === 'string' && random() < 0.5) return value + pick(['x'.repeat(200), astral.repeat(70), '=', '/', 'é']);
  return pick(oddValues);
}

test('mutations of valid messages: compiled and interpreter agree on every one', () => {
  const seeds = cases.filter(([, , , valid]) => valid);
  let checked = 0;
  let invalid = 0;
  for (const [index, [name, label, value]] of seeds.entries()) {
    const random = rng(index + 1);
    for (let round = 0; round < 300; round++) {
      // Through JSON, as on the wire: no undefined, no NaN.
      let mutated = JSON.parse(JSON.stringify(value)) as unknown;
      const depth = 1 + Math.floor(random() * 3);
      for (let d = 0; d < depth; d++) mutated = mutate(mutated, random);
      mutated = JSON.parse(JSON.stringify(mutated));
      if (!agree(name, mutated, `${label}, mutation ${round} (seed ${index + 1}): ${JSON.stringify(mutated).slice(0, 300)}`)) invalid++;
      checked++;
    }
  }
  // The mutations must reach both verdicts often, or the test shows little.
  assert.ok(invalid > checked / 4 && invalid < checked, `${invalid} of ${checked} mutations invalid`);
});
