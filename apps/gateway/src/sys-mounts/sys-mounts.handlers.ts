import { sanitizeMountPath } from '#vault-rules';
import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { BUS, type Bus } from '#bus';
import {
  COFFER_VERSION,
  CofferError,
  catalogSubjects,
  mountSubjects,
  type CatalogListing,
  type MountEnableRequest,
  type MountRef,
  type MountRemountRequest,
  type MountTable,
  type MountTuneRequest,
  type RemountStatus,
} from '#contracts';
import { findMount, type Mount, type MountTableState } from '#mount-table';
import { catalogKey } from '#plugin-catalog';
import { SERVICE_CONTEXT, type ProjectionHost, type ServiceContext } from '#runtime';
import { MOUNT_TABLE } from '../mounts/mount-table.provider.js';
import { parseDurationSeconds } from '../tokens/ttl.js';
import { parseBool, type VaultRequest, type VaultResponse } from '../vault-http.js';
import { actorOf } from '../audit/actor.js';


/** running_sha256 is a nicety of the listing: a slow or absent catalog must not hold a mount listing up for long. */
const CATALOG_TIMEOUT_MS = 2_000;

/**
 * The token store is the gateway's own, not a mount in the table, yet Vault always lists it under `sys/auth`. Its
 * identifiers are derived from a constant so that every gateway, before and after restarts, shows the same ones.
 */
const TOKEN_DIGEST = createHash('sha256').update('coffer:auth/token/').digest('hex');
const TOKEN_ACCESSOR = `auth_token_${TOKEN_DIGEST.slice(0, 8)}`;
const TOKEN_UUID = [
  TOKEN_DIGEST.slice(8, 16),
  TOKEN_DIGEST.slice(16, 20),
  `4${TOKEN_DIGEST.slice(21, 24)}`,
  `8${TOKEN_DIGEST.slice(25, 28)}`,
  TOKEN_DIGEST.slice(28, 40),
].join('-');

/**
 * sys/mounts, sys/auth and sys/remount. Reads come from the gateway's own projection of the mount table, caught up
 * first so a change made through another gateway a moment ago shows; writes go to the mount-manager, which owns
 * the stream. Every answer repeats its data at the top level, as Vault's injector does for these paths.
 */
