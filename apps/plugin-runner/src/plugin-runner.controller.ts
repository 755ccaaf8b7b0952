import { Controller, Inject } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { subjects, type ServiceStatus } from '#contracts';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';

@Controller()
export class PluginRunnerController {
  constructor(@Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext) {}

  @MessagePattern(subjects.status('plugin-runner'))
  status(): ServiceStatus {
    return {
      service: 'plugin-runner',
      instance: this.ctx.instance,
      pid: process.pid,
      startedAt: this.ctx.startedAt.toISOString(),
      sealed: this.ctx.barrier.sealed,
      projections: {},
    };
  }
}
