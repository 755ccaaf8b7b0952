import { Controller, Inject } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import {
  mountSubjects,
  subjects,
  type MountEnableRequest,
  type MountRef,
  type MountRemountRequest,
  type MountTuneRequest,
  type RemountStatus,
  type ServiceStatus,
} from '#contracts';
import type { Mount } from '#mount-table';
import { SERVICE_CONTEXT, serviceStatus, type ProjectionHost, type ServiceContext } from '#runtime';
import { MountCommands } from './mount.commands.js';
import type { MountManagerState } from './mount-manager.projection.js';
import { MOUNT_TABLE } from './tokens.js';

@Controller()
export class MountManagerController {
  constructor(
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
    @Inject(MOUNT_TABLE) private readonly mounts: ProjectionHost<MountManagerState>,
    private readonly commands: MountCommands,
  ) {}

  @MessagePattern(subjects.status('mount-manager'))
  status(): ServiceStatus {
    const { table } = this.mounts.state;
    return serviceStatus(this.ctx, {
      'mount-table': {
        version: this.mounts.keeper.version,
        entries: Object.keys(table.secret).length + Object.keys(table.auth).length,
      },
    });
  }

  // A null payload is decoded as an empty request, so the rules answer it with Vault's text instead of a TypeError.
  @MessagePattern(mountSubjects.enable)
  enable(request: MountEnableRequest | null): Promise<Mount> {
    return this.commands.enable(request ?? ({} as MountEnableRequest));
  }

  @MessagePattern(mountSubjects.disable)
  disable(ref: MountRef | null): Promise<null> {
    return this.commands.disable(ref ?? ({} as MountRef));
  }

  @MessagePattern(mountSubjects.tune)
  tune(request: MountTuneRequest | null): Promise<null> {
    return this.commands.tune(request ?? ({} as MountTuneRequest));
  }

  @MessagePattern(mountSubjects.ensureRequired)
  ensureRequired(): Promise<null> {
    return this.commands.ensureRequiredMounts();
  }

  @MessagePattern(mountSubjects.remount)
  remount(request: MountRemountRequest | null): Promise<{ migrationId: string }> {
    return this.commands.remount(request ?? ({} as MountRemountRequest));
  }

  @MessagePattern(mountSubjects.remountStatus)
  remountStatus(request: { migrationId: string } | null): Promise<RemountStatus | null> {
    return this.commands.remountStatus(request ?? { migrationId: '' });
  }
}
