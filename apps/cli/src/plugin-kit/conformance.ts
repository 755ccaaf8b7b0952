/**
 * The conformance kit behind `coffer plugin test`: runs a plugin executable (any language) as the host would, and
 * checks it against docs/plugin-protocol.md and the JSON Schemas. The host → plugin methods checked are the keys of
 * the protocol's schemas (hostToPluginSchemas), so a method added to the protocol is checked without touching
 * this file; only their sample params come from the schemas' property names.
 *
 * Checks that need the plugin to store something (large values, storage scoping, mixed-mount concurrency) need a
 * path that stores what is written to it: `-path` (and `-data`). Without it they are skipped, and say so.
 */
import { copyFileSync, chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { hostToPluginSchemas, RPC_ERRORS, validate, type JsonSchema, type MountInfo } from '#plugin-protocol';
import { Peer, quote, type Reply } from './peer.js';

export interface KitOptions {
  file: string;
  args?: string[];
  type?: 'secret' | 'auth';
  /** A path (relative to the mount) that stores what is written to it and reads it back. */
  path?: string;
  /** The body written to `path` (default {"value": …}); string values are replaced by the kit's own. */
  data?: Record<string, unknown>;
  startTimeoutMs?: number;
  callTimeoutMs?: number;
}

export type Status = 'pass' | 'fail' | 'skip';
export interface CheckResult {
  name: string;
  status: Status;
  detail: string;
}

/** Methods every plugin must implement; any other method of the schemas may be answered -32601 (optional). */
/** Protocol 3's lease calls: only a plugin that returns secrets under a lease must answer them. */
const LEASE_METHODS = new Set(['renew', 'revoke']);
/** Protocol 3's scheduled call: only a plugin with scheduled work (a rotation) has it. */
const SCHEDULED_METHODS = new Set(['periodic']);
const REQUIRED = new Set(['setup', 'handle', 'exists', 'specialPaths', 'invalidate', 'cleanup', 'shutdown']);
const LARGE_BYTES = 4 * 1024 * 1024;
const SHUTDOWN_GRACE_MS = 3000;
const SLOW_STORAGE_MS = 1500;
const CONCURRENT = 32;

class Abort extends Error {}

export async function runConformance(options: KitOptions, report: (result: CheckResult) => void): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const callTimeoutMs = options.callTimeoutMs ?? 30_000;
  const record = (name: string, status: Status, detail: string) => {
    const r = { name, status, detail };
    results.push(r);
    report(r);
  };
  let slowest = { method: '', ms: 0 };
  const timed = (method: string, reply: Reply) => {
    if (reply.ms > slowest.ms) slowest = { method, ms: reply.ms };
    return reply;
  };

  // Executed as the host does: a private copy, in a folder whose package.json has no "type" (so Node picks a
  // script's module system from its syntax), with a clean environment, from "/".
  const copy = prepareCopy(options.file);
  const peers: Peer[] = [];
  const start = (magic = true) => {
    const peer = new Peer(copy.file, options.args ?? [], { magic });
    peers.push(peer);
    return peer;
  };
  try {
    // 1. Run by hand.
    {
      const peer = start(false);
      const line = await peer.helloLine(startTimeoutMs);
      const exited = await Promise.race([peer.exited.then(() => true), sleep(startTimeoutMs).then(() => false)]);
      if (line instanceof Buffer) record('refuses to run by hand', 'fail', `without COFFER_PLUGIN_MAGIC it wrote to stdout: ${quote(line.toString())}`);
      else if (!exited) record('refuses to run by hand', 'fail', `without COFFER_PLUGIN_MAGIC it kept running (it must print a notice to stderr and exit 1)`);
      else if (peer.exit?.code === 0) record('refuses to run by hand', 'fail', 'without COFFER_PLUGIN_MAGIC it exited 0 (expected a non-zero status)');
      else record('refuses to run by hand', 'pass', `exited ${peer.exitText()}: ${quote(peer.stderrTail(1))}`);
      await peer.kill();
    }

    // 2. Handshake.
    const peer = start();
    const wrong = await peer.handshake(startTimeoutMs);
    if (wrong) {
      record('handshake', 'fail', wrong);
      throw new Abort();
    }
    const hello = peer.hello!;
    if (options.type && hello.type !== options.type) {
      record('handshake', 'fail', `the hello says type ${JSON.stringify(hello.type)}, expected ${JSON.stringify(options.type)}`);
    } else {
      record('handshake', 'pass', `${hello.type} plugin ${hello.name} ${hello.version || '(no version)'}, protocol ${hello.protocol}, multiplex ${hello.multiplex}`);
    }

    const call = async (method: string, params: unknown, mount?: string, timeoutMs = callTimeoutMs) => timed(method, await peer.call(method, params, timeoutMs, mount));
    const violationsSince = (n: number) => peer.violations.slice(n);

    // 3. Mounts: A and B for the checks, C to be cleaned up.
    const mounts: Record<'a' | 'b' | 'c', MountInfo> = { a: peer.newMount('a'), b: peer.newMount('b'), c: peer.newMount('c') };
    for (const [name, mount] of Object.entries(mounts)) {
      peer.open(mount);
      const reply = await call('setup', { mount }, mount.id);
      const problem = resultProblem('setup', reply);
      if (problem) {
        record(`method setup`, 'fail', `setup of mount ${name}: ${problem}`);
        throw new Abort();
      }
    }
    record('method setup', 'pass', 'three mounts set up');

    const request = (operation: string, path: string, data: Record<string, unknown> = {}) => ({
      operation,
      path,
      data,
      tokenAccessor: 'conformance-token-accessor',
      requestId: `conformance-${Math.random().toString(36).slice(2)}`,
    });
    const probePath = options.path ?? 'coffer-conformance/probe';
    const sample = (property: string, schema: JsonSchema, method: string): unknown => {
      if (property === 'mount') return method === 'cleanup' ? mounts.c.id : mounts.a.id;
      if (property === 'request') return request(method === 'exists' ? 'update' : 'read', probePath);
      if (property === 'key') return 'coffer-conformance/key';
      if (property === 'path') return '';
      return fromSchema(schema);
    };

    // 4. Every host → plugin method of the schemas, with valid params; shutdown comes last, setup came first.
    const methods = Object.keys(hostToPluginSchemas).filter((m) => m !== 'setup' && m !== 'shutdown');
    const notImplemented = new Set<string>();
    methods.sort((a, b) => Number(a === 'cleanup') - Number(b === 'cleanup'));
    for (const method of methods) {
      const schema = (hostToPluginSchemas as Record<string, { params: JsonSchema }>)[method]!.params;
      const params = Object.fromEntries((schema.required ?? []).map((p) => [p, sample(p, schema.properties?.[p] ?? {}, method)]));
      const before = peer.violations.length;
      const reply = await call(method, params, (params.mount as string | undefined) ?? undefined);
      if (method === 'cleanup') peer.mounts.delete(mounts.c.id);
      const name = `method ${method}`;
      const late = violationsSince(before);
      if (reply.kind === 'error' && reply.code === RPC_ERRORS.methodNotFound) {
        if (REQUIRED.has(method)) record(name, 'fail', `answered -32601 (method not found): every plugin must implement ${method}`);
        // A plugin that issues no leases has nothing to renew or revoke: -32601 there is the protocol's own answer.
        else if (LEASE_METHODS.has(method)) record(name, 'pass', 'answered -32601: optional, for a plugin that issues no leases');
        else if (SCHEDULED_METHODS.has(method)) record(name, 'pass', 'answered -32601: optional, for a plugin with no scheduled work');
        // An auth plugin without renewAuth leaves its tokens' renewals to the host's rules, as before protocol 3.
        else if (method === 'renewAuth') record(name, 'pass', 'answered -32601: optional, its tokens renew by the host\'s rules alone');
        else record(name, 'skip', 'answered -32601: optional, not implemented');
        notImplemented.add(method);
        continue;
      }
      const problem = resultProblem(method, reply, !REQUIRED.has(method) || method === 'handle' || method === 'exists') ?? (late.length ? late.join('; ') : null);
      if (problem) record(name, 'fail', `${JSON.stringify(params).slice(0, 160)}: ${problem}`);
      else record(name, 'pass', describe(reply));
    }

    // 4b. Protocol 4: a write with `choose` checks existence and writes in one call, and a refused one writes nothing.
    if (peer.hello!.protocol < 4) {
      record('handle with choose', 'skip', `protocol ${peer.hello!.protocol}: the host asks exists, then handle (choose is protocol 4)`);
    } else {
      const chosen = (choose: string[]) =>
        call('handle', { mount: mounts.a.id, request: request('update', probePath, options.data ?? {}), choose }, mounts.a.id);
      const failures: string[] = [];
      // Refused whichever it picks first: nothing of the handler may run, so nothing may be written.
      const first = await chosen(['update']);
      const picked = first.kind === 'result' ? (first.result as { operation?: string }).operation : undefined;
      const refusing = picked === 'update' ? ['create'] : ['update'];
      const before = peer.storageCalls.length;
      const refused = await chosen(refusing);
      const writes = peer.storageCalls.slice(before).filter((c) => c.method === 'storage.put' || c.method === 'storage.delete' || c.method === 'storage.txn');
      for (const [what, reply, choose] of [['choose ["update"]', first, ['update']], [`choose ${JSON.stringify(refusing)}`, refused, refusing]] as const) {
        const problem = resultProblem('handle', reply, true);
        if (problem) failures.push(`${what}: ${problem}`);
        else if (reply.kind === 'result') {
          const r = reply.result as { response: unknown; operation?: string; denied?: boolean };
          if (r.operation !== 'create' && r.operation !== 'update') failures.push(`${what}: the result does not say the operation it picked (operation: "create" or "update")`);
          else if (!choose.includes(r.operation as never) && (r.denied !== true || r.response !== null)) {
            failures.push(`${what}: picked ${r.operation}, which choose does not allow, and did not answer {"response":null,"operation":"${r.operation}","denied":true}`);
          } else if (choose.includes(r.operation as never) && r.denied === true) failures.push(`${what}: denied ${r.operation}, which choose allows`);
        }
      }
      const refusedResult = refused.kind === 'result' ? (refused.result as { denied?: boolean }) : undefined;
      if (refusedResult?.denied === true && writes.length) failures.push(`a refused write still called ${writes.map((c) => c.method).join(', ')}`);
      if (failures.length) record('handle with choose', 'fail', failures.join('; '));
      else record('handle with choose', 'pass', `picked ${picked ?? '(an error)'} and kept to choose; refused, it stored nothing`);
    }

    // 5. Error codes.
    {
      const reply = await call('coffer.conformance.noSuchMethod', {});
      if (reply.kind === 'error' && reply.code === RPC_ERRORS.methodNotFound) record('unknown method gets -32601', 'pass', `message ${quote(reply.message)}`);
      else record('unknown method gets -32601', 'fail', `a method the protocol does not have was answered ${describe(reply)}, expected error -32601 (method not found)`);
    }
    for (const [method, { params }] of Object.entries(hostToPluginSchemas as Record<string, { params: JsonSchema }>)) {
      const required = params.required ?? [];
      // An optional method the plugin does not have answers -32601 whatever its params: nothing to check.
      if (!required.length || notImplemented.has(method)) continue;
      const cases: [string, Record<string, unknown>][] = [
        ['no params', {}],
        [`"${required[0]}" of the wrong type`, { ...Object.fromEntries(required.map((p) => [p, sample(p, params.properties?.[p] ?? {}, method)])), [required[0]!]: 42 }],
      ];
      const failures: string[] = [];
      for (const [what, bad] of cases) {
        const reply = await call(method, bad);
        if (!(reply.kind === 'error' && reply.code === RPC_ERRORS.invalidParams)) failures.push(`${what} (${JSON.stringify(bad).slice(0, 120)}) was answered ${describe(reply)}`);
        else if (reply.errorKind !== undefined && reply.errorKind !== 'invalid-request') failures.push(`${what}: -32602 with kind ${reply.errorKind}, expected invalid-request`);
      }
      if (peer.exit) failures.push(`the process exited (${peer.exitText()})`);
      const name = `invalid params to ${method} get -32602`;
      if (failures.length) record(name, 'fail', `${failures.join('; ')}; expected error -32602 (invalid params)`);
      else record(name, 'pass', 'missing and mistyped params refused');
    }

    // 6. Storage-backed checks.
    const big = 'x'.repeat(LARGE_BYTES);
    const body = (marker: string): Record<string, unknown> => {
      const given = options.data ?? { value: '' };
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(given)) out[k] = typeof v === 'string' ? marker : v;
      return out;
    };
    const write = (mount: MountInfo, data: Record<string, unknown>) => call('handle', { mount: mount.id, request: request('update', probePath, data) }, mount.id);
    const read = (mount: MountInfo) => call('handle', { mount: mount.id, request: request('read', probePath) }, mount.id);
    const responseOf = (reply: Reply) => (reply.kind === 'result' ? (reply.result as { response?: unknown }).response : undefined);

    if (!options.path) {
      for (const name of ['storage scoping', 'large values stored and read back']) record(name, 'skip', 'needs a path that stores what is written: -path=PATH (and -data=JSON)');
    } else {
      // Scoping: the calls a write on one mount makes name that mount only, and what it stored is not seen from another.
      const before = peer.storageCalls.length;
      const wa = await write(mounts.a, body('conformance-mount-a'));
      const callsA = peer.storageCalls.slice(before);
      const beforeB = peer.storageCalls.length;
      const rb = await read(mounts.b);
      const callsB = peer.storageCalls.slice(beforeB);
      const ra = await read(mounts.a);
      const problems: string[] = [];
      const bad = resultProblem('handle', wa);
      if (bad) problems.push(`the write to ${probePath} on mount a failed: ${bad}`);
      if (!callsA.length) problems.push(`the write to ${probePath} made no storage call (does -path store what is written?)`);
      const strays = callsA.filter((c) => c.mount !== mounts.a.id);
      if (strays.length) problems.push(`while handling a call for mount a it called ${strays[0]!.method} for mount ${JSON.stringify(strays[0]!.mount)}`);
      const straysB = callsB.filter((c) => c.mount !== mounts.b.id);
      if (straysB.length) problems.push(`while handling a call for mount b it called ${straysB[0]!.method} for mount ${JSON.stringify(straysB[0]!.mount)} (mount a's id)`);
      const readBad = resultProblem('handle', rb, true) ?? resultProblem('handle', ra, true);
      if (readBad) problems.push(`reading ${probePath}: ${readBad}`);
      const seenFromB = JSON.stringify(responseOf(rb) ?? null);
      if (seenFromB.includes('conformance-mount-a')) problems.push(`mount b read what was written on mount a: ${quote(seenFromB)} (state must be kept per mount, keyed by the mount id)`);
      if (problems.length) record('storage scoping', 'fail', problems.join('; '));
      else record('storage scoping', 'pass', `${callsA.length} storage call(s) for mount a named mount a; mount b did not see mount a's value`);

      // Large values: a 4 MiB value is stored, and read back intact where the read returns it.
      const wl = await write(mounts.a, body(big));
      const rl = await read(mounts.a);
      const largeProblems: string[] = [];
      const bw = resultProblem('handle', wl);
      if (bw) largeProblems.push(`writing a ${LARGE_BYTES / 1048576} MiB value: ${bw}`);
      const br = resultProblem('handle', rl, true);
      if (br) largeProblems.push(`reading it back: ${br}`);
      const back = responseOf(rl) as { data?: Record<string, unknown> } | null | undefined;
      for (const [k, v] of Object.entries(back?.data ?? {})) {
        if (typeof v === 'string' && v.length >= LARGE_BYTES / 2 && v !== big) largeProblems.push(`field ${k} came back with ${v.length} characters, not the ${big.length} written`);
      }
      if (largeProblems.length) record('large values stored and read back', 'fail', largeProblems.join('; '));
      else record('large values stored and read back', 'pass', `${LARGE_BYTES / 1048576} MiB written in ${wl.ms} ms, read in ${rl.ms} ms`);
      // Leave small values behind for the concurrency check.
      await write(mounts.a, body('conformance-mount-a'));
      await write(mounts.b, body('conformance-mount-b'));
    }

    // A large message, whatever the path does with it: answered, and the process keeps serving.
    {
      const reply = await call('handle', { mount: mounts.a.id, request: request('update', 'coffer-conformance/large', { value: big }) }, mounts.a.id);
      const problem = resultProblem('handle', reply, true);
      if (problem) record('large values in one request', 'fail', problem);
      else record('large values in one request', 'pass', `answered ${describe(reply)} in ${reply.ms} ms`);
    }

    // 7. Concurrency: many calls at once, the kit answering storage calls in reverse order.
    {
      const before = peer.violations.length;
      const expected = options.path ? { a: JSON.stringify(responseOf(await read(mounts.a))), b: JSON.stringify(responseOf(await read(mounts.b))) } : undefined;
      peer.policy = { reverseBatch: 8 };
      const calls: Promise<{ what: string; reply: Reply; expect?: string }>[] = [];
      for (let i = 0; i < CONCURRENT; i++) {
        const m = i % 2 === 0 ? mounts.a : mounts.b;
        const which = i % 2 === 0 ? 'a' : 'b';
        const kind = i % 4;
        if (kind === 3) calls.push(call('specialPaths', {}).then((reply) => ({ what: 'specialPaths', reply })));
        else if (kind === 2) calls.push(call('exists', { mount: m.id, request: request('update', probePath) }, m.id).then((reply) => ({ what: `exists on mount ${which}`, reply })));
        else calls.push(read(m).then((reply) => ({ what: `read on mount ${which}`, reply, expect: expected?.[which] })));
      }
      const done = await Promise.all(calls);
      peer.policy = {};
      const problems: string[] = [];
      for (const { what, reply, expect } of done) {
        const method = what === 'specialPaths' ? 'specialPaths' : what.startsWith('exists') ? 'exists' : 'handle';
        const problem = resultProblem(method, reply, method !== 'specialPaths');
        if (problem) problems.push(`${what}: ${problem}`);
        else if (expect !== undefined && JSON.stringify(responseOf(reply)) !== expect) {
          problems.push(`${what} answered ${quote(JSON.stringify(responseOf(reply)))}, but alone it answers ${quote(expect)} (are host replies matched by id?)`);
        }
      }
      problems.push(...violationsSince(before));
      if (problems.length) record('concurrent calls', 'fail', problems.slice(0, 3).join('; ') + (problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''));
      else record('concurrent calls', 'pass', `${CONCURRENT} calls in flight at once, storage answered out of order`);
    }

    // 8. Timeouts: every answer within the host's limit, and a slow host is waited for.
    {
      peer.policy = { delayMs: SLOW_STORAGE_MS };
      const before = peer.storageCalls.length;
      const reply = await read(mounts.a);
      peer.policy = {};
      const made = peer.storageCalls.length - before;
      const problem = resultProblem('handle', reply, true);
      if (problem) record('timeouts', 'fail', `with storage answering after ${SLOW_STORAGE_MS} ms: ${problem}`);
      else if (slowest.ms > callTimeoutMs) record('timeouts', 'fail', `${slowest.method} took ${slowest.ms} ms, over the host's ${callTimeoutMs} ms`);
      else record('timeouts', 'pass', `slowest answer ${slowest.ms} ms (${slowest.method}; the host allows ${callTimeoutMs}); ${made ? `waited for storage answering after ${SLOW_STORAGE_MS} ms` : 'made no storage call when read'}`);
    }

    // 9. Shutdown.
    {
      const before = peer.violations.length;
      peer.shutDown = true;
      const reply = await call('shutdown', {});
      const problem = resultProblem('shutdown', reply);
      const exited = await Promise.race([peer.exited.then(() => true), sleep(SHUTDOWN_GRACE_MS).then(() => false)]);
      const problems: string[] = [];
      if (problem) problems.push(problem);
      if (!exited) problems.push(`did not exit within ${SHUTDOWN_GRACE_MS} ms of being asked to shut down (the host kills it after its grace period)`);
      else if (peer.exit?.code !== 0) problems.push(`exited with ${peer.exitText()} after shutdown, expected code 0`);
      problems.push(...violationsSince(before));
      if (problems.length) record('shutdown', 'fail', problems.join('; '));
      else record('shutdown', 'pass', `answered in ${reply.ms} ms and exited 0`);
    }

    // 10. End of input: a plugin whose host is gone exits.
    {
      const other = start();
      const problem = await other.handshake(startTimeoutMs);
      if (problem) record('exits at the end of its input', 'fail', `second start: ${problem}`);
      else {
        other.closeStdin();
        const exited = await Promise.race([other.exited.then(() => true), sleep(SHUTDOWN_GRACE_MS).then(() => false)]);
        if (!exited) record('exits at the end of its input', 'fail', `kept running ${SHUTDOWN_GRACE_MS} ms after its stdin closed (it must exit: its host is gone)`);
        else if (other.exit?.code !== 0) record('exits at the end of its input', 'fail', `exited with ${other.exitText()} when its stdin closed, expected code 0`);
        else record('exits at the end of its input', 'pass', 'exited 0');
      }
    }

    // 11. Everything seen on the way.
    {
      const all = peers.flatMap((p) => p.violations);
      if (all.length) record('protocol hygiene', 'fail', all.slice(0, 3).join('; ') + (all.length > 3 ? ` (and ${all.length - 3} more)` : ''));
      else record('protocol hygiene', 'pass', 'stdout carried only protocol lines; every host call valid and for its own mounts');
    }
  } catch (err) {
    if (!(err instanceof Abort)) throw err;
    const tail = peers.at(-1)?.stderrTail(5);
    record('remaining checks', 'skip', `not run after the failure above${tail ? `; the plugin's stderr ended with:\n${tail}` : ''}`);
  } finally {
    await Promise.all(peers.map((p) => p.kill()));
    copy.remove();
  }
  return results;
}

