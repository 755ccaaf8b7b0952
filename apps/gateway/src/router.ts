import { Inject, Injectable } from '@nestjs/common';
import { CofferError } from '#contracts';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import type { AclOperation } from './acl/index.js';
import { AuditBroker, AuditHandlers, type AuditContext } from './audit/index.js'; // AUDIT
import { Authenticator, type Caller } from './auth/authenticator.js';
import { gatewayHelp } from './help.js';
import { MountRouting } from './mounts/mount-routing.js';
import { ReloadHandlers } from './mounts/reload.handlers.js';
import { SysMountsHandlers } from './sys-mounts.handlers.js';
import { TOKEN_STORE } from './auth/token-store.provider.js';
import { PolicyHandlers } from './policies/policies.handlers.js';
import { PolicyService } from './policies/policy.service.js';
import { SealHandlers } from './seal/seal.handlers.js';
import { SysCatalogHandlers } from './sys-catalog.handlers.js';
import * as token from './tokens/token.handlers.js';
import type { TokenStore } from './tokens/token-store.js';
import type { Operation, VaultRequest, VaultResponse } from './vault-http.js';

type Handler = (req: VaultRequest, params: Record<string, string>, caller: Caller | undefined) => Promise<VaultResponse> | VaultResponse;

interface Route {
  pattern: RegExp;
  operations: Partial<Record<Operation, Handler>>;
  /** Answered without a token (Vault's unauthenticated sys paths). */
  unauthenticated?: boolean;
  /** Served while sealed: everything else answers 503 until the cluster is unsealed. */
  whileSealed?: boolean;
  /** One of Vault's non-logical handlers (health, seal status, init...): a wrong verb there is a bare 405. */
  plain?: boolean;
  /** Root-protected (Vault's PathsSpecial.Root): the ACL must grant sudo besides the operation's capability. */
  sudo?: boolean;
  /** Turns an update into a create when the target does not exist yet, as Vault's existence checks do. */
  exists?: (params: Record<string, string>) => boolean;
}

/**
 * The gateway's own paths, as data: a pattern, the operations it serves, and what guards it. Every request goes
 * through the same steps: sealed gate, token, route, ACL, handler. Mounted paths join this table with the mounts
 * issue; until then an authenticated request for anything else is Vault's `no handler for route`.
 */
@Injectable()
export class Router {
  private readonly routes: Route[];

