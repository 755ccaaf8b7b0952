import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { BUS, type Bus } from '#bus';
import {
  CofferError, sealedError,
  runnerSubjects,
  type EventOf,
  type MountEnableRequest,
  type MountRef,
  type MountRemountRequest,
  type MountTuneRequest,
  type PluginProbeRequest,
  type PluginProbeResult,
  type RemountStatus,
} from '#contracts';
import type { EventMetadata, NewEvent } from '#event-store';
import type { Mount } from '#mount-table';
import { selectPlugin, type CatalogEntry, type CatalogState } from '#plugin-catalog';
import { SERVICE_CONTEXT, type ProjectionHost, type ServiceContext } from '#runtime';
import { MIGRATION_ID_KEY, type MountManagerState } from './mount-manager.projection.js';
import { CatalogMissError, decideDisable, decideEnable, decideRemount, decideRequiredMounts, decideTune } from './mount-rules.js';
import { CATALOG, MOUNT_TABLE } from './tokens.js';

type MountEvent = EventOf<'mount-table'>;

interface Decision {
  event: MountEvent;
  metadata?: EventMetadata;
}

/** Appends lost to another writer before the command gives up; each loss means the table really moved meanwhile. */
const MAX_ATTEMPTS = 8;

/** How long a runner may take to start a plugin and read its handshake (the host side's own limit is 10 s). */
const PROBE_TIMEOUT_MS = 20_000;

/**
 * Enable, disable, tune and remount. Each reads the table at version v, decides with the pure rules of
 * mount-rules.ts, and appends at v; losing the race re-reads and decides again, so of two gateways enabling the same
 * path at once one wins and the other is told `path is already in use at ...`.
 */
@Injectable()
export class MountCommands {
  constructor(
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
    @Inject(MOUNT_TABLE) private readonly mounts: ProjectionHost<MountManagerState>,
    @Inject(CATALOG) private readonly catalog: ProjectionHost<CatalogState>,
    @Inject(BUS) private readonly bus: Bus,
  ) {}

  /**
   * A mount is appended only once a plugin-runner has started the plugin it will run and read its handshake: an
   * enable that answered success for a plugin that cannot start would leave a mount that fails at first use.
   */
  async enable(req: MountEnableRequest): Promise<Mount> {
    const opts = { systemMaxLeaseTtl: this.ctx.config.maxLeaseTtl };
    const started = new Map<string, Promise<void>>();
    const event = await this.command(
      (s) => ({
        event: { type: 'MountEnabled', data: decideEnable(s.table, this.catalog.state, req, opts) },
        metadata: { ...req.actor },
      }),
      async (decided) => {
        if (decided.event.type !== 'MountEnabled') return;
        const { table, pluginName, config } = decided.event.data;
        const entry = selectPlugin(this.catalog.state, table, pluginName, config.pluginVersion);
        if (!entry) return; // decideEnable found it a moment ago; the runner resolves it again at first use
        // Each retry after a lost race decides again; the same entry is started once per command.
        const key = `${entry.sha256}/${JSON.stringify([entry.command, entry.args, entry.env])}`;
        if (!started.has(key)) started.set(key, this.startOnce(entry));
        await started.get(key);
      },
    );
    const { v: _v, ...mount } = (event as Extract<MountEvent, { type: 'MountEnabled' }>).data;
    return mount;
  }

  /**
   * Mounts what every server has (`cubbyhole/`) once its plugin is in the catalog: run at unseal, whenever the
   * catalog grows, and on request (the dev server waits for it). Idempotent; of several mount-managers racing, one
   * appends and the others then find the mount there.
   */
  async ensureRequiredMounts(): Promise<null> {
    if (this.ctx.barrier.sealed) return null;
    await this.catalog.catchUp();
    await this.command((s) => {
      const data = decideRequiredMounts(s.table, this.catalog.state);
      return data ? { event: { type: 'MountEnabled', data } } : null;
    });
    return null;
  }

