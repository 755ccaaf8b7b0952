import {
  CofferError,
  sealedError,
  isOperation,
  type AuthRenewAnswer,
  type AuthRenewCall,
  type LeaseCall,
  type MountCall,
  type MountResponse,
  type MountWrite,
  type MountWriteReply,
  type PluginReloadRequest,
  type StorageScopesDelete,
} from '#contracts';
import type { Mount } from '#mount-table';
import {
  CHOOSE_PROTOCOL,
  RenewAuthNotImplemented,
  type AuthRenewInfo,
  type MountInfo,
  type PluginLog,
  type PluginRequest,
  type PluginResponse,
  type WriteOperation,
} from '#plugin-protocol';
import { multiErrorText } from '#vault-rules';
import type { RunnerDirectory } from './directory.js';
import type { PluginPool, PoolTarget } from './plugin-pool.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface MountCallsOptions {
  directory: RunnerDirectory;
  pool: PluginPool;
  storage: { deleteMountStorage(mountUuid: string): Promise<number>; deletePrefixes(mountUuid: string, prefixes: readonly string[]): Promise<number> };
  sealed: () => boolean;
  log: PluginLog;
}

/** What a plugin is told about a mount; auth mounts by their full path, as Vault's mount point reads. */
export function mountInfo(mount: Mount): MountInfo {
  return {
    id: mount.uuid,
    path: mount.table === 'auth' ? `auth/${mount.path}` : mount.path,
    accessor: mount.accessor,
    type: mount.type,
    config: { defaultLeaseTtl: mount.config.defaultLeaseTtl, maxLeaseTtl: mount.config.maxLeaseTtl },
    options: mount.options ?? {},
  };
}

/**
 * The runner's bus surface without the bus: resolves a mount uuid to its mount and catalog entry through the
 * runner's projections and hands the call to the pool.
 */
export class MountCalls {
  constructor(private readonly options: MountCallsOptions) {}

  async handle(call: MountCall): Promise<MountResponse | null> {
    const target = await this.target(call?.mount);
    const result = await this.options.pool.call(target, 'handle', { mount: target.mount.id, request: pluginRequest(call.request) });
    return result.response ?? null;
  }

  /**
   * A write whose operation the plugin's existence check picks, with the gateway's verdict for each (one trip from
   * the gateway). Protocol 4: one call, `handle` with `choose`; older plugins: `exists`, then `handle` as the
   * operation it picked, on the same process. Either way an operation the verdict refuses is Vault's 403 and the
   * plugin's handler never runs it.
   */
  async write(call: MountWrite): Promise<MountWriteReply> {
    const allowed = allowedOperations(call?.allowed);
    if (allowed.length === 0) throw permissionDenied();
    const target = await this.target(call?.mount);
    const request = pluginRequest(call.request);
    if (request.operation !== 'update') throw new CofferError('invalid-request', `a write is an update, not ${request.operation}`);
    const mount = target.mount.id;
    return this.options.pool.onProcess(target, async (send, protocol) => {
      if (protocol >= CHOOSE_PROTOCOL) {
        const r = await send('handle', { mount, request, choose: allowed });
        // The host side checked that the answer agrees with `choose` (libs/plugin-protocol); a refusal is Vault's.
        if (r.denied) throw permissionDenied();
        return { operation: r.operation!, response: r.response ?? null };
      }
      const found = await send('exists', { mount, request });
      const operation: WriteOperation = found.checkFound && !found.exists ? 'create' : 'update';
      if (!allowed.includes(operation)) throw permissionDenied();
      const r = await send('handle', { mount, request: { ...request, operation } });
      return { operation, response: r.response ?? null };
    });
  }

  async exists(call: MountCall): Promise<{ checkFound: boolean; exists: boolean }> {
    const target = await this.target(call?.mount);
    const { checkFound, exists } = await this.options.pool.call(target, 'exists', { mount: target.mount.id, request: pluginRequest(call.request) });
    return { checkFound, exists };
  }

  /** Protocol 3: the plugin renews a lease it issued; it may refuse (its error goes back to the client). */
  async renew(call: LeaseCall): Promise<{ ttl?: number; internal?: Record<string, unknown>; warnings?: string[] }> {
    const target = await this.target(call?.mount);
    const increment = Number.isInteger(call.increment) && call.increment! > 0 ? call.increment! : 0;
    return this.options.pool.call(target, 'renew', { mount: target.mount.id, lease: leaseInfo(call), increment });
  }

