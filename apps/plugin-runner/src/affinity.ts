import { DIRECT_VERBS, directSubject, runnerSubjects, type MountCall, type MountWrite, type RunnerPresence, type StorageWriteNotice } from '#contracts';
import type { Subscription } from '#bus';
import type { ServiceContext } from '#runtime';
import type { MountCalls } from './mount-calls.js';
import type { PluginStorage } from './plugin-storage.js';

/**
 * The runner's side of mount affinity (docs/performance.md, "Mount affinity"): its own subjects for the mount calls
 * gateways hash to it, its presence for the gateways' rings, and the storage-write announcements that keep every
 * runner's read cache true while several of them write one table.
 */
export function serveAffinity(ctx: Pick<ServiceContext, 'bus' | 'instance' | 'barrier' | 'tunables' | 'log'>, calls: MountCalls, storage: PluginStorage): { close(): void } {
  const subscriptions: Subscription[] = DIRECT_VERBS.map((verb) =>
    ctx.bus.subscribe(directSubject(ctx.instance, verb), (data) => {
      switch (verb) {
        case 'handle':
          return calls.handle(data as MountCall);
        case 'write':
          return calls.write(data as MountWrite);
        case 'exists':
          return calls.exists(data as MountCall);
      }
    }),
  );
  subscriptions.push(
    ctx.bus.subscribe(runnerSubjects.storageWrites, (data) => {
      const notice = data as Partial<StorageWriteNotice> | null;
      if (!notice || typeof notice.mount !== 'string' || (notice.phase !== 'start' && notice.phase !== 'end')) return;
      if (notice.instance === ctx.instance) return;
      storage.heardWrite(notice.mount, notice.phase);
    }),
  );
  const stopReconnect = ctx.bus.onReconnect(() => storage.forgetAll());

  const present = (state: RunnerPresence['state']) => ctx.bus.publish(runnerSubjects.presence, { instance: ctx.instance, state } satisfies RunnerPresence);
  // Sealed (or not yet through the unseal hooks), a runner answers every call with 503: gateways should hash its
  // mounts elsewhere, so it says nothing and drops out of their rings.
  const beat = () => {
    if (ctx.barrier.ready) present('serving');
  };
  beat();
  const timer = setInterval(beat, ctx.tunables.runnerPresenceMs);
  timer.unref();
  return {
    close() {
      clearInterval(timer);
      present('leaving');
      stopReconnect();
      for (const s of subscriptions) s.unsubscribe();
    },
  };
}

/** What a runner tells the others of its own writes (PluginStorage's `announceWrite`). */
export function announceWrites(ctx: Pick<ServiceContext, 'bus' | 'instance'>): (mount: string, phase: StorageWriteNotice['phase']) => void {
  return (mount, phase) => ctx.bus.publish(runnerSubjects.storageWrites, { instance: ctx.instance, mount, phase } satisfies StorageWriteNotice);
}
