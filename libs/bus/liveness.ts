import { createInbox, headers, type Msg, type NatsConnection, type Subscription as NatsSubscription } from '@nats-io/transport-node';
import { CofferError } from '../contracts/errors.js';

/**
 * Requests whose responder proves it is alive. A plain NATS request to a responder that dies (SIGKILL, a NATS blip)
 * waits for its full timeout, however long the work was allowed to take. With liveness, the responder acknowledges
 * the request at once and beats while it works, so the caller knows within `livenessMs` that nobody took the request
 * (safe to send again) or that whoever took it is gone (the outcome is unknown).
 *
 * Wire: the request carries `Coffer-Liveness: <ms>`; the responder answers `Coffer-Progress: ack` at once, then
 * `Coffer-Progress: beat` every ms/4, then the reply itself (no header). Old responders ignore the header and just
 * reply; that still works, only without the early failure.
 */
export const LIVENESS_HEADER = 'Coffer-Liveness';
export const PROGRESS_HEADER = 'Coffer-Progress';

/**
 * A request whose responder was lost. `started` false: no responder took it (NATS said nobody listens, or nobody
 * acknowledged in time). `started` true: a responder acknowledged it and then fell silent, so it may have done the work.
 */
export class ResponderLost extends CofferError {
  constructor(
    message: string,
    readonly started: boolean,
    /** NATS itself said no subscriber exists: the request was delivered to nobody, now or later. */
    readonly noResponders: boolean,
  ) {
    super('unavailable', message);
    this.name = 'ResponderLost';
  }
}

interface Pending {
  resolve: (m: Msg) => void;
  reject: (e: Error) => void;
  onProgress: () => void;
}

/**
 * One wildcard inbox per connection for every liveness request (as nats.js muxes its own requests): a subscription
 * per request would cost two protocol messages each.
 */
export class LivenessRequester {
  private readonly prefix: string;
  private readonly pending = new Map<string, Pending>();
  private sub?: NatsSubscription;
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    inboxPrefix?: string,
  ) {
    this.prefix = createInbox(inboxPrefix);
  }

  /**
   * Publishes and waits for the reply message. Rejects with ResponderLost when nobody listens, nobody acknowledges
   * within `livenessMs`, or the acknowledged responder is silent for `livenessMs`; with `onTimeout()` after `timeoutMs`.
   */
  request(wireSubject: string, payload: Uint8Array, o: { timeoutMs: number; livenessMs: number; subject: string; onTimeout: () => Error }): Promise<Msg> {
    this.sub ??= this.nc.subscribe(`${this.prefix}.*`, { callback: (err, msg) => this.dispatch(err, msg) });
    const token = (this.next++).toString(36);
    const h = headers();
    h.set(LIVENESS_HEADER, String(o.livenessMs));
    return new Promise<Msg>((resolve, reject) => {
      let started = false;
      let silence: NodeJS.Timeout;
      const overall = setTimeout(() => finish(o.onTimeout()), o.timeoutMs);
      const arm = () => {
        clearTimeout(silence);
        silence = setTimeout(
          () =>
            finish(
              started
                ? new ResponderLost(`the service handling ${o.subject} stopped answering (no sign of life for ${o.livenessMs} ms); the outcome is unknown`, true, false)
                : new ResponderLost(`no service took the request on ${o.subject} within ${o.livenessMs} ms`, false, false),
            ),
          o.livenessMs,
        );
      };
      const finish = (result: Msg | Error) => {
        clearTimeout(overall);
        clearTimeout(silence);
        this.pending.delete(token);
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      this.pending.set(token, {
        resolve: (m) => finish(m),
        reject: (e) => finish(e),
        onProgress: () => {
          started = true;
          arm();
        },
      });
      arm();
      try {
        this.nc.publish(wireSubject, payload, { reply: `${this.prefix}.${token}`, headers: h });
      } catch (err) {
        finish(new ResponderLost(`bus request on ${o.subject} failed: ${(err as Error)?.name ?? 'error'}`, false, false));
      }
    }).catch((err: unknown) => {
      if (err instanceof ResponderLost && err.noResponders) throw new ResponderLost(`no service is listening on ${o.subject}`, false, true);
      throw err;
    });
  }

  private dispatch(err: Error | null, msg: Msg): void {
    if (err) return;
    const token = msg.subject.slice(this.prefix.length + 1);
    const p = this.pending.get(token);
    if (!p) return;
    const status = msg.headers as unknown as { code?: number; status?: string } | undefined;
    if (msg.data.length === 0 && (status?.code === 503 || status?.status === '503')) {
      p.reject(new ResponderLost('', false, true));
      return;
    }
    if (msg.headers?.get(PROGRESS_HEADER)) {
      p.onProgress();
      return;
    }
    p.resolve(msg);
  }

  close(): void {
    this.sub?.unsubscribe();
    for (const p of this.pending.values()) p.reject(new ResponderLost('bus closed', false, false));
  }
}

/**
 * The responder's half: acknowledges a request that asked for liveness and beats until `stop()`. Returns undefined
 * (nothing to stop) when the request did not ask.
 */
export function answerLiveness(nc: NatsConnection, msg: Msg): (() => void) | undefined {
  const raw = msg.headers?.get(LIVENESS_HEADER);
  if (!raw || !msg.reply) return undefined;
  const ms = Math.max(Number(raw) || 0, 100);
  const reply = msg.reply;
  const beat = (kind: 'ack' | 'beat') => {
    const h = headers();
    h.set(PROGRESS_HEADER, kind);
    try {
      nc.publish(reply, new Uint8Array(0), { headers: h });
    } catch {
      // A closed connection: the caller learns from the silence.
    }
  };
  beat('ack');
  const timer = setInterval(() => beat('beat'), Math.max(Math.floor(ms / 4), 25));
  return () => clearInterval(timer);
}