  /** Protocol 3: the plugin revokes a lease it issued; a failure makes the lease owner retry later. */
  async revoke(call: LeaseCall): Promise<Record<string, never>> {
    const target = await this.target(call?.mount);
    await this.options.pool.call(target, 'revoke', { mount: target.mount.id, lease: leaseInfo(call) });
    return {};
  }

  /**
   * Protocol 3: the auth plugin judges the renewal of a token its login issued. Its refusal is thrown (the gateway
   * answers it to the client); a plugin without renewAuth is `implemented: false`, and the token renews as before.
   */
  async renewAuth(call: AuthRenewCall): Promise<AuthRenewAnswer> {
    const target = await this.target(call?.mount);
    const increment = Number.isInteger(call.increment) && call.increment! > 0 ? call.increment! : 0;
    try {
      const { ttl, maxTtl, warnings } = await this.options.pool.call(target, 'renewAuth', { mount: target.mount.id, auth: authRenewInfo(call), increment });
      return { implemented: true, ...(ttl ? { ttl } : {}), ...(maxTtl ? { maxTtl } : {}), ...(warnings?.length ? { warnings } : {}) };
    } catch (err) {
      if (err instanceof RenewAuthNotImplemented) return { implemented: false };
      throw err;
    }
  }

  /** The plugin's help text for a path of the mount (Vault's `?help=1`); a plugin without help fails with 404. */
  async help(request: { mount: string; path: string }): Promise<{ help: string }> {
    const target = await this.target(request?.mount);
    const path = typeof request.path === 'string' ? request.path.replace(/^\/+/, '') : '';
    const { help } = await this.options.pool.call(target, 'help', { mount: target.mount.id, path });
    return { help };
  }

  async specialPaths(request: { mount: string }): Promise<{ unauthenticated: string[]; caseInsensitive?: string[] }> {
    const target = await this.target(request?.mount);
    const { unauthenticated, caseInsensitive } = await this.options.pool.pathRules(target);
    return caseInsensitive.length ? { unauthenticated, caseInsensitive } : { unauthenticated };
  }

  /**
   * Every runner hears this: each cleans up the processes it has for the mount, and each deletes the mount's
   * storage (the delete is idempotent, so the repeats cost a query each and no harm).
   */
  async mountDisabled(message: { mount: string }): Promise<void> {
    const uuid = message?.mount;
    if (typeof uuid !== 'string' || !UUID.test(uuid)) {
      this.options.log.warn({ mount: String(uuid).slice(0, 64) }, 'ignored a mount-disabled broadcast without a mount uuid');
      return;
    }
    const cleaned = await this.options.pool.cleanup(uuid);
    const deleted = await this.options.storage.deleteMountStorage(uuid);
    this.options.log.info({ mount: uuid, processes: cleaned, keys: deleted }, 'disabled mount cleaned up');
  }

  /** Deletes whole scopes of a mount's storage (revoked tokens' cubbyholes); the mount need not be known here. */
  async deleteScopes(request: StorageScopesDelete): Promise<{ deleted: number }> {
    if (this.options.sealed()) throw sealedError();
    const uuid = request?.mount;
    if (typeof uuid !== 'string' || !UUID.test(uuid)) throw new CofferError('invalid-request', 'missing mount');
    const prefixes = Array.isArray(request.prefixes) ? request.prefixes.filter((p): p is string => typeof p === 'string') : [];
    return { deleted: await this.options.storage.deletePrefixes(uuid, prefixes) };
  }

  async reload(request: PluginReloadRequest): Promise<number> {
    const plugin = typeof request?.plugin === 'string' && request.plugin ? request.plugin : undefined;
    const mounts = Array.isArray(request?.mounts) ? request.mounts.filter((m): m is string => typeof m === 'string') : [];
    if (!plugin && mounts.length === 0) return 0;
    const stopped = await this.options.pool.reload({ plugin, mounts });
    this.options.log.info({ plugin, mounts, processes: stopped }, 'plugin processes reloaded');
    return stopped;
  }

