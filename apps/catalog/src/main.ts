import { ProjectionHost, serviceModule, startMicroservice, type ServiceContext, type RunningService } from '#runtime';
import { CatalogCommands } from './catalog.commands.js';
import { CatalogController } from './catalog.controller.js';
import { catalogProjection } from '#plugin-catalog';
import { CATALOG_PROJECTION } from './tokens.js';

/** Starts one catalog instance: replays the plugin-catalog stream, then answers on the bus. */
export async function startCatalog(ctx: ServiceContext): Promise<RunningService> {
  const catalog = ProjectionHost.of(ctx, catalogProjection);
  await catalog.start();
  const app = await startMicroservice(
    ctx,
    serviceModule(ctx, {
      controllers: [CatalogController],
      providers: [{ provide: CATALOG_PROJECTION, useValue: catalog }, CatalogCommands],
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
