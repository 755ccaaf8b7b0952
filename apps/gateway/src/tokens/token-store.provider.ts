import type { Provider } from '@nestjs/common';
import { subjects } from '#contracts';
import type { MountTableState } from '#mount-table';
import { SERVICE_CONTEXT, type ProjectionHost, type ServiceContext } from '#runtime';
import { CUBBYHOLE_CLEANUP, CubbyholeCleanup } from '../cubbyhole/cubbyhole-cleanup.js';
import { MOUNT_TABLE } from '../mounts/mount-table.provider.js';
import { ROOT_TOKEN_ISSUER, type RootTokenIssuer } from '../seal/seal.service.js';
import { authRenewal } from './auth-renewal.js';
import { TokenStore } from './token-store.js';

export const TOKEN_STORE = Symbol('coffer.gateway.token-store');

export const tokenStoreProviders: Provider[] = [
  {
    provide: CUBBYHOLE_CLEANUP,
    inject: [SERVICE_CONTEXT, MOUNT_TABLE],
    useFactory: (ctx: ServiceContext, mounts: ProjectionHost<MountTableState>) => new CubbyholeCleanup(ctx.bus, () => mounts.state, ctx.log),
  },
  {
    provide: TOKEN_STORE,
    inject: [SERVICE_CONTEXT, CUBBYHOLE_CLEANUP],
    useFactory: (ctx: ServiceContext, cubbyholes: CubbyholeCleanup) => {
      const store = new TokenStore(ctx.dataSource, {
        barrier: ctx.barrier.current,
        // Asked at each use: SIGHUP updates ctx.config in place.
        leaseTtls: () => ({ defaultLeaseTtl: ctx.config.defaultLeaseTtl, maxLeaseTtl: ctx.config.maxLeaseTtl }),
        onChange: () => ctx.bus.publish(subjects.tokensChanged, null),
        onRevoked: (accessors) => cubbyholes.revoked(accessors),
        // A login's token renews only if its auth plugin agrees (protocol 3 renewAuth).
        renewAuth: authRenewal(ctx.bus, ctx.tunables),
      });
      // Every gateway caches token entries briefly; a revocation anywhere empties every cache.
      ctx.bus.subscribe(subjects.tokensChanged, () => store.forgetCached());
      return store;
    },
  },
  {
    provide: ROOT_TOKEN_ISSUER,
    inject: [TOKEN_STORE],
    useFactory: (store: TokenStore): RootTokenIssuer => async (barrier, id) => (await store.createRoot({ barrier, id })).token,
  },
];
