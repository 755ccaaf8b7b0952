import type { Provider } from '@nestjs/common';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import { ROOT_TOKEN_ISSUER, type RootTokenIssuer } from '../seal/seal.service.js';
import { TokenStore } from '../tokens/token-store.js';

export const TOKEN_STORE = Symbol('coffer.gateway.token-store');

export const tokenStoreProviders: Provider[] = [
  {
    provide: TOKEN_STORE,
    inject: [SERVICE_CONTEXT],
    useFactory: (ctx: ServiceContext) =>
      new TokenStore(ctx.dataSource, {
        barrier: ctx.barrier.current,
        defaultLeaseTtl: ctx.config.defaultLeaseTtl,
        maxLeaseTtl: ctx.config.maxLeaseTtl,
      }),
  },
  {
    provide: ROOT_TOKEN_ISSUER,
    inject: [TOKEN_STORE],
    useFactory: (store: TokenStore): RootTokenIssuer => async (barrier, id) => (await store.createRoot({ barrier, id })).token,
  },
];
