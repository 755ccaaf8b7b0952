import { Inject, Injectable } from '@nestjs/common';
import { BUS, type Bus } from '#bus';
import { CofferError, runnerSubjects, type PluginReloadRequest } from '#contracts';
import { findMount, type MountTableState } from '#mount-table';
import type { ProjectionHost } from '#runtime';
import { MOUNT_TABLE } from '../sys-mounts.handlers.js';
import type { VaultRequest, VaultResponse } from '../vault-http.js';

/**
 * `sys/plugins/reload/backend`: every runner restarts the processes of a plugin or of some mounts, letting their
 * in-flight calls finish. The request is a broadcast, so it reaches every runner whatever the scope; `global` only
 * changes the status code, as in Vault (202).
 */
@Injectable()
export class ReloadHandlers {
  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(MOUNT_TABLE) private readonly mounts: ProjectionHost<MountTableState>,
  ) {}

  reload(req: VaultRequest): VaultResponse {
    const plugin = typeof req.data.plugin === 'string' ? req.data.plugin.trim() : '';
    const rawMounts = req.data.mounts;
    const mountPaths = (Array.isArray(rawMounts) ? rawMounts.map(String) : typeof rawMounts === 'string' ? rawMounts.split(',') : [])
      .map((m) => m.trim())
      .filter(Boolean);
    const scope = req.data.scope ?? '';
    if (plugin && mountPaths.length) throw new CofferError('invalid-request', 'plugin and mounts cannot be set at the same time');
    if (!plugin && !mountPaths.length) throw new CofferError('invalid-request', 'plugin or mounts must be provided');
    if (scope !== '' && scope !== 'global') throw new CofferError('invalid-request', "reload scope must be omitted or 'global'");
    const request: PluginReloadRequest = plugin ? { plugin } : { mounts: mountPaths.map((p) => this.uuidOf(p)) };
    this.bus.publish(runnerSubjects.reload, request);
    return { kind: 'envelope', status: scope === 'global' ? 202 : 200, data: { reload_id: req.id } };
  }

  private uuidOf(path: string): string {
    const state = this.mounts.state;
    const auth = path.startsWith('auth/');
    const mount = findMount(auth ? state.auth : state.secret, auth ? path.slice(5) : path);
    if (!mount) throw new CofferError('invalid-request', `no mount at ${path}`);
    return mount.uuid;
  }
}
