import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Inject, Injectable } from '@nestjs/common';
import { BUS, type Bus } from '#bus';
import {
  CofferError, sealedError,
  runnerSubjects,
  type CatalogEntryKey,
  type CatalogEntryView,
  type CatalogRegisterRequest,
  type EventActor,
  type EventOf,
  type PluginProbeRequest,
  type PluginProbeResult,
} from '#contracts';
import { CHECKSUM_MISMATCH, checkPluginFile, envNames, resolvePluginCommand } from '#plugin-protocol';
import { SERVICE_CONTEXT, type ProjectionHost, type ServiceContext } from '#runtime';
import { catalogKey, type CatalogEntry, type CatalogState } from '#plugin-catalog';
import { validateRegistration, type ValidRegistration } from './registration.js';
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
    // Vault checks the hash only at launch; the file is here now, so a wrong SHA-256 is refused now, not at first use.
    if ((await sha256OfFile(resolved.path)) !== valid.sha256) throw new CofferError('invalid-request', CHECKSUM_MISMATCH);
    const hello = await this.probe(valid);
    if (req.type && hello.type !== req.type) {
      throw new CofferError('invalid-request', `plugin "${valid.name}" reports type "${hello.type}", not "${req.type}"`);
    }
    const type = hello.type;
    let version = valid.version;
    if (version === '') version = hello.version.startsWith('v') ? hello.version : `v${hello.version}`;
    else if (hello.version && hello.version.replace(/^v?/, 'v') !== version) {
      throw new CofferError(
        'invalid-request',
        `plugin version mismatch: ${valid.name} reported version (${hello.version}) did not match requested version (${version})`,
      );
    }
    const entry: CatalogEntry = { type, name: valid.name, version, sha256: valid.sha256, command: valid.command, args: valid.args, env: valid.env };
    await this.append({ type: 'PluginRegistered', data: { v: 1, ...entry } }, req.actor);
    return view(entry);
  }

  /**
   * Starts the plugin once on a runner and reads its handshake. Unlike Vault, a failed probe fails the registration
   * whatever its type: an entry that cannot start would only fail later, at enable or at first use, further from
   * the mistake. The plugin host's reason is the answer (400); no runner to ask stays 503.
   */
  private async probe(valid: ValidRegistration): Promise<PluginProbeResult> {
    const probe: PluginProbeRequest = { name: valid.name, command: valid.command, args: valid.args, env: valid.env, sha256: valid.sha256 };
    try {
      return await this.bus.request<PluginProbeResult>(runnerSubjects.probe, probe, { timeoutMs: PROBE_TIMEOUT_MS });
    } catch (err) {
      this.ctx.log.warn({ plugin: valid.name, err: (err as Error).message }, 'probe failed; not registered');
      throw asBadRequest(err);
    }
  }

  /**
   * A registered entry, else (for a typed read) the builtin of that name when the version fits. A miss is null,
   * except that an unversioned read of a plugin registered only under versions (a plugin that reports its own
   * version is catalogued under it) is a not-found whose message is the warning naming them: the gateway answers it
   * as a 404 carrying that warning.
   */
  read(key: CatalogEntryKey): CatalogEntryView | null {
    this.assertUnsealed();
    const entry = this.find(key) ?? this.findBuiltin(key);
    if (entry) return view(entry);
    const warning = versionsWarning(Object.values(this.catalog.state.entries), key);
    if (warning) throw new CofferError('not-found', warning);
    return null;
  }

  private findBuiltin(key: CatalogEntryKey): CatalogEntry | undefined {
    if (!key.type) return undefined;
    const builtin = this.catalog.state.builtins?.[`${key.type}/${key.name}`];
    const version = key.version ? (key.version.startsWith('v') ? key.version : `v${key.version}`) : '';
    return builtin && (version === '' || version === builtin.version) ? builtin : undefined;
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
    if (this.ctx.barrier.sealed) throw sealedError();
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

/** The warning for an unversioned read whose plugin exists only under versions, or undefined. Pure. */
export function versionsWarning(entries: readonly CatalogEntry[], key: CatalogEntryKey): string | undefined {
  if (key.version || !key.type) return undefined;
  const versions = entries
    .filter((e) => e.type === key.type && e.name === key.name && e.version !== '')
    .map((e) => e.version)
    .sort();
  if (!versions.length) return undefined;
  return (
    `Plugin "${key.name}" (${key.type}) has no unversioned catalog entry; it is registered with version ${versions.join(', ')}. ` +
    `Read one with ?version=${versions[0]} (coffer plugin info -version=${versions[0]} ${key.type} ${key.name})`
  );
}

function view(e: CatalogEntry): CatalogEntryView {
  // Vault shows a builtin with no command: it is part of the server, not a file an operator installed.
  if (e.builtin) return { type: e.type, name: e.name, version: e.version, sha256: e.sha256, command: '', args: [], env_names: [], builtin: true };
  return { type: e.type, name: e.name, version: e.version, sha256: e.sha256, command: e.command, args: e.args, env_names: envNames(e.env), builtin: false };
}

async function sha256OfFile(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}