  constructor(
    seal: SealHandlers,
    catalog: SysCatalogHandlers,
    policyHandlers: PolicyHandlers,
    policies: PolicyService,
    private readonly auth: Authenticator,
    private readonly mounts: MountRouting,
    sysMounts: SysMountsHandlers,
    reload: ReloadHandlers,
    @Inject(TOKEN_STORE) tokens: TokenStore,
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
    private readonly audit: AuditBroker, // AUDIT
    auditHandlers: AuditHandlers, // AUDIT
  ) {
    const open = { unauthenticated: true, whileSealed: true, plain: true };
    const policyExists = (p: Record<string, string>) => policies.text(p.name.toLowerCase()) !== undefined;
    const tokenHandler =
      (h: token.TokenHandler): Handler =>
      (req, _p, caller) =>
        h(req, caller!.token, tokens, {
          hasSudo: (c, path) => caller!.acl.check(path, 'update').rootPrivs,
          policyExists: (name) => policies.text(name) !== undefined,
        });

    this.routes = [
      { pattern: /^sys\/health$/, operations: { read: (r) => seal.health(r), head: (r) => seal.health(r) }, ...open },
      { pattern: /^sys\/seal-status$/, operations: { read: () => seal.sealStatus() }, ...open },
      { pattern: /^sys\/init$/, operations: { read: () => seal.readInit(), update: (r) => seal.init(r) }, ...open },
      { pattern: /^sys\/unseal$/, operations: { update: (r) => seal.unseal(r) }, ...open },
      { pattern: /^sys\/seal$/, operations: { update: () => seal.sealNow() }, plain: true, sudo: true },

      { pattern: /^sys\/plugins\/catalog\/?$/, operations: { read: () => catalog.readAll() } },
      {
        pattern: /^sys\/plugins\/catalog\/(?<type>auth|secret|database)\/?$/,
        operations: { list: (r, p) => catalog.listType(r, p.type) },
        sudo: true,
      },
      {
        pattern: /^sys\/plugins\/catalog\/(?<type>auth|secret|database)\/(?<name>[^/]+)$/,
        operations: {
          read: (r, p) => catalog.read(r, p.type, p.name),
          update: (r, p) => catalog.register(r, p.type, p.name),
          delete: (r, p) => catalog.deregister(r, p.type, p.name),
        },
        sudo: true,
      },
      {
        // The legacy untyped endpoint of Vault's plugin guide: the type is learnt by running the plugin.
        pattern: /^sys\/plugins\/catalog\/(?<name>[^/]+)$/,
        operations: {
          read: (r, p) => catalog.read(r, undefined, p.name),
          update: (r, p) => catalog.register(r, undefined, p.name),
          delete: (r, p) => catalog.deregister(r, undefined, p.name),
        },
        sudo: true,
      },

      { pattern: /^sys\/mounts\/?$/, operations: { read: () => sysMounts.listMounts() } },
      {
        pattern: /^sys\/mounts\/(?<path>.+?)\/tune\/?$/,
        operations: { read: (r, p) => sysMounts.readMountTune(r, p.path), update: (r, p) => sysMounts.tuneMount(r, p.path) },
      },
      {
        pattern: /^sys\/mounts\/(?<path>.+?)\/?$/,
        operations: {
          read: (r, p) => sysMounts.readMount(r, p.path),
          update: (r, p) => sysMounts.enableMount(r, p.path),
          delete: (r, p) => sysMounts.disableMount(r, p.path),
        },
      },
      { pattern: /^sys\/auth\/?$/, operations: { read: () => sysMounts.listAuth() } },
      {
        pattern: /^sys\/auth\/(?<path>.+?)\/tune\/?$/,
        operations: { read: (r, p) => sysMounts.readAuthTune(r, p.path), update: (r, p) => sysMounts.tuneAuth(r, p.path) },
        sudo: true,
      },
      {
        pattern: /^sys\/auth\/(?<path>.+?)\/?$/,
        operations: {
          read: (r, p) => sysMounts.readAuth(r, p.path),
          update: (r, p) => sysMounts.enableAuth(r, p.path),
          delete: (r, p) => sysMounts.disableAuth(r, p.path),
        },
        sudo: true,
      },
      { pattern: /^sys\/remount\/status\/(?<id>[^/]+)$/, operations: { read: (r, p) => sysMounts.remountStatus(r, p.id) } },
      { pattern: /^sys\/remount\/?$/, operations: { update: (r) => sysMounts.remount(r) }, sudo: true },
      { pattern: /^sys\/plugins\/reload\/backend$/, operations: { update: (r) => reload.reload(r) }, sudo: true },
      { pattern: /^sys\/plugins\/reload\/backend\/status$/, operations: { read: (r) => reload.status(r) }, sudo: true },

      { pattern: /^sys\/policies\/acl\/?$/, operations: { list: () => policyHandlers.list() } },
      {
        pattern: /^sys\/policies\/acl\/(?<name>[^/]+)$/,
        operations: {
          read: (_r, p) => policyHandlers.read(p.name, false),
          create: (r, p) => policyHandlers.write(r, p.name, false),
          update: (r, p) => policyHandlers.write(r, p.name, false),
          delete: (r, p) => policyHandlers.delete(r, p.name), // AUDIT: the actor
        },
        exists: policyExists,
      },
      { pattern: /^sys\/policy\/?$/, operations: { read: () => policyHandlers.listLegacy() } },
      {
        pattern: /^sys\/policy\/(?<name>[^/]+)$/,
        operations: {
          read: (_r, p) => policyHandlers.read(p.name, true),
          create: (r, p) => policyHandlers.write(r, p.name, true),
          update: (r, p) => policyHandlers.write(r, p.name, true),
          delete: (r, p) => policyHandlers.delete(r, p.name), // AUDIT: the actor
        },
        exists: policyExists,
      },
      {
        pattern: /^sys\/capabilities-self$/,
        operations: { update: (r, _p, caller) => capabilitiesSelf(r, caller!) },
      },

      ...tokenRoutes(tokenHandler),
      ...auditHandlers.routes(), // AUDIT: sys/audit, sys/audit/:path, sys/audit-hash/:path
    ];
  }

  // AUDIT: every request is recorded before it runs and its outcome after (apps/gateway/src/audit); the pipeline's
  // audit stages take this over at merge.
  dispatch(req: VaultRequest): Promise<VaultResponse> {
    return this.audit.around(req, (audit) => this.route(req, audit));
  }

  private async route(req: VaultRequest, audit: AuditContext): Promise<VaultResponse> {
    const matched = this.match(req.path);
    if (this.ctx.barrier.sealed && !matched?.route.whileSealed) throw new CofferError('sealed', 'Vault is sealed');
    if (!matched) return this.dispatchMounted(req, audit);
    const caller = matched.route.unauthenticated ? undefined : await this.auth.authenticate(req);
    audit.caller = caller; // AUDIT, and the actor that events record
    req.callerAccessor = caller?.token.accessor;
    const { route, params } = matched;
    let operation = req.operation;
    if (operation === 'update' && route.exists && !route.exists(params)) operation = 'create';
    const handler = route.operations[operation];
    if (!handler) {
      throw new CofferError('unsupported-operation', route.plain ? '' : '1 error occurred:\n\t* unsupported operation\n\n');
    }
    if (caller) this.auth.authorize(caller, req, aclOperation(operation), route.sudo === true);
    await this.audit.auditRequest(audit); // AUDIT: nothing runs unless a device recorded it
    return handler({ ...req, operation }, params, caller);
  }

