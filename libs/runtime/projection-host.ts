import type { Logger } from 'pino';
import type { Bus, Subscription } from '../bus/bus.js';
import { subjects, type StreamName } from '../contracts/subjects.js';
import type { StreamAppended } from '../contracts/messages.js';
import { CofferError } from '../contracts/errors.js';
import { ProjectionKeeper, type EventStore, type NewEvent, type Projection } from '../event-store/index.js';
import type { BarrierState } from './barrier-state.js';
import type { ServiceContext } from './service.js';

/**
 * Keeps one projection current in a running service: replay on unseal (events are encrypted: before it there is
 * nothing to read), catch up whenever the stream's broadcast says it grew, and on a timer in case a broadcast was
 * lost (NATS down, instance busy); forget everything on seal. The broadcast only says *that* the stream changed;
 * the keeper always reads the events themselves from the store.
 */
export class ProjectionHost<S> {
  private subscription?: Subscription;
  private timer?: NodeJS.Timeout;

  constructor(
    readonly stream: StreamName,
    readonly keeper: ProjectionKeeper<S>,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly intervalMs: number,
    private readonly barrier: BarrierState,
  ) {}

  /** A host for `projection` in a service, on the service's store, bus, barrier and catch-up period. */
  static of<S>(ctx: ServiceContext, projection: Projection<S>): ProjectionHost<S> {
    return new ProjectionHost(
      projection.stream as StreamName,
      new ProjectionKeeper(ctx.events, projection),
      ctx.bus,
      ctx.log,
      ctx.catchUpIntervalMs,
      ctx.barrier,
    );
  }

  get state(): S {
    return this.keeper.state;
  }

  async start(): Promise<void> {
    this.subscription = this.bus.subscribe(subjects.streamAppended(this.stream), () => this.catchUp());
    this.timer = setInterval(() => void this.catchUp(), this.intervalMs);
    this.timer.unref();
    this.barrier.onUnseal(() => this.replay());
    this.barrier.onSeal(() => this.keeper.reset());
    if (!this.barrier.sealed) await this.replay();
  }

  private async replay(): Promise<void> {
    const started = Date.now();
    this.keeper.reset();
    await this.keeper.replay();
    this.log.info({ stream: this.stream, version: this.keeper.version, ms: Date.now() - started }, 'projection replayed');
  }

  /** Never throws: a store outage is logged and the next broadcast or tick tries again. */
  async catchUp(): Promise<void> {
    if (this.barrier.sealed) return;
    try {
      await this.keeper.catchUp();
    } catch (err) {
      this.log.warn({ stream: this.stream, err: (err as Error)?.message }, 'projection catch-up failed; will retry');
    }
  }

  /**
   * How a command writes its stream, the one consistency rule of the design: decide on the state at version v,
   * append at v, announce; a lost race (another instance appended first) catches up and decides again. `decide`
   * answering null means there is nothing to write.
   */
  async decideAndAppend(
    events: Pick<EventStore, 'append'>,
    decide: (state: S) => NewEvent[] | null | Promise<NewEvent[] | null>,
    maxAttempts = 8,
  ): Promise<NewEvent[] | null> {
    for (let attempt = 1; ; attempt++) {
      await this.keeper.catchUp();
      // Read before deciding: whatever decide awaits, the append only lands if the stream is still at this version.
      const version = this.keeper.version;
      const decided = await decide(this.keeper.state);
      if (!decided || decided.length === 0) return null;
      try {
        const r = await events.append(this.stream, version, decided);
        announceAppend(this.bus, { stream: this.stream, version: r.toVersion, position: String(r.position) });
        await this.keeper.catchUp();
        return decided;
      } catch (err) {
        if (!(err instanceof CofferError && err.code === 'conflict') || attempt >= maxAttempts) throw err;
      }
    }
  }

  stop(): void {
    this.subscription?.unsubscribe();
    clearInterval(this.timer);
  }
}

/** Tells every instance that a stream grew, after a successful append. */
export function announceAppend(bus: Bus, message: StreamAppended): void {
  bus.publish(subjects.streamAppended(message.stream), message);
}
