import { catalogProjection } from '#plugin-catalog';
import { mountTableProjection } from '#mount-table';
import { ProjectionHost, prometheusText, serviceModule, startMicroservice, type ServiceContext, type RunningService } from '#runtime';
import { ProjectionDirectory } from './directory.js';
import { PluginLauncher } from './launcher.js';
import type { SandboxPlan } from './sandbox.js';
import { MountCalls, mountInfo } from './mount-calls.js';
import { PeriodicScheduler } from './periodic.js';
import { RunnerMetrics } from './metrics.js';
import { PluginPool } from './plugin-pool.js';
import { PluginRunnerController, type RunnerProjections } from './plugin-runner.controller.js';
import { PluginStorage } from './plugin-storage.js';
import { announceWrites, serveAffinity } from './affinity.js';
import { MOUNT_CALLS, RUNNER_PROJECTIONS } from './tokens.js';

/**
 * Starts one plugin-runner worker: replays the mount table and the catalog (to resolve a mount uuid to the plugin
 * it runs), then joins the runners' queue group so work spreads across workers.
 */
/** The runner as started: which sandbox its plugins get (the dev server prints it). */
export interface RunningPluginRunner extends RunningService {
  readonly sandbox: SandboxPlan;
}

export async function startPluginRunner(ctx: ServiceContext): Promise<RunningPluginRunner> {
  const mounts = ProjectionHost.of(ctx, mountTableProjection);
  const catalog = ProjectionHost.of(ctx, catalogProjection);
  await Promise.all([mounts.start(), catalog.start()]);
  const directory = new ProjectionDirectory(mounts, catalog);

  // The pool and the storage are made just below; the gauges ask them only when scraped.
  let poolRef: PluginPool | undefined;
  let storageRef: PluginStorage | undefined;
  const metrics = new RunnerMetrics(ctx.instance, () => poolRef, () => storageRef?.cachedEntries ?? 0);
  const storage = new PluginStorage(ctx.dataSource, {
    barrier: ctx.barrier.current,
    mountTtls: (uuid) => directory.mount(uuid)?.config,
    // Asked at each use: SIGHUP updates ctx.config in place.
    system: () => ({ defaultLeaseTtl: ctx.config.defaultLeaseTtl, maxLeaseTtl: ctx.config.maxLeaseTtl }),
    // True with any number of runners: each announces its writes to the others, who drop that mount (read-cache.ts).
    readCache: true,
    announceWrite: announceWrites(ctx),
    foreignWriteMaxMs: 2 * ctx.tunables.pluginCallTimeoutMs,
    onRead: (fromCache) => metrics.storageRead(fromCache),
    // Each turn's writes of a mount share one commit: with mount affinity a mount's writes come to one runner, so a
    // busy mount's batch is large; on Postgres it saves a commit and a connection per write, on the embedded store
    // (one session) the wait in line for that session. docs/performance.md, "Group commit on Postgres".
    groupCommit: true,
  });
  storageRef = storage;
  const launcher = new PluginLauncher(ctx);
  const pool = new PluginPool({
    launch: (entry) => launcher.launch(entry, storage),
    log: ctx.log,
    sealed: () => !ctx.barrier.ready,
    callTimeoutMs: ctx.tunables.pluginCallTimeoutMs,
    idleMs: ctx.tunables.pluginIdleMs,
    events: metrics,
  });
  poolRef = pool;
  // The keyring is gone: no process may keep serving (or caching) what it read while unsealed.
  ctx.barrier.onSeal(() => pool.stopAll('sealed'));
  // Not ready while the unseal hooks replay the mount table and catalog: a call then would find no plugin for its mount.
  const calls = new MountCalls({ directory, pool, storage, sealed: () => !ctx.barrier.ready, log: ctx.log });

  // Protocol 3's scheduled calls: every runner ticks, one per mount and interval makes the call (periodic.ts).
  const periodic = new PeriodicScheduler({
    dataSource: ctx.dataSource,
    mounts: () => directory.all(),
    target: (mount) => {
      const entry = directory.plugin(mount);
      return entry ? { mount: mountInfo(mount), entry } : undefined;
    },
    pool,
    sealed: () => ctx.barrier.sealed,
    log: ctx.log,
    instance: ctx.instance,
    tickMs: ctx.tunables.periodicTickMs,
    callTimeoutMs: ctx.tunables.pluginCallTimeoutMs,
  });

  const projections: RunnerProjections = { mounts, catalog };
  const app = await startMicroservice(
    ctx,
    serviceModule(ctx, {
      controllers: [PluginRunnerController],
      providers: [
        { provide: PluginLauncher, useValue: launcher },
        { provide: MOUNT_CALLS, useValue: calls },
        { provide: RUNNER_PROJECTIONS, useValue: projections },
      ],
    }),
  );
  periodic.start();
  // After the queue group's subscriptions: a gateway that hears this runner's presence finds its subjects there.
  const affinity = serveAffinity(ctx, calls, storage);
  return {
    service: 'plugin-runner',
    sandbox: launcher.sandbox.plan,
    metrics: () => prometheusText(metrics.registry),
    async close() {
      affinity.close();
      mounts.stop();
      catalog.stop();
      await periodic.close();
      await app.close();
      await pool.close();
    },
  };
}
