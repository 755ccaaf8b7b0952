import type { EventStore, StoredEvent } from './event-store.js';

/** State derived from one stream by a pure fold: no I/O, no clock, so every instance derives the same state. */
export interface Projection<S> {
  readonly stream: string;
  initial(): S;
  fold(state: S, event: StoredEvent): S;
}

/**
 * Keeps one projection current in memory. It catches up by stream version, not global position: positions are
 * handed out before commit and can appear out of order, while a stream's versions appear without gaps.
 */
export class ProjectionKeeper<S> {
  private current: S;
  private appliedVersion = 0;
  /** Bumped by reset(), so a catch-up that was reading meanwhile drops what it read instead of folding it. */
  private generation = 0;
  /** The last catch-up to run; each starts after the one before, so no event is folded twice. */
  private tail: Promise<unknown> = Promise.resolve();
  /** A catch-up that has been asked for but has not started; later callers share it. */
  private queued?: Promise<number>;

  constructor(
    private readonly store: EventStore,
    private readonly projection: Projection<S>,
  ) {
    this.current = projection.initial();
  }

  get state(): S {
    return this.current;
  }

  /** The version of the last event folded into `state`. */
  get version(): number {
    return this.appliedVersion;
  }

  /** Folds the events appended since the last catch-up; resolves to the version reached. */
  catchUp(): Promise<number> {
    // A caller arriving while a catch-up is reading may have been told of an event that read already missed, so it
    // gets a catch-up of its own, after that one; callers arriving before the next one starts can share it.
    this.queued ??= this.tail.then(() => {
      this.queued = undefined;
      return this.foldNewEvents();
    });
    this.tail = this.queued.catch(() => undefined);
    return this.queued;
  }

  /** Rebuilds the state from the stream's first event (after unseal, or to check a live projection). */
  replay(): Promise<number> {
    this.reset();
    return this.catchUp();
  }

  /** Forgets the state, e.g. on seal, when the keyring that decrypts the events is gone. */
  reset(): void {
    this.generation++;
    this.current = this.projection.initial();
    this.appliedVersion = 0;
  }

  private async foldNewEvents(): Promise<number> {
    const generation = this.generation;
    for await (const page of this.store.readPages(this.projection.stream, { afterVersion: this.appliedVersion })) {
      if (generation !== this.generation) break;
      for (const event of page) {
        this.current = this.projection.fold(this.current, event);
        this.appliedVersion = event.version;
      }
    }
    return this.appliedVersion;
  }
}
