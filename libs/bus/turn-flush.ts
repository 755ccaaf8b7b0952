import type { NatsConnection } from '@nats-io/transport-node';

/**
 * The client library writes its outbound buffer to the socket from a microtask, so every callback that publishes
 * (each HTTP request parsed, each reply from a plugin) makes a socket write of its own: under load a gateway made one
 * `write` per request and per reply, each waking nats-server. Deferred to `setImmediate`, the writes of one turn of
 * the event loop leave together: measured on 2 cores, distributed kv read 4,600–4,700 → 6,400–6,600 req/s, CPU per
 * read −7% in the gateway, −12% in the runner, −25% in nats-server (docs/performance.md, "One socket write per turn").
 *
 * What it changes is when bytes leave, never what or in which order: the buffer is the library's own, drained whole.
 * `flush()` and `drain()` still work (their PING waits in the same buffer and goes with the rest).
 *
 * Returns the drain itself, for what must leave now: a broadcast that changes what other instances do (a revoked
 * token, a seal) goes before this process answers anyone over another channel (HTTP), as it did when the library
 * drained from a microtask. NatsBus.publish calls it; requests and replies wait for the end of the turn.
 *
 * It reaches into the client (`protocol.flushPending`, nats-core 3.x): the version is pinned in package.json and
 * `turn-flush.test.ts` fails if the hook is gone. Returns undefined, changing nothing, when the client has no such
 * method.
 */
export function flushOncePerTurn(nc: NatsConnection): (() => void) | undefined {
  const protocol = (nc as unknown as { protocol?: { flushPending?: () => void } }).protocol;
  if (!protocol || typeof protocol.flushPending !== 'function') return undefined;
  const flushNow = protocol.flushPending.bind(protocol);
  let scheduled = false;
  protocol.flushPending = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flushNow();
    });
  };
  return flushNow;
}
