/**
 * Micro-benchmark, not a test: `node dist/bench/validators.js [rounds]`. The plugin protocol's messages of one kv
 * request, each validated by the interpreter (libs/plugin-protocol/validate.ts) and by its compiled function
 * (validators.generated.ts, through the checkers of compiled.ts: what host-side.ts and plugin-side.ts run), in
 * alternating rounds; prints ns per validation (median of rounds) and interpreter ÷ compiled as a ratio, measured in
 * the same run. One invalid message shows the price of a refusal (compiled says no, the interpreter words it).
 */
import { checker, checkHello, hostToPluginChecks } from '../libs/plugin-protocol/compiled.js';
import { helloSchema, hostToPluginSchemas, pluginToHostSchemas, rpcResponseSchema } from '../libs/plugin-protocol/schemas.js';
import { validate, type JsonSchema } from '../libs/plugin-protocol/validate.js';
import * as generated from '../libs/plugin-protocol/validators.generated.js';

const rounds = Number(process.argv[2] ?? 15);
const request = { operation: 'read', path: 'foo', data: {}, tokenAccessor: 'hmac-abc', requestId: 'f3a1c2e4-5b6d-4e7f-8a9b-0c1d2e3f4a5b', remoteAddress: '127.0.0.1' };
const readResponse = { response: { data: { data: { password: 'hunter2', user: 'admin' } } } };
const value = Buffer.from(JSON.stringify({ password: 'hunter2', user: 'admin' })).toString('base64');

const subjects: { name: string; schema: JsonSchema; check: (value: unknown, at?: string) => string | null; value: unknown }[] = [
  { name: 'handle.params (kv read)', schema: hostToPluginSchemas.handle.params, check: hostToPluginChecks.handle.params, value: { mount: 'mnt-1', request } },
  { name: 'handle.result (kv read)', schema: hostToPluginSchemas.handle.result, check: hostToPluginChecks.handle.result, value: readResponse },
  { name: 'exists.result', schema: hostToPluginSchemas.exists.result, check: hostToPluginChecks.exists.result, value: { checkFound: true, exists: true } },
  {
    name: 'reply envelope',
    schema: rpcResponseSchema,
    check: checker(rpcResponseSchema, generated.rpc_response),
    value: { jsonrpc: '2.0', id: 41, result: readResponse },
  },
  {
    name: 'storage.put.params (kv write)',
    schema: pluginToHostSchemas['storage.put'].params,
    check: checker(pluginToHostSchemas['storage.put'].params, generated.storage_put_params),
    value: { mount: 'mnt-1', key: 'data/foo', value },
  },
  { name: 'hello', schema: helloSchema, check: checkHello, value: { coffer: 'plugin', protocol: 4, type: 'secret', name: 'kv', version: 'v0.1.0', multiplex: true } },
  {
    name: 'handle.result, invalid (refusal)',
    schema: hostToPluginSchemas.handle.result,
    check: hostToPluginChecks.handle.result,
    value: { response: { auth: { policies: ['default'] }, data: { error: 'no' } } },
  },
];

/** ns per call of `fn` over `n` calls. */
function time(fn: () => unknown, n: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - start) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`plugin protocol validators: interpreter vs compiled, ns per validation, median of ${rounds} rounds`);
console.log(`${'message'.padEnd(34)} ${'interpreter'.padStart(12)} ${'compiled'.padStart(10)} ${'ratio'.padStart(8)}`);
for (const subject of subjects) {
  const expected = validate(subject.schema, subject.value, 'x');
  if (subject.check(subject.value, 'x') !== expected) throw new Error(`${subject.name}: the checker and the interpreter disagree`);
  const interpreted = () => validate(subject.schema, subject.value, 'x');
  const compiled = () => subject.check(subject.value, 'x');
  // Calls per round sized to about 20 ms of the interpreter, after a warm-up that lets both be optimized.
  const n = Math.max(1000, Math.round(20e6 / time(interpreted, 20_000)));
  time(compiled, 20_000);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(time(interpreted, n));
    b.push(time(compiled, n));
  }
  const [ia, cb] = [median(a), median(b)];
  console.log(`${subject.name.padEnd(34)} ${ia.toFixed(0).padStart(12)} ${cb.toFixed(0).padStart(10)} ${`${(ia / cb).toFixed(1)}x`.padStart(8)}`);
}
