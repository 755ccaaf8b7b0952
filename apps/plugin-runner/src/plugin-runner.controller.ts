import { Controller, Inject } from '@nestjs/common';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import {
  CofferError,
  runnerSubjects,
  subjects,
  type AuthRenewAnswer,
  type AuthRenewCall,
  type LeaseCall,
  type MountCall,
  type MountResponse,
  type MountWrite,
  type MountWriteReply,
  type PluginProbeRequest,
  type PluginProbeResult,
  type PluginReloadReport,
  type PluginReloadRequest,
  type ServiceStatus,
  type StorageScopesDelete,
} from '#contracts';
import { SERVICE_CONTEXT, serviceStatus, type ProjectionHost, type ServiceContext } from '#runtime';
import type { MountTableState } from '#mount-table';
import type { CatalogState } from '#plugin-catalog';
import { PluginLauncher } from './launcher.js';
import type { MountCalls } from './mount-calls.js';
import { MOUNT_CALLS, RUNNER_PROJECTIONS } from './tokens.js';

export interface RunnerProjections {
  mounts: ProjectionHost<MountTableState>;
  catalog: ProjectionHost<CatalogState>;
}

@Controller()
export class PluginRunnerController {
  constructor(
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
    private readonly launcher: PluginLauncher,
    @Inject(MOUNT_CALLS) private readonly calls: MountCalls,
    @Inject(RUNNER_PROJECTIONS) private readonly projections: RunnerProjections,
  ) {}

  @MessagePattern(runnerSubjects.probe)
  probe(request: PluginProbeRequest): Promise<PluginProbeResult> {
    return this.launcher.probe(request);
  }

  @MessagePattern(runnerSubjects.handle)
  handle(call: MountCall): Promise<MountResponse | null> {
    return this.calls.handle(call);
  }

  @MessagePattern(runnerSubjects.write)
  write(call: MountWrite): Promise<MountWriteReply> {
    return this.calls.write(call);
  }

  @MessagePattern(runnerSubjects.exists)
  exists(call: MountCall): Promise<{ checkFound: boolean; exists: boolean }> {
    return this.calls.exists(call);
  }

  @MessagePattern(runnerSubjects.renew)
  renew(call: LeaseCall): Promise<{ ttl?: number; internal?: Record<string, unknown>; warnings?: string[] }> {
    return this.calls.renew(call);
  }

  @MessagePattern(runnerSubjects.revoke)
  revoke(call: LeaseCall): Promise<Record<string, never>> {
    return this.calls.revoke(call);
  }

  @MessagePattern(runnerSubjects.renewAuth)
  renewAuth(call: AuthRenewCall): Promise<AuthRenewAnswer> {
    return this.calls.renewAuth(call);
  }

  @MessagePattern(runnerSubjects.specialPaths)
  specialPaths(request: { mount: string }): Promise<{ unauthenticated: string[]; caseInsensitive?: string[] }> {
    return this.calls.specialPaths(request);
  }

  /** A broadcast: nobody waits for an answer, so a failure can only be logged. */
  @EventPattern(runnerSubjects.mountDisabled)
  async mountDisabled(message: { mount: string }): Promise<void> {
    try {
      await this.calls.mountDisabled(message);
    } catch (err) {
      this.ctx.log.warn({ mount: message?.mount, err: (err as Error)?.message }, 'cleaning up a disabled mount failed');
    }
  }

  @MessagePattern(runnerSubjects.deleteScopes)
  deleteScopes(request: StorageScopesDelete): Promise<{ deleted: number }> {
    return this.calls.deleteScopes(request);
  }

  @MessagePattern(runnerSubjects.help)
  help(request: { mount: string; path: string }): Promise<{ help: string }> {
    return this.calls.help(request);
  }

  /**
   * A broadcast: every runner reloads what it runs. With a reload id, each runner says when it starts and how it
   * ended on `runnerSubjects.reloaded`, which is how the gateway answers `sys/plugins/reload/backend/status`.
   */
  @EventPattern(runnerSubjects.reload)
  async reload(request: PluginReloadRequest): Promise<void> {
    const reloadId = typeof request?.reloadId === 'string' && request.reloadId ? request.reloadId : undefined;
    const report = (status: PluginReloadReport['status'], message = '') => {
      if (!reloadId) return;
      const r: PluginReloadReport = { reloadId, runner: this.ctx.instance, status, at: new Date().toISOString(), message };
      this.ctx.bus.publish(runnerSubjects.reloaded, r);
    };
    report('started');
    try {
      await this.calls.reload(request);
      report('completed');
    } catch (err) {
      this.ctx.log.warn({ err: (err as Error)?.message }, 'plugin reload failed');
      // Only a CofferError's text is meant for users; anything else stays in this runner's log.
      report('failed', err instanceof CofferError ? err.message : 'reload failed; see the plugin-runner log');
    }
  }

  @MessagePattern(subjects.status('plugin-runner'))
  status(): ServiceStatus {
    const { mounts, catalog } = this.projections;
    return serviceStatus(this.ctx, {
      'mount-table': {
        version: mounts.keeper.version,
        entries: Object.keys(mounts.state.secret).length + Object.keys(mounts.state.auth).length,
      },
      'plugin-catalog': { version: catalog.keeper.version, entries: Object.keys(catalog.state.entries).length },
    });
  }
}
