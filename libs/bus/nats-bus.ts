import { connect, nkeyAuthenticator, type NatsConnection, type ConnectionOptions } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Bus, BusHandler, RequestObserver, RequestOptions, Subscription } from './bus.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, RequestObservers, decodeReply, encodeFailure, encodeReply, noResponders, timedOut } from './bus.js';
import { CofferError } from '../contracts/errors.js';
import { LivenessRequester, answerLiveness } from './liveness.js';
import { flushOncePerTurn } from './turn-flush.js';

export interface NatsBusOptions {
  /** One URL or several, comma separated. */
  url: string;
  /** Shown in the server's connection list: which service and instance this is. */
  name: string;
  user?: string;
  password?: string;
  token?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /**
   * The role's nkey seed (`SU…`): the server holds only the public key and checks a signature of its nonce, so
   * nothing that authenticates this process ever crosses the wire.
   */
  nkeySeed?: Uint8Array;
  /** Where replies come back (`_INBOX_<role>`), so a role's subscribe permission covers its own replies only. */
  inboxPrefix?: string;
  /** `coffer.<namespace>.…` on the wire instead of `coffer.…`: clusters sharing a NATS server never hear each other. */
  namespace?: string;
  log: Logger;
}

const ROOT = 'coffer.';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The bus over a real NATS server. The client reconnects forever (a restart of nats-server must never need a
 * restart of ours) and its subscriptions are replayed by the client library after each reconnect.
 */
export class NatsBus implements Bus {
  readonly kind = 'nats' as const;

