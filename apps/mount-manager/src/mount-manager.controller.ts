import { Controller, Inject } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { subjects, type ServiceStatus } from '#contracts';
import { SERVICE_CONTEXT, serviceStatus, type ProjectionHost, type ServiceContext } from '#runtime';
import type { MountTableState } from '#mount-table';
import { MOUNT_TABLE } from './tokens.js';

@Controller()
export class MountManagerController {
  constructor(
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
    @Inject(MOUNT_TABLE) private readonly mounts: ProjectionHost<MountTableState>,
  ) {}

  @MessagePattern(subjects.status('mount-manager'))
  status(): ServiceStatus {
    const state = this.mounts.state;
    return serviceStatus(this.ctx, {
      'mount-table': {
        version: this.mounts.keeper.version,
        entries: Object.keys(state.secret).length + Object.keys(state.auth).length,
      },
    });
  }
}
