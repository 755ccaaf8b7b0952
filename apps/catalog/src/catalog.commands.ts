import { Inject, Injectable } from '@nestjs/common';
import { BUS, type Bus } from '#bus';
import {
  CofferError,
  runnerSubjects,
  type CatalogEntryKey,
  type CatalogEntryView,
  type CatalogRegisterRequest,
  type EventActor,
  type EventOf,
  type PluginProbeRequest,
  type PluginProbeResult,
} from '#contracts';
import { checkPluginFile, resolvePluginCommand } from '#plugin-protocol';
import { SERVICE_CONTEXT, type ProjectionHost, type ServiceContext } from '#runtime';
import { catalogKey, type CatalogEntry, type CatalogState } from '#plugin-catalog';
import { validateRegistration } from './registration.js';
import { CATALOG_PROJECTION } from './tokens.js';

const PROBE_TIMEOUT_MS = 20_000;

/**
 * Registration and removal of catalog entries. A command reads the projection at version v, decides, and appends
 * at v; losing a race re-reads and decides again.
 */
@Injectable()
export class CatalogCommands {
  constructor(
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
    @Inject(CATALOG_PROJECTION) private readonly catalog: ProjectionHost<CatalogState>,
    @Inject(BUS) private readonly bus: Bus,
  ) {}

  async register(req: CatalogRegisterRequest): Promise<CatalogEntryView> {
    this.assertUnsealed();
    const valid = validateRegistration(req);
    const pluginDirectory = this.ctx.config.pluginDirectory ?? '';
    // Confinement is checked here too, so a bad path is refused at registration and not only at launch. Vault
    // answers these with a 500; a command outside the directory is the caller's mistake, so Coffer says 400.
    const resolved = await resolvePluginCommand(pluginDirectory, valid.command).catch((err: unknown) => {
      throw pluginDirectory ? asBadRequest(err) : err;
    });
    await checkPluginFile(pluginDirectory, resolved.path, valid.command, {
      uid: this.ctx.config.pluginFileUid,
      mode: this.ctx.config.pluginFilePermissions,
    });

    let type = req.type;
    let version = valid.version;
    const probe: PluginProbeRequest = { name: valid.name, command: valid.command, args: valid.args, env: valid.env, sha256: valid.sha256 };
    try {
      const hello = await this.bus.request<PluginProbeResult>(runnerSubjects.probe, probe, { timeoutMs: PROBE_TIMEOUT_MS });
      if (type && hello.type !== type) {
        throw new CofferError('invalid-request', `plugin "${valid.name}" reports type "${hello.type}", not "${type}"`);
      }
      type = hello.type;
      if (version === '') version = hello.version.startsWith('v') ? hello.version : `v${hello.version}`;
      else if (hello.version && hello.version.replace(/^v?/, 'v') !== version) {
        throw new CofferError(
          'invalid-request',
          `plugin version mismatch: ${valid.name} reported version (${hello.version}) did not match requested version (${version})`,
        );
      }
    } catch (err) {
      // As in Vault: a typed registration survives a failed probe (only logged); the legacy endpoint cannot, since
      // the type is known only from the plugin itself.
      if (!type || (err instanceof CofferError && err.code === 'invalid-request')) throw asBadRequest(err);
      this.ctx.log.warn({ plugin: valid.name, err: (err as Error).message }, 'probe failed; registered without it');
    }

    const entry: CatalogEntry = { type, name: valid.name, version, sha256: valid.sha256, command: valid.command, args: valid.args, env: valid.env };
    await this.append({ type: 'PluginRegistered', data: { v: 1, ...entry } }, req.actor);
    return view(entry);
  }

  read(key: CatalogEntryKey): CatalogEntryView | null {
    this.assertUnsealed();
    const entry = this.find(key);
    return entry ? view(entry) : null;
  }

  async deregister(key: CatalogEntryKey): Promise<null> {
    this.assertUnsealed();
    const entry = this.find(key);
    if (entry) await this.append({ type: 'PluginDeregistered', data: { v: 1, type: entry.type, name: entry.name, version: entry.version } }, key.actor);
    return null;
  }

  /** Typed keys are exact; the legacy untyped endpoint means "the unversioned entry, of whichever type". */
  private find(key: CatalogEntryKey): CatalogEntry | undefined {
    const version = key.version ? (key.version.startsWith('v') ? key.version : `v${key.version}`) : '';
    const types = key.type ? [key.type] : (['secret', 'auth'] as const);
    for (const t of types) {
      const e = this.catalog.state.entries[catalogKey(t, key.name, version)];
      if (e) return e;
    }
    return undefined;
  }

  private assertUnsealed(): void {
    if (this.ctx.barrier.sealed) throw new CofferError('sealed', 'Vault is sealed');
  }

  /** The actor (request id, accessor) goes into the event's clear metadata, as the design says. */
  private async append(event: EventOf<'plugin-catalog'>, actor: EventActor | undefined): Promise<void> {
    await this.catalog.decideAndAppend(this.ctx.events, () => [{ ...event, metadata: { ...actor } }]);
  }

}

/**
 * A plugin that fails its probe (wrong checksum, no handshake, crash) makes the registration request wrong, not the
 * server: 400 with the plugin host's message. A missing runner stays `unavailable`.
 */
function asBadRequest(err: unknown): unknown {
  if (err instanceof CofferError && (err.code === 'plugin-failed' || err.code === 'internal')) {
    return new CofferError('invalid-request', err.message);
  }
  return err;
}

function view(e: CatalogEntry): CatalogEntryView {
  return { type: e.type, name: e.name, version: e.version, sha256: e.sha256, command: e.command, args: e.args, builtin: false };
}
