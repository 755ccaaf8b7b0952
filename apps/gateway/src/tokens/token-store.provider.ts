import type { Provider } from '@nestjs/common';
import { subjects } from '#contracts';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import { ROOT_TOKEN_ISSUER, type RootTokenIssuer } from '../seal/seal.service.js';
import { TokenStore } from './token-store.js';

export const TOKEN_STORE = Symbol('coffer.gateway.token-store');

export const tokenStoreProviders: Provider[] = [
  {
    provide: TOKEN_STORE,
    inject: [SERVICE_CONTEXT],
    useFactory: (ctx: ServiceContext) => {
      const store = new TokenStore(ctx.dataSource, {
        barrier: ctx.barrier.current,
        defaultLeaseTtl: ctx.config.defaultLeaseTtl,
        maxLeaseTtl: ctx.config.maxLeaseTtl,
        onChange: () => ctx.bus.publish(subjects.tokensChanged, null),
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
