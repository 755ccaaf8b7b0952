import type { Bus, BusHandler, RequestObserver, RequestOptions, Subscription } from './bus.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, RequestObservers, decodeReply, encodeFailure, encodeReply, noResponders, timedOut } from './bus.js';
import { subjectMatches } from './subject.js';

interface Subscriber {
  subject: string;
  queue?: string;
  handler: BusHandler;
  active: boolean;
}

/**
 * The dev server's bus: NATS semantics inside one process. Payloads go through JSON so a handler can never share
 * (and mutate) the caller's objects, exactly as over the wire, and delivery is asynchronous so no handler runs
 * inside its caller's stack.
 */
export class InProcessBus implements Bus {
  readonly kind = 'in-process' as const;
  private subscribers: Subscriber[] = [];
  private roundRobin = new Map<string, number>();
  /** Subscribers matching a subject, by subject: matching every pattern on every message cost more than the work. */
  private matching = new Map<string, Subscriber[]>();
  private closed = false;

  private readonly observers = new RequestObservers();

  observeRequests(observer: RequestObserver): () => void {
    return this.observers.add(observer);
  }

  /** One process has no connection to lose. */
  onReconnect(): () => void {
    return () => undefined;
  }

  request<T>(subject: string, data: unknown, options: RequestOptions = {}): Promise<T> {
    return this.observers.time(subject, () => this.send<T>(subject, data, options));
  }

  private async send<T>(subject: string, data: unknown, options: RequestOptions): Promise<T> {
    const targets = this.pick(subject);
    if (targets.length === 0) throw noResponders(subject);
    const payload = JSON.stringify(data ?? null);
    const ms = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut(subject, ms)), ms);
    });
    try {
      const replies = targets.map((s) => this.deliver(s, subject, payload, true));
      const reply = await Promise.race([Promise.any(replies), timeout]);
      return decodeReply<T>(subject, JSON.parse(reply as string));
    } finally {
      clearTimeout(timer);
    }
  }

  publish(subject: string, data: unknown): void {
    const payload = JSON.stringify(data ?? null);
    for (const s of this.pick(subject)) void this.deliver(s, subject, payload, false).catch(() => undefined);
  }

  subscribe(subject: string, handler: BusHandler, options: { queue?: string } = {}): Subscription {
    const sub: Subscriber = { subject, queue: options.queue, handler, active: true };
    this.subscribers.push(sub);
    this.matching.clear();
    return {
      unsubscribe: () => {
        sub.active = false;
        this.subscribers = this.subscribers.filter((s) => s !== sub);
        this.matching.clear();
      },
    };
  }

  /** Deliveries start on the next turn of the event loop, in order: one turn later, all earlier ones have begun. */
  async flush(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribers = [];
    this.matching.clear();
  }

  /** Every plain subscriber, plus one member of each queue group (round robin). */
  private pick(subject: string): Subscriber[] {
    if (this.closed) return [];
    let matching = this.matching.get(subject);
    if (!matching) {
      matching = this.subscribers.filter((s) => subjectMatches(s.subject, subject));
      // Reply inboxes and per-request subjects would grow the map without end: keep it to a bounded size.
      if (this.matching.size >= 1000) this.matching.clear();
      this.matching.set(subject, matching);
    }
    const plain: Subscriber[] = [];
    const groups = new Map<string, Subscriber[]>();
    for (const s of matching) {
      if (s.queue === undefined) plain.push(s);
      else groups.set(s.queue, [...(groups.get(s.queue) ?? []), s]);
    }
    for (const [queue, members] of groups) {
      const key = `${queue}\u0000${subject}`;
      const next = ((this.roundRobin.get(key) ?? -1) + 1) % members.length;
      this.roundRobin.set(key, next);
      plain.push(members[next]);
    }
    return plain;
  }

  private async deliver(sub: Subscriber, subject: string, payload: string, wantsReply: boolean): Promise<string> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!sub.active) throw noResponders(subject);
    try {
      const result = await sub.handler(JSON.parse(payload), subject);
      return JSON.stringify(encodeReply(result));
    } catch (err) {
      if (!wantsReply) throw err;
      return JSON.stringify(encodeFailure(err));
    }
  }
}