@Injectable()
export class SysMountsHandlers {
  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(MOUNT_TABLE) private readonly mounts: ProjectionHost<MountTableState>,
    @Inject(SERVICE_CONTEXT) private readonly ctx: Pick<ServiceContext, 'config'>,
  ) {}

  // ---- sys/mounts ----

  async listMounts(): Promise<VaultResponse> {
    const state = await this.fresh();
    const shas = await this.catalogShas();
    const data: Record<string, unknown> = {};
    for (const path of [...Object.keys(state.secret), 'sys/'].sort()) data[path] = path === 'sys/' ? systemMountInfo() : mountInfo(state.secret[path], shas);
    return envelope(data);
  }

  /** Longest-prefix, as Vault's MatchingMountEntry; an `auth/` path finds the auth mount, as on Vault's router. */
  async readMount(_req: VaultRequest, rawPath: string): Promise<VaultResponse> {
    const path = sanitizeMountPath(rawPath);
    const state = await this.fresh();
    const [table, inner] = splitAuth(path);
    const mount = findMount(state[table], inner);
    if (!mount) throw new CofferError('invalid-request', `No secret engine mount at ${path}`);
    return envelope(mountInfo(mount, await this.catalogShas()));
  }

  enableMount(req: VaultRequest, path: string): Promise<VaultResponse> {
    return this.enable(req, 'secret', path);
  }

  disableMount(req: VaultRequest, path: string): Promise<VaultResponse> {
    return this.disable(req, 'secret', path);
  }

  readMountTune(_req: VaultRequest, path: string): Promise<VaultResponse> {
    const [table, inner] = splitAuth(sanitizeMountPath(path));
    return this.readTune(table, inner);
  }

  tuneMount(req: VaultRequest, path: string): Promise<VaultResponse> {
    const [table, inner] = splitAuth(sanitizeMountPath(path));
    return this.tune(req, table, inner);
  }

  // ---- sys/auth ----

  async listAuth(): Promise<VaultResponse> {
    const state = await this.fresh();
    const shas = await this.catalogShas();
    const data: Record<string, unknown> = {};
    for (const path of [...Object.keys(state.auth), 'token/'].sort()) {
      data[path] = path === 'token/' ? tokenMountInfo() : mountInfo(state.auth[path], shas);
    }
    return envelope(data);
  }

  /** Exact, unlike sys/mounts/:path (Vault's handleReadAuth compares paths). */
  async readAuth(_req: VaultRequest, rawPath: string): Promise<VaultResponse> {
    const path = sanitizeMountPath(rawPath);
    if (path === 'token/') return envelope(tokenMountInfo());
    const mount = (await this.fresh()).auth[path];
    if (!mount) throw new CofferError('invalid-request', `No auth engine at ${path}`);
    return envelope(mountInfo(mount, await this.catalogShas()));
  }

  enableAuth(req: VaultRequest, path: string): Promise<VaultResponse> {
    return this.enable(req, 'auth', path);
  }

  disableAuth(req: VaultRequest, path: string): Promise<VaultResponse> {
    return this.disable(req, 'auth', path);
  }

  readAuthTune(_req: VaultRequest, path: string): Promise<VaultResponse> {
    return this.readTune('auth', sanitizeMountPath(path));
  }

  tuneAuth(req: VaultRequest, path: string): Promise<VaultResponse> {
    return this.tune(req, 'auth', sanitizeMountPath(path));
  }

  // ---- sys/remount ----

  /**
   * `from` names the table: an `auth/` source moves within the auth table (both paths lose the prefix on the bus),
   * anything else within the secrets table, where the mount-manager refuses an `auth/` target as a reserved path.
   */
  async remount(req: VaultRequest): Promise<VaultResponse> {
    const { from, to } = req.data;
    let request: MountRemountRequest = { table: 'secret', from: from as string, to: to as string };
    if (typeof from === 'string' && typeof to === 'string' && from !== '' && to !== '' && from.trim() === from && to.trim() === to) {
      const source = sanitizeMountPath(from);
      const target = sanitizeMountPath(to);
      if (source.startsWith('auth/')) {
        if (!target.startsWith('auth/')) throw new CofferError('invalid-request', `cannot remount auth mount to non-auth mount "${target}"`);
        request = { table: 'auth', from: source.slice('auth/'.length), to: target.slice('auth/'.length) };
      }
    }
    const { migrationId } = await this.bus.request<{ migrationId: string }>(mountSubjects.remount, { ...request, actor: actorOf(req) });
    await this.mounts.catchUp();
    return envelope({ migration_id: migrationId }, [
      "Mount move has been queued. Progress will be reported in Vault's server log, tagged with the returned migration_id",
    ]);
  }

  async remountStatus(_req: VaultRequest, migrationId: string): Promise<VaultResponse> {
    const status = await this.bus.request<RemountStatus | null>(mountSubjects.remountStatus, { migrationId });
    // Vault reads an unknown id as nothing: a bare 404.
    if (!status) throw new CofferError('not-found', '');
    return envelope({
      migration_id: status.migrationId,
      migration_info: { source_mount: status.sourceMount, target_mount: status.targetMount, status: status.status },
    });
  }

  // ---- shared ----

  private async enable(req: VaultRequest, table: MountTable, path: string): Promise<VaultResponse> {
    const d = req.data;
    const what = table === 'auth' ? 'auth' : 'mount';
    const config = objectField(d.config, `unable to convert given ${what} config information`) ?? {};
    const defaultTtl = enableTtl(config.default_lease_ttl, 'default');
    const maxTtl = enableTtl(config.max_lease_ttl, 'max');
    if (table === 'auth') tokenType(config.token_type);
    const configPluginName = optionalString(config.plugin_name, `unable to convert given ${what} config information`);
    const request: MountEnableRequest = {
      table,
      path,
      type: typeof d.type === 'string' ? d.type : '',
      pluginName: configPluginName || optionalString(d.plugin_name, 'plugin_name must be a string') || undefined,
      description: optionalString(d.description, 'description must be a string') ?? '',
      config: {
        defaultLeaseTtl: defaultTtl,
        maxLeaseTtl: maxTtl,
        forceNoCache: flag(config.force_no_cache, 'force_no_cache'),
        pluginVersion: optionalString(config.plugin_version, `unable to convert given ${what} config information`) || undefined,
      },
      options: stringMap(d.options),
      local: flag(d.local, 'local'),
      sealWrap: flag(d.seal_wrap, 'seal_wrap'),
      actor: actorOf(req),
    };
    // The mount-manager starts the plugin before it answers (a hung one takes the host side's 10 s start limit).
    await this.bus.request(mountSubjects.enable, request, { timeoutMs: 30_000 });
    // The next request to this gateway (often a write under the new mount) must find the mount in its projection.
    await this.mounts.catchUp();
    return { kind: 'empty' };
  }

  private async disable(req: VaultRequest, table: MountTable, path: string): Promise<VaultResponse> {
    await this.bus.request(mountSubjects.disable, { table, path, actor: actorOf(req) } satisfies MountRef);
    await this.mounts.catchUp();
    return { kind: 'empty' };
  }

  /** TTLs as the mount's plugins see them: the mount's own, or the server's where the mount says 0 ("system"). */
  private async readTune(table: MountTable, path: string): Promise<VaultResponse> {
    const shown = table === 'auth' ? `auth/${path}` : path;
    const system = { default: this.ctx.config.defaultLeaseTtl, max: this.ctx.config.maxLeaseTtl };
    if (table === 'auth' && path === 'token/') {
      return envelope({
        default_lease_ttl: system.default,
        description: 'token based credentials',
        force_no_cache: false,
        max_lease_ttl: system.max,
        token_type: 'default-service',
      });
    }
    const mount = findMount((await this.fresh())[table], path);
    if (!mount) throw new CofferError('invalid-request', `cannot fetch sysview for path "${shown}"`);
    const data: Record<string, unknown> = {
      default_lease_ttl: mount.config.defaultLeaseTtl || system.default,
      description: mount.description,
      force_no_cache: mount.config.forceNoCache,
      max_lease_ttl: mount.config.maxLeaseTtl || system.max,
    };
    if (mount.options && Object.keys(mount.options).length > 0) data.options = mount.options;
    if (mount.config.pluginVersion) data.plugin_version = mount.config.pluginVersion;
    if (mount.config.auditNonHmacRequestKeys?.length) data.audit_non_hmac_request_keys = mount.config.auditNonHmacRequestKeys;
    if (mount.config.auditNonHmacResponseKeys?.length) data.audit_non_hmac_response_keys = mount.config.auditNonHmacResponseKeys;
    if (table === 'auth') data.token_type = 'default-service';
    return envelope(data);
  }

  private async tune(req: VaultRequest, table: MountTable, path: string): Promise<VaultResponse> {
    const d = req.data;
    const request: MountTuneRequest = { table, path, actor: actorOf(req) };
    const config: NonNullable<MountTuneRequest['config']> = {};
    const defaultTtl = tuneTtl(d.default_lease_ttl);
    const maxTtl = tuneTtl(d.max_lease_ttl);
    if (defaultTtl !== undefined) config.defaultLeaseTtl = defaultTtl;
    if (maxTtl !== undefined) config.maxLeaseTtl = maxTtl;
    if (d.plugin_version !== undefined && d.plugin_version !== null) {
      config.pluginVersion = optionalString(d.plugin_version, 'plugin_version must be a string') ?? '';
    }
    // Vault's audit tune options: the data keys audit devices log in clear for this mount.
    const auditRequestKeys = keyList(d.audit_non_hmac_request_keys, 'audit_non_hmac_request_keys');
    const auditResponseKeys = keyList(d.audit_non_hmac_response_keys, 'audit_non_hmac_response_keys');
    if (auditRequestKeys) config.auditNonHmacRequestKeys = auditRequestKeys;
    if (auditResponseKeys) config.auditNonHmacResponseKeys = auditResponseKeys;
    if (Object.keys(config).length > 0) request.config = config;
    if (d.description !== undefined && d.description !== null) request.description = optionalString(d.description, 'description must be a string');
    const options = stringMap(d.options);
    if (options) request.options = options;
    if (table === 'auth' && d.token_type !== undefined) tokenType(d.token_type);
    await this.bus.request(mountSubjects.tune, request);
    await this.mounts.catchUp();
    return { kind: 'empty' };
  }

  private async fresh(): Promise<MountTableState> {
    await this.mounts.catchUp();
    return this.mounts.state;
  }

  /** `<type>/<name>/<version>` → sha256, from the catalog service; empty when it cannot answer now. */
  private async catalogShas(): Promise<Map<string, string>> {
    try {
      const { entries } = await this.bus.request<CatalogListing>(catalogSubjects.list, {}, { timeoutMs: CATALOG_TIMEOUT_MS });
      return new Map(entries.map((e) => [catalogKey(e.type, e.name, e.version), e.sha256]));
    } catch {
      return new Map();
    }
  }
}

