import { Controller, Inject } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { runnerSubjects, subjects, type PluginProbeRequest, type PluginProbeResult, type ServiceStatus } from '#contracts';
import { PluginLauncher } from './launcher.js';
import { SERVICE_CONTEXT, serviceStatus, type ServiceContext } from '#runtime';

@Controller()
export class PluginRunnerController {
  constructor(
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
    private readonly launcher: PluginLauncher,
  ) {}

  @MessagePattern(runnerSubjects.probe)
  probe(request: PluginProbeRequest): Promise<PluginProbeResult> {
    return this.launcher.probe(request);
  }

  @MessagePattern(subjects.status('plugin-runner'))
  status(): ServiceStatus {
    return serviceStatus(this.ctx);
  }
}
