import type { Provider } from '@nestjs/common';
import { subjects } from '#contracts';
import type { MountTableState } from '#mount-table';
import type { ProjectionHost } from '#runtime';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import { MOUNT_TABLE } from '../mounts/mount-table.provider.js';
import { LeaseManager } from './lease-manager.js';

export const LEASE_MANAGER = Symbol('coffer.gateway.lease-manager');

export const leaseManagerProvider: Provider = {
  provide: LEASE_MANAGER,
  inject: [SERVICE_CONTEXT, MOUNT_TABLE],
  useFactory: (ctx: ServiceContext, mounts: ProjectionHost<MountTableState>) => {
    const manager = new LeaseManager(ctx.dataSource, {
      barrier: ctx.barrier.current,
      bus: ctx.bus,
      log: ctx.log,
      // Read at each use: SIGHUP changes the lease TTLs of the live config.
      get defaultLeaseTtl() {
        return ctx.config.defaultLeaseTtl;
      },
      get maxLeaseTtl() {
        return ctx.config.maxLeaseTtl;
      },
      tickMs: ctx.tunables.leaseTickMs,
      maxBackoffMs: ctx.tunables.leaseMaxBackoffMs,
      mountExists: (uuid) => Object.values(mounts.state.secret).some((m) => m.uuid === uuid),
    });
    // A token revoked on any gateway: its leases become due on the next pass, which this starts now.
    ctx.bus.subscribe(subjects.tokensChanged, () => manager.kick());
    return manager;
  },
};