function envelope(data: Record<string, unknown>, warnings?: string[]): VaultResponse {
  return { kind: 'envelope', data, topLevel: true, ...(warnings ? { warnings } : {}) };
}

/** Vault's mountInfo, keys in the order Go's JSON encoder writes a map. */
function mountInfo(m: Mount, shas: Map<string, string>): Record<string, unknown> {
  const config: Record<string, unknown> = {
    default_lease_ttl: m.config.defaultLeaseTtl,
    force_no_cache: m.config.forceNoCache,
    max_lease_ttl: m.config.maxLeaseTtl,
  };
  if (m.table === 'auth') config.token_type = 'default-service';
  return {
    accessor: m.accessor,
    config,
    deprecation_status: '',
    description: m.description,
    external_entropy_access: false,
    local: m.local,
    options: m.options,
    plugin_version: m.config.pluginVersion,
    running_plugin_version: m.config.pluginVersion,
    running_sha256: shas.get(catalogKey(m.table, m.pluginName, m.config.pluginVersion)) ?? '',
    seal_wrap: m.sealWrap,
    type: m.type,
    uuid: m.uuid,
  };
}

/** The gateway's own sys/ paths, which Vault lists among the secrets engines (type system). */
function systemMountInfo(): Record<string, unknown> {
  return {
    ...tokenMountInfo(),
    accessor: `system_${TOKEN_DIGEST.slice(40, 48)}`,
    config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0 },
    description: 'system endpoints used for control, policy and debugging',
    type: 'system',
    uuid: [TOKEN_DIGEST.slice(48, 56), TOKEN_DIGEST.slice(56, 60), `4${TOKEN_DIGEST.slice(61, 64)}`, `8${TOKEN_DIGEST.slice(1, 4)}`, TOKEN_DIGEST.slice(4, 16)].join('-'),
  };
}

