import type { Provider } from '@nestjs/common';
import { mountTableProjection } from '#mount-table';
import { ProjectionHost, SERVICE_CONTEXT, type ServiceContext } from '#runtime';

/** `ProjectionHost<MountTableState>`: the gateway's projection of the mount table (routing and sys/mounts reads). */
export const MOUNT_TABLE = Symbol('coffer.gateway.mount-table');

export const mountTableProvider: Provider = {
  provide: MOUNT_TABLE,
  inject: [SERVICE_CONTEXT],
  useFactory: (c: ServiceContext) => ProjectionHost.of(c, mountTableProjection),
};
