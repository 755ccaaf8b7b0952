import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { BUS, type Bus, type Subscription } from '#bus';
import { CofferError, runnerSubjects, type PluginReloadReport, type PluginReloadRequest } from '#contracts';
import { findMount, type MountTableState } from '#mount-table';
import type { ProjectionHost } from '#runtime';
import { MOUNT_TABLE } from './mount-table.provider.js';
import type { VaultRequest, VaultResponse } from '../vault-http.js';

/** How many reloads, and for how long, a gateway remembers for `sys/plugins/reload/backend/status`. */
const KEEP_RELOADS = 100;
const KEEP_MS = 60 * 60_000;

interface ReloadRecord {
  startedAt: number;
  /** The latest report of each runner that answered. */
  runners: Map<string, PluginReloadReport>;
}

/**
 * `sys/plugins/reload/backend`: every runner restarts the processes of a plugin or of some mounts, letting their
 * in-flight calls finish. The request is a broadcast, so it reaches every runner whatever the scope; `global` only
 * changes the status code, as in Vault (202).
 *
 * `sys/plugins/reload/backend/status?reload_id=`: each runner reports `started`, then `completed` or `failed`, on a
 * broadcast that every gateway hears (as it hears every reload request), so whichever gateway is asked can answer.
 * Nobody knows how many runners there are: a reload is done when some runner reported and none is still working.
 */
@Injectable()
export class ReloadHandlers implements OnModuleDestroy {
  private readonly reloads = new Map<string, ReloadRecord>();
  private readonly subscriptions: Subscription[];

  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(MOUNT_TABLE) private readonly mounts: ProjectionHost<MountTableState>,
  ) {
    this.subscriptions = [
      bus.subscribe(runnerSubjects.reload, (data) => {
        const id = (data as PluginReloadRequest | null)?.reloadId;
        if (typeof id === 'string' && id) this.record(id);
      }),
      bus.subscribe(runnerSubjects.reloaded, (data) => this.onReport(data as PluginReloadReport | null)),
    ];
  }

  onModuleDestroy(): void {
    for (const s of this.subscriptions) s.unsubscribe();
  }

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
    request.reloadId = req.id;
    this.record(req.id);
    this.bus.publish(runnerSubjects.reload, request);
    return { kind: 'envelope', status: scope === 'global' ? 202 : 200, data: { reload_id: req.id } };
  }

  /**
   * Vault's shape (`results`: per participant, `timestamp`, `success`, `message`) for the runners that finished;
   * `in_progress` (Coffer's) names those that started and have not finished yet.
   */
  status(req: VaultRequest): VaultResponse {
    const id = req.query.get('reload_id')?.trim() || (typeof req.data.reload_id === 'string' ? req.data.reload_id.trim() : '');
    if (!id) throw new CofferError('invalid-request', 'no reload_id provided');
    const record = this.reloads.get(id);
    // As an unknown migration id: nothing, a bare 404.
    if (!record) throw new CofferError('not-found', '');
    const results: Record<string, { timestamp: string; success: boolean; message: string }> = {};
    const inProgress: string[] = [];
    for (const [runner, r] of [...record.runners].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (r.status === 'started') inProgress.push(runner);
      else results[runner] = { timestamp: r.at, success: r.status === 'completed', message: r.message };
    }
    return { kind: 'envelope', data: { reload_id: id, results, in_progress: inProgress } };
  }

  private record(id: string): ReloadRecord {
    let record = this.reloads.get(id);
    if (!record) {
      record = { startedAt: Date.now(), runners: new Map() };
      this.reloads.set(id, record);
      this.prune();
    }
    return record;
  }

  private onReport(r: PluginReloadReport | null): void {
    if (!r || typeof r.reloadId !== 'string' || !r.reloadId || typeof r.runner !== 'string' || !r.runner) return;
    if (r.status !== 'started' && r.status !== 'completed' && r.status !== 'failed') return;
    const record = this.record(r.reloadId);
    // A late `started` never hides the end it preceded (broadcasts may arrive out of order).
    if (r.status === 'started' && record.runners.has(r.runner)) return;
    record.runners.set(r.runner, {
      reloadId: r.reloadId,
      runner: r.runner,
      status: r.status,
      at: typeof r.at === 'string' ? r.at : new Date().toISOString(),
      message: typeof r.message === 'string' ? r.message : '',
    });
  }

  private prune(): void {
    const cutoff = Date.now() - KEEP_MS;
    for (const [id, record] of this.reloads) {
      if (this.reloads.size <= KEEP_RELOADS && record.startedAt >= cutoff) break;
      this.reloads.delete(id);
    }
  }

  private uuidOf(path: string): string {
    const state = this.mounts.state;
    const auth = path.startsWith('auth/');
    const mount = findMount(auth ? state.auth : state.secret, auth ? path.slice(5) : path);
    if (!mount) throw new CofferError('invalid-request', `no mount at ${path}`);
    return mount.uuid;
  }
}
