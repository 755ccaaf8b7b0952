import type { Bus, Subscription } from '#bus';
import { runnerSubjects, type RunnerPresence } from '#contracts';

/** Missed presence periods after which a runner is taken as gone. */
const MISSED_PERIODS = 3;

/**
 * FNV-1a over the instance and the mount, then a murmur3 finalizer: rendezvous hashing needs a score per (runner,
 * mount) that every gateway computes alike and that spreads evenly; nothing here is secret, so no crypto hash.
 */
function score(instance: string, mount: string): number {
  let h = 0x811c9dc5;
  const text = `${instance}\0${mount}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Pure: the runner that serves `mount` among `runners` (rendezvous, or highest-random-weight, hashing). Every
 * gateway that knows the same runners picks the same one, and when a runner leaves only the mounts it served move
 * (about 1/N of them), each to the runner that scores next for it.
 */
export function ownerOf(mount: string, runners: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const runner of runners) {
    const s = score(runner, mount);
    if (s > bestScore || (s === bestScore && best !== undefined && runner < best)) {
      best = runner;
      bestScore = s;
    }
  }
  return best;
}

/**
 * The live plugin-runners as this gateway hears their presence (`runnerSubjects.presence`), and the one each mount
 * hashes to. A runner is live from its first presence until it says it leaves, misses three periods, or a call to
 * it finds nobody there or no answer (`suspect`); it is live again at its next presence. With no runner known (a
 * gateway just started) calls go to the queue group, as they did before affinity.
 */
export class RunnerRing {
  private readonly heard = new Map<string, number>();
  /** Each mount's owner among `heard`, computed once per membership. */
  private owners = new Map<string, string | undefined>();
  private readonly subscription: Subscription;
  private readonly sweep: ReturnType<typeof setInterval>;

  constructor(
    bus: Bus,
    private readonly presenceMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.subscription = bus.subscribe(runnerSubjects.presence, (data) => this.hear(data as Partial<RunnerPresence> | null));
    this.sweep = setInterval(() => this.expire(), presenceMs);
    this.sweep.unref();
  }

  /** The runner that serves the mount, or undefined when none is known. */
  owner(mount: string): string | undefined {
    if (this.heard.size === 0) return undefined;
    let owner = this.owners.get(mount);
    if (owner === undefined) {
      owner = ownerOf(mount, this.heard.keys());
      if (this.owners.size >= 100_000) this.owners.clear();
      this.owners.set(mount, owner);
    }
    return owner;
  }

  /** A call to the runner found nobody or no answer: its mounts go to the others until it is heard again. */
  suspect(instance: string): void {
    if (this.heard.delete(instance)) this.owners.clear();
  }

  /** The runners this gateway takes as live (sys/metrics, tests). */
  get runners(): string[] {
    return [...this.heard.keys()].sort();
  }

  close(): void {
    clearInterval(this.sweep);
    this.subscription.unsubscribe();
  }

  private hear(presence: Partial<RunnerPresence> | null): void {
    const instance = presence?.instance;
    // An instance id is one subject token (`<service>-<hex>`): anything else could not be called directly anyway.
    if (typeof instance !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(instance)) return;
    if (presence?.state === 'leaving') {
      this.suspect(instance);
      return;
    }
    if (presence?.state !== 'serving') return;
    if (!this.heard.has(instance)) this.owners.clear();
    this.heard.set(instance, this.now());
  }

  private expire(): void {
    const oldest = this.now() - MISSED_PERIODS * this.presenceMs;
    for (const [instance, at] of this.heard) if (at < oldest) this.suspect(instance);
  }
}