  /**
   * Vault's `?help=1`: any valid token may read help (the ACL's `help` is always allowed). The gateway's own paths
   * answer from the route table, a mounted path from its plugin; Vault answers the help object itself, no envelope.
   */
  async help(req: VaultRequest): Promise<VaultResponse> {
    if (this.ctx.barrier.sealed) throw new CofferError('sealed', 'Vault is sealed');
    const caller = await this.auth.authenticate(req);
    this.auth.authorize(caller, req, 'help', false);
    const own = gatewayHelp(this.routes, req.path);
    if (own !== undefined) return { kind: 'json', status: 200, body: { help: own } };
    const mounted = await this.mounts.resolveFresh(req.path);
    if (!mounted) {
      if (req.path.startsWith('sys/')) throw new CofferError('unsupported-path', '1 error occurred:\n\t* unsupported path\n\n');
      throw new CofferError('unsupported-path', `no handler for route "${req.path}". route entry not found.`);
    }
    return { kind: 'json', status: 200, body: { help: await this.mounts.help(mounted) } };
  }

  /** Everything that is not the gateway's own: a mount's plugin, through a plugin-runner. */
  private async dispatchMounted(req: VaultRequest, audit: AuditContext): Promise<VaultResponse> {
    const mounted = await this.mounts.resolveFresh(req.path);
    audit.mount = mounted?.mount; // AUDIT
    const open = mounted ? await this.mounts.isUnauthenticated(mounted) : false;
    const caller = open ? undefined : await this.auth.authenticate(req);
    audit.caller = caller; // AUDIT, and the actor that events record
    req.callerAccessor = caller?.token.accessor;
    if (!mounted) {
      // The ACL comes first, as in Vault: a token that may not touch the path learns nothing about what is there.
      this.auth.authorize(caller!, req, aclOperation(req.operation), false);
      if (req.path.startsWith('sys/')) throw new CofferError('unsupported-path', '1 error occurred:\n\t* unsupported path\n\n');
      throw new CofferError('unsupported-path', `no handler for route "${req.path}". route entry not found.`);
    }
    const operation = await this.mounts.operationFor(mounted, req);
    if (caller) this.auth.authorize(caller, req, aclOperation(operation), false);
    await this.audit.auditRequest(audit); // AUDIT: nothing runs unless a device recorded it
    return this.mounts.handle(mounted, { ...req, operation }, operation, caller?.token.accessor ?? '');
  }

  private match(path: string): { route: Route; params: Record<string, string> } | undefined {
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (m) return { route, params: { ...m.groups } };
    }
    return undefined;
  }
}

function aclOperation(operation: Operation): AclOperation {
  return operation === 'head' ? 'read' : operation;
}

/** `sys/capabilities-self`: the caller's capabilities on each path asked about. */
function capabilitiesSelf(req: VaultRequest, caller: Caller): VaultResponse {
  const raw = req.data.paths ?? req.data.path;
  const paths = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw.split(',').map((p) => p.trim()) : [];
  if (paths.length === 0) throw new CofferError('invalid-request', "'paths' must be specified");
  const data: Record<string, string[]> = {};
  for (const path of paths) data[path] = caller.acl.capabilities(path.replace(/^\/+/, ''));
  if (paths.length === 1) data.capabilities = data[paths[0]];
  return { kind: 'envelope', data, topLevel: true };
}

/** Vault's token endpoints under auth/token/. */
function tokenRoutes(wrap: (h: token.TokenHandler) => Handler): Route[] {
  const t = (name: string, operations: Partial<Record<Operation, token.TokenHandler>>): Route => ({
    pattern: new RegExp(`^auth/token/${name}$`),
    operations: Object.fromEntries(Object.entries(operations).map(([op, h]) => [op, wrap(h!)])),
  });
  return [
    t('create', { update: token.create }),
    t('create-orphan', { update: token.createOrphan }),
    t('lookup', { read: token.lookup, update: token.lookup }),
    t('lookup-self', { read: token.lookupSelf, update: token.lookupSelf }),
    t('lookup-accessor', { update: token.lookupAccessor }),
    t('renew', { update: token.renew }),
    t('renew-self', { update: token.renewSelf }),
    t('renew-accessor', { update: token.renewAccessor }),
    t('revoke', { update: token.revoke }),
    t('revoke-self', { update: token.revokeSelf }),
    t('revoke-accessor', { update: token.revokeAccessor }),
    t('revoke-orphan', { update: token.revokeOrphan }),
  ];
}
