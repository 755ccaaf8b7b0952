import { ProjectionKeeper } from '#event-store';
import { ProjectionHost, serviceModule, startMicroservice, type ServiceContext, type RunningService } from '#runtime';
import { CatalogController } from './catalog.controller.js';
import { catalogProjection } from './catalog.projection.js';
import { CATALOG_PROJECTION } from './tokens.js';

/** Starts one catalog instance: replays the plugin-catalog stream, then answers on the bus. */
export async function startCatalog(ctx: ServiceContext): Promise<RunningService> {
  const catalog = new ProjectionHost(
    'plugin-catalog',
    new ProjectionKeeper(ctx.events, catalogProjection),
    ctx.bus,
    ctx.log,
    ctx.catchUpIntervalMs,
    ctx.barrier,
  );
  await catalog.start();
  const app = await startMicroservice(
    ctx,
    serviceModule(ctx, {
      controllers: [CatalogController],
      providers: [{ provide: CATALOG_PROJECTION, useValue: catalog }],
    }),
  );
  return {
    service: 'catalog',
    async close() {
      catalog.stop();
      await app.close();
    },
  };
}
