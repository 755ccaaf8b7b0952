import { serviceModule, startMicroservice, type ServiceContext, type RunningService } from '#runtime';
import { PluginLauncher } from './launcher.js';
import { PluginRunnerController } from './plugin-runner.controller.js';

/** Starts one plugin-runner worker; it joins the runners' queue group so work spreads across workers. */
export async function startPluginRunner(ctx: ServiceContext): Promise<RunningService> {
  const app = await startMicroservice(ctx, serviceModule(ctx, { controllers: [PluginRunnerController], providers: [PluginLauncher] }));
  return { service: 'plugin-runner', close: () => app.close() };
}
