import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../runtime/logger.js';
import { ResponderLost } from './liveness.js';
import { NatsBus } from './nats-bus.js';

const NATS_URL = process.env.COFFER_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const silent = createLogger('test', 'silent');
const NATS_BUS_JS = new URL('./nats-bus.js', import.meta.url).href;

/**
 * A responder in a process of its own, so it can die as a crashed runner does (SIGKILL): its handler never returns.
 * It says "ready" once subscribed.
 */
function hangingResponder(namespace: string, subject: string) {
  const script = `
    import { NatsBus } from ${JSON.stringify(NATS_BUS_JS)};
    const log = { info() {}, warn() {}, debug() {}, error() {}, child() { return log; } };
    const bus = await NatsBus.connect({ url: ${JSON.stringify(NATS_URL)}, name: 'hang', namespace: ${JSON.stringify(namespace)}, log });
    bus.subscribe(${JSON.stringify(subject)}, () => new Promise(() => {}), { queue: 'q' });
    await bus.flush();
    process.stdout.write('ready\\n');
  `;
  return spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], cwd: fileURLToPath(new URL('.', import.meta.url)) });
}

describe('requests with liveness over NATS', () => {
  const namespace = `liveness_${process.pid}_${Date.now().toString(36)}`;
  let a: NatsBus;
  let b: NatsBus;
  before(async () => {
    a = await NatsBus.connect({ url: NATS_URL, name: 'a', namespace, log: silent });
    b = await NatsBus.connect({ url: NATS_URL, name: 'b', namespace, log: silent });
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  it('nobody listening fails at once as not started, with NATS\'s no-responders', async () => {
    const err = await a.request('coffer.test.nobody', {}, { livenessMs: 2_000, timeoutMs: 60_000 }).then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ResponderLost, String(err));
    assert.equal(err.noResponders, true);
    assert.equal(err.started, false);
    assert.equal(err.code, 'unavailable');
  });

  it('a responder working longer than the liveness period answers: its beats keep the call alive', async () => {
    b.subscribe('coffer.test.slow', () => new Promise((r) => setTimeout(() => r({ done: true }), 1_500)), { queue: 'q' });
    await b.flush();
    assert.deepEqual(await a.request('coffer.test.slow', {}, { livenessMs: 400, timeoutMs: 60_000 }), { done: true });
  });

  it('a responder killed mid-call fails the call as started-then-lost, long before the call timeout', async () => {
    const child = hangingResponder(namespace, 'coffer.test.hang');
    await once(child.stdout!, 'data');
    const call = a.request('coffer.test.hang', {}, { livenessMs: 1_000, timeoutMs: 120_000 }).then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    // Let the responder acknowledge and beat a few times, then kill it without warning.
    await new Promise((r) => setTimeout(r, 800));
    child.kill('SIGKILL');
    const err = await call;
    assert.ok(err instanceof ResponderLost, String(err));
    assert.equal(err.started, true);
    assert.match(err.message, /stopped answering/);
  });

  it('a plain request (no liveness) still works against a responder that beats for nobody', async () => {
    b.subscribe('coffer.test.plain', () => ({ ok: 1 }), { queue: 'q' });
    await b.flush();
    assert.deepEqual(await a.request('coffer.test.plain', {}), { ok: 1 });
  });
});
