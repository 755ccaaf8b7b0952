import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createLogger } from '../runtime/logger.js';
import { NatsBus } from './nats-bus.js';

const NATS_URL = process.env.COFFER_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const silent = createLogger('test', 'silent');

/** Counts the client's writes to its socket (the transport's `send`, one `socket.write` each). */
function countSends(nc: NatsConnection): { count: () => number } {
  const protocol = (nc as unknown as { protocol: { transport: { send(frame: Uint8Array): void } } }).protocol;
  const transport = protocol.transport;
  const send = transport.send.bind(transport);
  let n = 0;
  transport.send = (frame) => {
    n++;
    send(frame);
  };
  return { count: () => n };
}

/** 50 sends, each from its own callback of one turn (as 50 HTTP requests parsed in one poll phase are). */
async function publishFromSeparateCallbacks(publish: (i: number) => void): Promise<void> {
  await new Promise<void>((resolve) => {
    for (let i = 0; i < 50; i++) setImmediate(() => publish(i));
    setImmediate(resolve);
  });
}

describe('one socket write per turn of the event loop (NatsBus over a real NATS server)', () => {
  const namespace = `turnflush${process.pid}`;
  let bus: NatsBus;
  let listener: NatsBus;

  before(async () => {
    bus = await NatsBus.connect({ url: NATS_URL, name: 'turn-flush', namespace, log: silent });
    listener = await NatsBus.connect({ url: NATS_URL, name: 'turn-flush-listener', namespace, log: silent });
  });
  after(async () => {
    await bus?.close();
    await listener?.close();
  });

  it("requests made in separate callbacks of one turn leave in one write, answered in order; the library's own client writes each", async () => {
    listener.subscribe('coffer.turn.echo', async (data: unknown) => data, { queue: 'q' });
    await listener.flush();
    const writes = countSends(bus.connection);
    const answers: Promise<unknown>[] = [];
    await publishFromSeparateCallbacks((i) => answers.push(bus.request('coffer.turn.echo', { i })));
    await new Promise((r) => setImmediate(r));
    assert.ok(writes.count() <= 2, `one write for the turn's 50 requests, not ${writes.count()}`);
    assert.deepEqual(await Promise.all(answers), Array.from({ length: 50 }, (_, i) => ({ i })));

    // The control: an unpatched client makes a write per callback, so the count above measures the change.
    const plain = await connect({ servers: NATS_URL });
    try {
      const plainWrites = countSends(plain);
      await publishFromSeparateCallbacks((i) => plain.publish(`coffer.${namespace}.turn.plain`, String(i)));
      await plain.flush();
      assert.ok(plainWrites.count() >= 50, `the library alone writes per callback (${plainWrites.count()} writes)`);
    } finally {
      await plain.close();
    }
  });

  it('a broadcast leaves at once, before anything this process answers next, and broadcasts arrive in order', async () => {
    const heard: number[] = [];
    listener.subscribe('coffer.turn.ordered', async (data: unknown) => {
      heard.push((data as { i: number }).i);
      return undefined;
    });
    await listener.flush();
    const writes = countSends(bus.connection);
    for (let i = 0; i < 50; i++) {
      const before = writes.count();
      bus.publish('coffer.turn.ordered', { i });
      assert.equal(writes.count(), before + 1, 'written synchronously by publish');
    }
    const deadline = Date.now() + 5_000;
    while (heard.length < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(heard, Array.from({ length: 50 }, (_, i) => i));
  });

  it('a publish made just before close is delivered', async () => {
    let last: unknown;
    listener.subscribe('coffer.turn.last', async (data: unknown) => {
      last = data;
      return undefined;
    });
    await listener.flush();
    const closing = await NatsBus.connect({ url: NATS_URL, name: 'turn-flush-closing', namespace, log: silent });
    closing.publish('coffer.turn.last', { bye: true });
    await closing.close();
    const deadline = Date.now() + 5_000;
    while (last === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(last, { bye: true });
  });
});