  /** What replaces `coffer.` on the wire (`coffer.<namespace>.`), or undefined to use subjects as they are. */
  private readonly wirePrefix: string | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    readonly namespace?: string,
    /** Writes what the connection holds now (turn-flush.ts): broadcasts leave at once, the rest at the turn's end. */
    private readonly sendNow: () => void = () => undefined,
  ) {
    this.wirePrefix = namespace ? `${ROOT}${namespace}.` : undefined;
    void this.watchStatus();
  }

  /**
   * The connection itself, for NATS's own protocols beside Coffer's subjects: the service API (`$SRV.*`,
   * libs/runtime/service-api.ts). Coffer's own messages go through request/publish/subscribe, never through this.
   */
  get connection(): NatsConnection {
    return this.nc;
  }

  /** A contracts subject as it is on the wire (with the namespace). */
  wireSubject(subject: string): string {
    return this.onWire(subject);
  }

  /** Every Coffer subject is `coffer.…` (libs/contracts); the namespace goes right after that first token. */
  private onWire(subject: string): string {
    return this.wirePrefix && subject.startsWith(ROOT) ? this.wirePrefix + subject.slice(ROOT.length) : subject;
  }

  /** Handlers see the subject as the contracts spell it, whatever the namespace. */
  private fromWire(subject: string): string {
    return this.wirePrefix && subject.startsWith(this.wirePrefix) ? ROOT + subject.slice(this.wirePrefix.length) : subject;
  }

  /**
   * Connects, waiting for the server as long as it takes (logging the failures): services may start before NATS does.
   * A server that answers but refuses this client (credentials, TLS) will refuse it again: that throws at once, so the
   * process exits and says why instead of retrying in silence.
   */
  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const servers = options.url.split(',').map((s) => s.trim()).filter(Boolean);
    const connectionOptions: ConnectionOptions = {
      servers,
      name: options.name,
      // Not nats.js's own wait on the first connect: it retries without saying why (a refused nkey, a certificate
      // without the server's name looked exactly like a slow NATS). connectPatiently retries and logs.
      waitOnFirstConnect: false,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      pingInterval: 5_000,
      maxPingOut: 2,
      // The client would otherwise build two Error objects (stack traces) per request in case it fails: measured
      // at ~7% of a gateway's CPU under load. A failed request is reported with its subject (translateRequestError).
      noAsyncTraces: true,
      user: options.user,
      pass: options.password,
      token: options.token,
    };
    if (options.nkeySeed) connectionOptions.authenticator = nkeyAuthenticator(options.nkeySeed);
    if (options.inboxPrefix) connectionOptions.inboxPrefix = options.inboxPrefix;
    if (options.tls) {
      connectionOptions.tls = {
        caFile: options.tls.caFile,
        certFile: options.tls.certFile,
        keyFile: options.tls.keyFile,
      };
    }
    options.log.info({ servers: servers.map(redactUrl), namespace: options.namespace }, 'connecting to NATS');
    const nc = await connectPatiently(connectionOptions, options.log);
    options.log.info({ server: redactUrl(nc.getServer()) }, 'connected to NATS');
    const sendNow = flushOncePerTurn(nc);
    if (!sendNow) options.log.warn('the NATS client has no flushPending hook: each publish is its own socket write');
    return new NatsBus(nc, options.log, options.namespace, sendNow);
  }

  /** Created on the first request that asks for liveness (see liveness.ts). */
  private liveness?: LivenessRequester;

  private readonly observers = new RequestObservers();

  observeRequests(observer: RequestObserver): () => void {
    return this.observers.add(observer);
  }

  private readonly reconnectListeners = new Set<() => void>();

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  request<T>(subject: string, data: unknown, options: RequestOptions = {}): Promise<T> {
    return this.observers.time(subject, () => this.send<T>(subject, data, options));
  }

  private async send<T>(subject: string, data: unknown, options: RequestOptions): Promise<T> {
    const timeout = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    let reply;
    if (options.livenessMs) {
      const inboxPrefix = (this.nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
      this.liveness ??= new LivenessRequester(this.nc, inboxPrefix);
      reply = await this.liveness.request(this.onWire(subject), encoder.encode(JSON.stringify(data ?? null)), {
        timeoutMs: timeout,
        livenessMs: options.livenessMs,
        subject,
        onTimeout: () => timedOut(subject, timeout),
      });
    } else {
      try {
        reply = await this.nc.request(this.onWire(subject), encoder.encode(JSON.stringify(data ?? null)), { timeout });
      } catch (err) {
        throw translateRequestError(err, subject, timeout);
      }
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(reply.data));
    } catch {
      throw new CofferError('internal', `malformed reply on ${subject}`);
    }
    return decodeReply<T>(subject, parsed);
  }

  publish(subject: string, data: unknown): void {
    try {
      this.nc.publish(this.onWire(subject), encoder.encode(JSON.stringify(data ?? null)));
      // A broadcast may change what other instances answer (a revoked token, a seal): out before any HTTP reply.
      this.sendNow();
    } catch (err) {
      // A closed connection only happens during shutdown; a broadcast lost then is caught up by the timers.
      this.log.warn({ subject, err: String(err) }, 'publish failed');
    }
  }

  subscribe(subject: string, handler: BusHandler, options: { queue?: string } = {}): Subscription {
    const sub = this.nc.subscribe(this.onWire(subject), {
      queue: options.queue,
      callback: (err, msg) => {
        if (err) {
          this.log.warn({ subject, err: String(err) }, 'subscription error');
          return;
        }
        void (async () => {
          let reply;
          const stopBeats = answerLiveness(this.nc, msg);
          try {
            const data = msg.data.length === 0 ? null : JSON.parse(decoder.decode(msg.data));
            reply = encodeReply(await handler(data, this.fromWire(msg.subject)));
          } catch (e) {
            if (!msg.reply) {
              this.log.warn({ subject: msg.subject, err: describe(e) }, 'broadcast handler failed');
              return;
            }
            reply = encodeFailure(e instanceof SyntaxError ? new CofferError('invalid-request', 'malformed message') : e);
          } finally {
            stopBeats?.();
          }
          if (msg.reply) msg.respond(encoder.encode(JSON.stringify(reply)));
        })();
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  async flush(): Promise<void> {
    await this.nc.flush();
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    this.liveness?.close();
    // drain lets in-flight handlers reply before the connection goes away.
    await this.nc.drain().catch(() => this.nc.close());
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      switch (s.type) {
        case 'disconnect':
          this.log.warn({ server: redactUrl(String(s.server)) }, 'disconnected from NATS; reconnecting');
          break;
        case 'reconnect':
          this.log.info({ server: redactUrl(String(s.server)) }, 'reconnected to NATS');
          for (const listener of this.reconnectListeners) {
            try {
              listener();
            } catch (err) {
              this.log.warn({ err: String(err) }, 'a reconnect listener failed');
            }
          }
          break;
        case 'error':
          this.log.warn({ err: String(s.error) }, 'NATS error');
          break;
        default:
          break;
      }
    }
  }
}

/** The first connection: unreachable is retried every 500 ms (logged on the first try and every 20th); refused throws. */
async function connectPatiently(options: ConnectionOptions, log: Logger): Promise<NatsConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect(options);
    } catch (err) {
      const reason = connectFailure(err);
      if (isRefusal(err, reason)) throw new Error(`NATS refused this client: ${reason}`);
      if (attempt === 1 || attempt % 20 === 0) log.warn({ err: reason, attempt }, 'NATS not reachable yet; retrying');
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function connectFailure(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string };
  return [e.code, e.name && e.name !== 'Error' ? e.name : undefined, e.message].filter(Boolean).join(': ') || String(err);
}

/** Credentials or TLS the server does not accept: asking again changes nothing. */
function isRefusal(err: unknown, reason: string): boolean {
  const code = String((err as { code?: string }).code ?? '');
  if (code.startsWith('ERR_TLS') || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO/.test(code)) return true;
  return /authorization violation|authentication expired|permissions violation|certificate|tls required|does not support tls/i.test(reason);
}

function translateRequestError(err: unknown, subject: string, timeout: number): CofferError {
  const name = (err as Error)?.name ?? '';
  const text = `${name} ${(err as Error)?.message ?? ''} ${String((err as { cause?: unknown })?.cause ?? '')}`;
  if (/NoResponders|no responders/i.test(text)) return noResponders(subject);
  if (/Timeout/i.test(text)) return timedOut(subject, timeout);
  return new CofferError('unavailable', `bus request on ${subject} failed: ${name || 'error'}`);
}

function describe(e: unknown): string {
  return e instanceof CofferError ? `${e.code}: ${e.message}` : e instanceof Error ? e.name : 'error';
}

/** Credentials in a NATS URL are never logged. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