function tokenMountInfo(): Record<string, unknown> {
  return {
    accessor: TOKEN_ACCESSOR,
    config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0, token_type: 'default-service' },
    deprecation_status: '',
    description: 'token based credentials',
    external_entropy_access: false,
    local: false,
    options: null,
    plugin_version: '',
    running_plugin_version: `v${COFFER_VERSION}+builtin.coffer`,
    running_sha256: '',
    seal_wrap: false,
    type: 'token',
    uuid: TOKEN_UUID,
  };
}


function splitAuth(path: string): [MountTable, string] {
  return path.startsWith('auth/') ? ['auth', path.slice('auth/'.length)] : ['secret', path];
}

/** Enable-time TTL: absent, "" and "system" all mean 0 (the server's); the error texts are handleMount's. */
function enableTtl(value: unknown, which: 'default' | 'max'): number {
  if (value === 'system') return 0;
  try {
    return parseDurationSeconds(value) ?? 0;
  } catch (err) {
    const shown = typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value);
    throw new CofferError('invalid-request', `unable to parse ${which} TTL of ${shown}: ${(err as Error).message}`);
  }
}

/** Tune-time TTL: absent or "" keeps the current value (undefined), "system" resets to the server's (0). */
function tuneTtl(value: unknown): number | undefined {
  if (value === 'system') return 0;
  return parseDurationSeconds(value);
}

function tokenType(value: unknown): void {
  if (value === undefined || value === null) return;
  if (!['', 'default-service', 'default-batch', 'service', 'batch'].includes(String(value))) {
    throw new CofferError('invalid-request', "invalid value for 'token_type'");
  }
}

function objectField(value: unknown, message: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new CofferError('invalid-request', message);
  return value as Record<string, unknown>;
}

function optionalString(value: unknown, message: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new CofferError('invalid-request', message);
}

/** Vault's bool fields accept JSON booleans, and strings/numbers the way Go's ParseBool reads them. */
function flag(value: unknown, field: string): boolean {
  if (value === undefined || value === null || value === '') return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') {
    const parsed = parseBool(value);
    if (parsed !== undefined) return parsed;
  }
  throw new CofferError('invalid-request', `${field} must be a boolean`);
}

/** Vault's TypeKVPairs: a map whose values become strings; a null or absent map is null. */
function stringMap(value: unknown): Record<string, string> | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new CofferError('invalid-request', 'options must be a map of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v !== null && typeof v === 'object') throw new CofferError('invalid-request', 'options must be a map of strings');
    out[k] = v === undefined || v === null ? '' : String(v);
  }
  return out;
}

/** A list tune option as Vault takes it: a JSON array of strings or one comma-separated string. */
function keyList(raw: unknown, name: string): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
  if (!items || items.some((k) => typeof k !== 'string')) throw new CofferError('invalid-request', `${name} must be a list of strings`);
  return [...new Set((items as string[]).map((k) => k.trim()).filter((k) => k !== ''))];
}
