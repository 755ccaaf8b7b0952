import { subjects } from '#contracts';
import { catalogProjection } from '#plugin-catalog';
import { ProjectionHost, serviceModule, startMicroservice, type ServiceContext, type RunningService } from '#runtime';
import { MountCommands } from './mount.commands.js';
import { mountManagerProjection } from './mount-manager.projection.js';
import { MountManagerController } from './mount-manager.controller.js';
import { CATALOG, MOUNT_TABLE } from './tokens.js';

/**
 * Starts one mount-manager instance: replays the mount-table and plugin-catalog streams, then answers on the bus.
 * It keeps its own catalog projection (read-only: the catalog service alone writes that stream) so resolving a
 * mount's plugin costs no round trip.
 */
export async function startMountManager(ctx: ServiceContext): Promise<RunningService> {
  const mounts = ProjectionHost.of(ctx, mountManagerProjection);
  const catalog = ProjectionHost.of(ctx, catalogProjection);
  await Promise.all([mounts.start(), catalog.start()]);
  const app = await startMicroservice(
    ctx,
    serviceModule(ctx, {
      controllers: [MountManagerController],
      providers: [{ provide: MOUNT_TABLE, useValue: mounts }, { provide: CATALOG, useValue: catalog }, MountCommands],
    }),
  );
  // Vault mounts its required mounts itself; here that is `cubbyhole/`, once the catalog has its plugin.
  const commands = app.get(MountCommands);
  const ensure = () =>
    void commands.ensureRequiredMounts().catch((err: unknown) => ctx.log.warn({ err: (err as Error)?.message }, 'mounting cubbyhole/ failed'));
  ctx.barrier.onUnseal(ensure);
  const catalogGrew = ctx.bus.subscribe(subjects.streamAppended('plugin-catalog'), ensure);
  ensure();
  return {
    service: 'mount-manager',
    async close() {
      catalogGrew.unsubscribe();
      mounts.stop();
      catalog.stop();
      await app.close();
    },
  };
}
