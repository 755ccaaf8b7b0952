import type { ServiceName } from '#contracts';
import type { RunningService, ServiceContext } from '#runtime';

/**
 * How each service starts. Imported lazily so a process that runs one service never loads the others' code.
 * The gateway starts last: by the time it accepts requests, the services it asks are listening.
 */
export const SERVICE_STARTERS: Record<ServiceName, (ctx: ServiceContext) => Promise<RunningService>> = {
  catalog: async (ctx) => (await import('../../../catalog/src/main.js')).startCatalog(ctx),
  'mount-manager': async (ctx) => (await import('../../../mount-manager/src/main.js')).startMountManager(ctx),
  'plugin-runner': async (ctx) => (await import('../../../plugin-runner/src/main.js')).startPluginRunner(ctx),
  gateway: async (ctx) => (await import('../../../gateway/src/main.js')).startGateway(ctx),
};

export const START_ORDER: ServiceName[] = ['catalog', 'mount-manager', 'plugin-runner', 'gateway'];
