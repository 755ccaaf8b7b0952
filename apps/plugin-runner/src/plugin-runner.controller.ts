import { Controller, Inject } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { subjects, type ServiceStatus } from '#contracts';
import { SERVICE_CONTEXT, serviceStatus, type ServiceContext } from '#runtime';

@Controller()
export class PluginRunnerController {
  constructor(@Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext) {}

  @MessagePattern(subjects.status('plugin-runner'))
  status(): ServiceStatus {
    return serviceStatus(this.ctx);
  }
}