  /** Runners are told after the append, so a runner never cleans up a mount that is still in the table. */
  async disable(ref: MountRef): Promise<null> {
    const event = await this.command((s) => {
      const data = decideDisable(s.table, ref);
      return data ? { event: { type: 'MountDisabled', data }, metadata: { ...ref.actor } } : null;
    });
    if (event?.type === 'MountDisabled') this.bus.publish(runnerSubjects.mountDisabled, { mount: event.data.uuid });
    return null;
  }

  async tune(req: MountTuneRequest): Promise<null> {
    await this.command((s) => {
      const data = decideTune(s.table, this.catalog.state, req);
      return data ? { event: { type: 'MountTuned', data }, metadata: { ...req.actor } } : null;
    });
    return null;
  }

  /** The move is one event and storage is keyed by the mount's uuid, so the migration has succeeded once appended. */
  async remount(req: MountRemountRequest): Promise<{ migrationId: string }> {
    const migrationId = randomUUID();
    await this.command((s) => ({
      event: { type: 'MountMoved', data: decideRemount(s.table, req) },
      metadata: { ...req.actor, [MIGRATION_ID_KEY]: migrationId },
    }));
    return { migrationId };
  }

  /** Null for an unknown id (Vault's read of nothing: a bare 404). */
  async remountStatus(req: { migrationId: string }): Promise<RemountStatus | null> {
    this.assertUnsealed();
    const id = String(req?.migrationId ?? '');
    if (id === '') throw new CofferError('invalid-request', 'migrationID must be specified');
    // The move may have been appended by another instance a moment ago.
    if (!this.mounts.state.migrations[id]) await this.mounts.catchUp();
    return this.mounts.state.migrations[id] ?? null;
  }

  /**
   * Decide on the freshest table and append at the version decided on. A catalog miss is re-checked once after
   * catching the catalog up, since the plugin may have been registered through another catalog instance a moment ago.
   */
  /** Asks a plugin-runner to start the entry's plugin and stop it again; a failure is the enable's answer (400). */
  private async startOnce(entry: CatalogEntry): Promise<void> {
    const probe: PluginProbeRequest = {
      name: entry.name,
      command: entry.command,
      args: entry.args,
      env: entry.env,
      sha256: entry.sha256,
      // A builtin is not in the operator's plugin directory: the runner starts it from the build's own bundles.
      ...(entry.builtin ? { builtin: true } : {}),
    };
    try {
      await this.bus.request<PluginProbeResult>(runnerSubjects.probe, probe, { timeoutMs: PROBE_TIMEOUT_MS });
    } catch (err) {
      if (!(err instanceof CofferError) || err.code === 'unavailable' || err.code === 'sealed') throw err;
      const own = `plugin ${entry.name} `;
      const why = err.message.startsWith(own) ? err.message.slice(own.length) : err.message;
      this.ctx.log.warn({ plugin: entry.name, err: err.message }, 'enable refused: the plugin cannot start');
      throw new CofferError('invalid-request', `plugin ${entry.name} failed to start: ${why.replace(/^could not be started: /, '')}`);
    }
  }

  private async command(
    decide: (state: MountManagerState) => Decision | null,
    check?: (decided: Decision) => Promise<void>,
  ): Promise<MountEvent | null> {
    this.assertUnsealed();
    let catalogCaughtUp = false;
    let decided: Decision | null = null;
    const decideOnce = async (state: MountManagerState): Promise<NewEvent[] | null> => {
      try {
        decided = decide(state);
      } catch (err) {
        if (!(err instanceof CatalogMissError) || catalogCaughtUp) throw err;
        catalogCaughtUp = true;
        await this.catalog.catchUp();
        decided = decide(state);
      }
      if (decided && check) await check(decided);
      return decided && [{ type: decided.event.type, data: decided.event.data, metadata: decided.metadata }];
    };
    const appended = await this.mounts.decideAndAppend(this.ctx.events, decideOnce, MAX_ATTEMPTS);
    return appended && decided ? (decided as Decision).event : null;
  }

  private assertUnsealed(): void {
    if (this.ctx.barrier.sealed) throw sealedError();
  }
}
