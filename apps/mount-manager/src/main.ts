import { mountTableProjection } from '#mount-table';
import { ProjectionHost, serviceModule, startMicroservice, type ServiceContext, type RunningService } from '#runtime';
import { MountManagerController } from './mount-manager.controller.js';
import { MOUNT_TABLE } from './tokens.js';

/** Starts one mount-manager instance: replays the mount-table stream, then answers on the bus. */
export async function startMountManager(ctx: ServiceContext): Promise<RunningService> {
  const mounts = ProjectionHost.of(ctx, mountTableProjection);
  await mounts.start();
  const app = await startMicroservice(
    ctx,
    serviceModule(ctx, { controllers: [MountManagerController], providers: [{ provide: MOUNT_TABLE, useValue: mounts }] }),
  );
  return {
    service: 'mount-manager',
    async close() {
      mounts.stop();
      await app.close();
    },
  };
}