/**
 * What is wrong with a reply that should be a result of `method` valid against its schema, or null. `errorOk`: an
 * error of the plugin's own (-32000 with a kind, e.g. unsupported path) is a fine answer here.
 */
function resultProblem(method: string, reply: Reply, errorOk = false): string | null {
  switch (reply.kind) {
    case 'timeout':
      return `did not answer ${method} within ${reply.ms} ms`;
    case 'exited':
      return `the process exited (${reply.how}) before answering ${method}`;
    case 'error':
      if (reply.code === RPC_ERRORS.plugin) return errorOk ? null : `answered ${method} with an error: ${quote(reply.message)} (kind ${reply.errorKind})`;
      return `answered ${method} with error ${reply.code}: ${quote(reply.message)}`;
    case 'result': {
      const schema = (hostToPluginSchemas as Record<string, { result: JsonSchema } | undefined>)[method]?.result;
      const wrong = schema ? validate(schema, reply.result, 'result') : null;
      return wrong ? `its result breaks the schema of ${method} (${wrong}): ${quote(JSON.stringify(reply.result))}` : null;
    }
  }
}

function describe(reply: Reply): string {
  switch (reply.kind) {
    case 'result':
      return `with a result ${quote(JSON.stringify(reply.result), 80)}`;
    case 'error':
      return `with error ${reply.code}${reply.errorKind ? ` (${reply.errorKind})` : ''}: ${quote(reply.message, 80)}`;
    case 'timeout':
      return `not at all within ${reply.ms} ms`;
    case 'exited':
      return `not at all: the process exited (${reply.how})`;
  }
}

/** A smallest valid value of a schema: the fallback for params the kit has no sample for. */
function fromSchema(schema: JsonSchema): unknown {
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string':
      return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
    case 'integer':
    case 'number':
      return schema.minimum ?? 0;
    case 'boolean':
      return false;
    case 'array':
      return [];
    case 'null':
      return null;
    default:
      return Object.fromEntries((schema.required ?? []).map((p) => [p, fromSchema(schema.properties?.[p] ?? {})]));
  }
}

function prepareCopy(file: string): { file: string; remove: () => void } {
  if (!existsSync(file)) throw new Error(`no such file: ${file}`);
  const st = statSync(file);
  if (!st.isFile()) throw new Error(`${file} is not a file`);
  if ((st.mode & 0o111) === 0) throw new Error(`${file} is not executable (chmod +x ${file})`);
  const dir = mkdtempSync(join(tmpdir(), 'coffer-plugin-test-'));
  writeFileSync(join(dir, 'package.json'), '{}\n');
  const copy = join(dir, basename(file));
  copyFileSync(file, copy);
  chmodSync(copy, 0o700);
  return { file: copy, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