  private async target(uuid: unknown): Promise<PoolTarget> {
    if (this.options.sealed()) throw sealedError();
    if (typeof uuid !== 'string' || uuid === '') throw new CofferError('invalid-request', 'missing mount');
    const { directory } = this.options;
    let caughtUp = false;
    // The gateway routed with its own projection, which may be ahead of this runner's: catch up once and look again.
    let mount = directory.mount(uuid);
    if (!mount) {
      await directory.catchUp();
      caughtUp = true;
      mount = directory.mount(uuid);
    }
    if (!mount) throw new CofferError('unsupported-path', `no handler for route: no mount with id ${uuid}`);
    let entry = directory.plugin(mount);
    if (!entry && !caughtUp) {
      await directory.catchUp();
      entry = directory.plugin(mount);
    }
    if (!entry) throw new CofferError('invalid-request', `plugin not found in the catalog: ${mount.pluginName}`);
    return { mount: mountInfo(mount), entry };
  }
}

/** The operations a write's verdict allows, in the protocol's words; anything but `true` is a refusal. */
function allowedOperations(allowed: MountWrite['allowed'] | undefined): WriteOperation[] {
  if (!allowed || typeof allowed !== 'object') return [];
  return (['create', 'update'] as const).filter((op) => allowed[op] === true);
}

/** The gateway's ACL refusal, word for word (Vault's multierror text): the client cannot tell where it was decided. */
function permissionDenied(): CofferError {
  return new CofferError('permission-denied', multiErrorText(['permission denied']));
}

/** Only the fields the protocol defines, checked: the plugin's schema refuses anything else. */
function leaseInfo(call: LeaseCall | undefined): LeaseCall['lease'] {
  const lease = call?.lease;
  if (!lease || typeof lease !== 'object' || typeof lease.id !== 'string' || typeof lease.type !== 'string') {
    throw new CofferError('invalid-request', 'missing lease');
  }
  return {
    id: lease.id,
    type: lease.type,
    internal: lease.internal && typeof lease.internal === 'object' && !Array.isArray(lease.internal) ? lease.internal : {},
    issueTime: typeof lease.issueTime === 'string' ? lease.issueTime : '',
    ttl: Number.isInteger(lease.ttl) && lease.ttl >= 0 ? lease.ttl : 0,
  };
}

/** Only the fields the protocol defines, checked: the plugin's schema refuses anything else. */
function authRenewInfo(call: AuthRenewCall | undefined): AuthRenewInfo {
  const auth = call?.auth;
  if (!auth || typeof auth !== 'object' || typeof auth.path !== 'string') throw new CofferError('invalid-request', 'missing auth');
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string') : []);
  const object = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
  return {
    path: auth.path.replace(/^\/+/, ''),
    policies: strings(auth.policies),
    metadata: Object.fromEntries(Object.entries(object(auth.metadata)).filter(([, v]) => typeof v === 'string')) as Record<string, string>,
    internal: object(auth.internal) as Record<string, unknown>,
    displayName: typeof auth.displayName === 'string' ? auth.displayName : '',
    issueTime: typeof auth.issueTime === 'string' ? auth.issueTime : '',
    ttl: Number.isInteger(auth.ttl) && auth.ttl >= 0 ? auth.ttl : 0,
  };
}

/** Only the fields the protocol defines: a bus message may carry more, and the plugin's schema refuses extras. */
function pluginRequest(request: MountCall['request'] | undefined): PluginRequest {
  if (!request || typeof request !== 'object') throw new CofferError('invalid-request', 'missing request');
  if (!isOperation(request.operation)) throw new CofferError('invalid-request', `unsupported operation ${JSON.stringify(request.operation)}`);
  return {
    operation: request.operation,
    path: typeof request.path === 'string' ? request.path : '',
    data: request.data && typeof request.data === 'object' && !Array.isArray(request.data) ? request.data : {},
    tokenAccessor: typeof request.tokenAccessor === 'string' ? request.tokenAccessor : '',
    requestId: typeof request.requestId === 'string' ? request.requestId : '',
    ...(typeof request.remoteAddress === 'string' && request.remoteAddress !== '' ? { remoteAddress: request.remoteAddress.slice(0, 128) } : {}),
  };
}
