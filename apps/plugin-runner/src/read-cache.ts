import type { Barrier } from '#barrier';

/** Which end of a write another runner announces (`runnerSubjects.storageWrites`). */
export type WritePhase = 'start' | 'end';

/**
 * What a runner keeps of the plugin storage it read, per mount, and the rule that keeps it true while other
 * runners write the same table.
 *
 * Every write, on every runner, is announced to the others twice: as it starts and once it has committed (before
 * its caller hears "done"). Hearing either drops the mount's entries and bumps the epoch, so a read that overlapped
 * the write keeps nothing. Between the two, nothing of that mount is kept: should the end never come (its runner
 * died between COMMIT and the announcement), the mount stays uncached until `foreignWriteMaxMs` has passed, longer
 * than any write may run, and its entries are dropped once more then. A runner that was cut off from the bus may
 * have missed announcements: the bus's reconnect drops everything (`forgetAll`).
 *
 * Why that is enough for a read after a write, on the mount's owner (mount affinity sends a mount's requests to one
 * runner): the writing runner announces the end before it replies, on the same NATS connection, so the server has
 * queued the announcement to the owner before it even delivers the reply that lets the client send its next read;
 * the owner handles messages in the order they came, and the announcement's handler runs at once.
 */
export class ReadCache {
  private readonly mounts = new Map<string, Map<string, Buffer | null>>();
  private entries = 0;
  private barrier?: Barrier;
  /** Bumped by anything that may change what the table holds: a read that overlapped it does not keep what it read. */
  epoch = 0;
  /** Mounts other runners are writing: how many writes, and when the last one started may no longer be running. */
  private readonly foreign = new Map<string, { inFlight: number; deadline: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly foreignWriteMaxMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** What is kept was read under one barrier: another one (a reseal, a rekey) starts it over. */
  under(barrier: Barrier): void {
    if (barrier === this.barrier) return;
    this.clear();
    this.barrier = barrier;
  }

  /** The kept value (null: known absent), or undefined when nothing is kept or another runner is writing the mount. */
  get(mount: string, key: string): Buffer | null | undefined {
    if (this.foreignWriting(mount)) return undefined;
    return this.mounts.get(mount)?.get(key);
  }

  /** Keeps `value` if it was read under `barrier` and nothing that may have changed it happened since `epoch`. */
  keep(mount: string, key: string, value: Buffer | null, barrier: Barrier, epoch: number): void {
    if (barrier !== this.barrier || epoch !== this.epoch || this.foreignWriting(mount)) return;
    if (this.entries >= this.maxEntries) this.clear();
    let entries = this.mounts.get(mount);
    if (!entries) this.mounts.set(mount, (entries = new Map()));
    if (!entries.has(key)) this.entries++;
    entries.set(key, value);
  }

  /** This runner writes the key: before and after, so a read running alongside does not keep what it replaces. */
  forget(mount: string, key: string): void {
    this.epoch++;
    const entries = this.mounts.get(mount);
    if (entries?.delete(key)) this.entries--;
  }

  /** Keys under any of the prefixes go (a scope's delete). */
  forgetPrefixes(mount: string, prefixes: readonly string[]): void {
    this.epoch++;
    const entries = this.mounts.get(mount);
    if (!entries) return;
    for (const key of entries.keys()) {
      if (prefixes.some((p) => key.startsWith(p))) {
        entries.delete(key);
        this.entries--;
      }
    }
  }

  forgetMount(mount: string): void {
    this.epoch++;
    const entries = this.mounts.get(mount);
    if (!entries) return;
    this.entries -= entries.size;
    this.mounts.delete(mount);
  }

  /** Everything goes: the bus reconnected, so announcements may have been missed. */
  forgetAll(): void {
    this.epoch++;
    this.clear();
    this.foreign.clear();
  }

  /** How many announcements of other runners' writes were heard. */
  foreignHeard = 0;

  /** Another runner announced a write of the mount. */
  foreignWrite(mount: string, phase: WritePhase): void {
    this.foreignHeard++;
    this.forgetMount(mount);
    const mark = this.foreign.get(mount);
    if (phase === 'start') {
      this.foreign.set(mount, { inFlight: (mark?.inFlight ?? 0) + 1, deadline: this.now() + this.foreignWriteMaxMs });
    } else if (mark && --mark.inFlight <= 0) {
      this.foreign.delete(mount);
    }
  }

  get size(): number {
    return this.entries;
  }

  private foreignWriting(mount: string): boolean {
    const mark = this.foreign.get(mount);
    if (!mark) return false;
    if (this.now() < mark.deadline) return true;
    // A write whose end never came: what was read while it ran may predate its commit.
    this.foreign.delete(mount);
    this.forgetMount(mount);
    return false;
  }

  private clear(): void {
    this.mounts.clear();
    this.entries = 0;
  }
}
