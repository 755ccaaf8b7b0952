import { Inject, Injectable } from '@nestjs/common';
import { CofferError, sealedError } from '#contracts';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import { AuditBroker, AuditHandlers } from './audit/index.js';
import { Authenticator, type Caller } from './auth/authenticator.js';
import { CUBBYHOLE_CLEANUP, type CubbyholeCleanup } from './cubbyhole/cubbyhole-cleanup.js';
import { MountRouting } from './mounts/mount-routing.js';
import { ReloadHandlers } from './mounts/reload.handlers.js';
import { SysMountsHandlers } from './sys-mounts/sys-mounts.handlers.js';
import { TOKEN_STORE } from './tokens/token-store.provider.js';
import { PolicyHandlers } from './policies/policies.handlers.js';
import { PolicyService } from './policies/policy.service.js';
import { SealHandlers } from './seal/seal.handlers.js';
import { GatewayMetrics } from './metrics/metrics.js';
import { InfoHandlers } from './health/info.handlers.js';
import { SysCatalogHandlers } from './catalog/sys-catalog.handlers.js';
import * as token from './tokens/token.handlers.js';
import type { TokenStore } from './tokens/token-store.js';
import { jsonLimitsOf } from './http/json-limits.js';
import { AuditRequestStage, AuditResponseStage } from './pipeline/audit.stage.js';
import { AuthenticateStage } from './pipeline/authenticate.stage.js';
import { AuthorizeStage } from './pipeline/authorize.stage.js';
import type { EdgeRequest } from './pipeline/exchange.js';
import { ParseStage } from './pipeline/parse.stage.js';
import { Pipeline } from './pipeline/pipeline.js';
import { ResponseStage } from './pipeline/response.stage.js';
import { RouteStage } from './pipeline/route.stage.js';
import { SealStage } from './pipeline/seal.stage.js';
import { WrappingStage } from './pipeline/wrapping.stage.js';
import { WrappingHandlers } from './wrapping/wrapping.handlers.js';
import { LEASE_MANAGER } from './leases/lease-manager.provider.js';
import type { LeaseManager } from './leases/lease-manager.js';
import { leaseRoutes } from './leases/lease.handlers.js';
import { eventHistoryRoutes } from './event-history/event-history.handlers.js';
import { LeaseStage } from './pipeline/lease.stage.js';
import type { Operation, VaultRequest, VaultResponse } from './vault-http.js';

type Handler = (req: VaultRequest, params: Record<string, string>, caller: Caller | undefined) => Promise<VaultResponse> | VaultResponse;

/** One of the gateway's own paths, as data. */
export interface OwnRoute {
  pattern: RegExp;
  operations: Partial<Record<Operation, Handler>>;
  /** Answered without a token (Vault's unauthenticated sys paths). */
  unauthenticated?: boolean;
  /** Served while sealed: everything else answers 503 until the cluster is unsealed. */
  whileSealed?: boolean;
  /** One of Vault's non-logical handlers (health, seal status, init...): a wrong verb there is a bare 405. */
  plain?: boolean;
  /**
   * Root-protected (Vault's PathsSpecial.Root): the ACL must grant sudo besides the operation's capability. A list
   * names the operations that need it, where one path is root-protected for some verbs only (LIST of leases).
   */
  sudo?: boolean | readonly Operation[];
  /**
   * The path the handler acts on, when it normalizes a name from the path (policy names: trimmed, lower case):
   * the ACL judges this path, so a deny on `admin` also denies `ADMIN` and `admin%20`.
   */
  normalize?: (params: Record<string, string>) => string;
  /** Turns an update into a create when the target does not exist yet, as Vault's existence checks do. */
  exists?: (params: Record<string, string>) => boolean;
}

/**
 * The gateway's own paths, as data: a pattern, the operations it serves, and what guards it; and the pipeline every
 * request goes through (its own paths, mounted paths and help alike), assembled from the stages in pipeline/.
 */
@Injectable()
export class Router {
  readonly routes: OwnRoute[];
  private readonly pipeline: Pipeline;

  constructor(
    seal: SealHandlers,
    catalog: SysCatalogHandlers,
    policyHandlers: PolicyHandlers,
    policies: PolicyService,
    auth: Authenticator,
    mounts: MountRouting,
    sysMounts: SysMountsHandlers,
    reload: ReloadHandlers,
    metrics: GatewayMetrics,
    info: InfoHandlers,
    @Inject(TOKEN_STORE) tokens: TokenStore,
    @Inject(SERVICE_CONTEXT) ctx: Pick<ServiceContext, 'barrier' | 'config' | 'log' | 'events'>,
    @Inject(CUBBYHOLE_CLEANUP) cubbyholes: Pick<CubbyholeCleanup, 'revoked'>,
    audit: AuditBroker,
    auditHandlers: AuditHandlers,
    @Inject(LEASE_MANAGER) leases: LeaseManager,
  ) {
    const open = { unauthenticated: true, whileSealed: true, plain: true };
    const wrapping = new WrappingHandlers(tokens);
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
      { pattern: /^sys\/leader$/, operations: { read: () => info.leader() }, ...open },
      { pattern: /^sys\/metrics$/, operations: { read: (r) => metrics.handle(r) } },
      { pattern: /^sys\/host-info$/, operations: { read: () => info.hostInfo() } },
      { pattern: /^sys\/instances$/, operations: { read: () => info.instances() } },
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
          delete: (r, p) => policyHandlers.delete(r, p.name), // r: the actor the event records
        },
        exists: policyExists,
        normalize: (p) => `sys/policies/acl/${policyName(p.name)}`,
      },
      { pattern: /^sys\/policy\/?$/, operations: { read: () => policyHandlers.listLegacy() } },
      {
        pattern: /^sys\/policy\/(?<name>[^/]+)$/,
        operations: {
          read: (_r, p) => policyHandlers.read(p.name, true),
          create: (r, p) => policyHandlers.write(r, p.name, true),
          update: (r, p) => policyHandlers.write(r, p.name, true),
          delete: (r, p) => policyHandlers.delete(r, p.name), // r: the actor the event records
        },
        exists: policyExists,
        normalize: (p) => `sys/policy/${policyName(p.name)}`,
      },
      { pattern: /^sys\/wrapping\/wrap$/, operations: { update: (r) => wrapping.wrap(r) } },
      { pattern: /^sys\/wrapping\/unwrap$/, operations: { update: (r, _p, caller) => wrapping.unwrap(r, caller!) } },
      // Vault answers lookups without a token: the wrapping token is the question, and looking does not spend it.
      { pattern: /^sys\/wrapping\/lookup$/, operations: { update: (r) => wrapping.lookup(r), read: (r) => wrapping.lookup(r) }, unauthenticated: true },
      { pattern: /^sys\/wrapping\/rewrap$/, operations: { update: (r) => wrapping.rewrap(r) } },
      {
        pattern: /^sys\/capabilities-self$/,
        operations: { update: (r, _p, caller) => capabilitiesSelf(r, caller!) },
      },

      // sys/event-history: who changed the catalog, mounts, policies and audit devices (event-history/).
      ...eventHistoryRoutes(ctx.events),

      // sys/leases/*: the lease manager's paths (leases/lease.handlers.ts).
      ...leaseRoutes(leases),

      // The token store's paths: the one table (tokens/token.handlers.ts) its tests exercise too.
      ...token.TOKEN_ROUTES.map((r) => ({ pattern: r.pattern, operations: mapValues(r.operations, tokenHandler) })),
      // sys/audit, sys/audit/:path, sys/audit-hash/:path (audit/audit.handlers.ts)
      ...auditHandlers.routes(),
    ];

    this.pipeline = new Pipeline([
      // Sealed until the unseal hooks have replayed the mount table and policies (BarrierState.ready).
      new SealStage(this, () => !ctx.barrier.ready),
      new ParseStage(jsonLimitsOf(ctx.config.listeners[0]), ctx.log),
      new AuthenticateStage(auth, mounts),
      new AuthorizeStage(auth, mounts, () => audit.devices().length > 0),
      new AuditRequestStage(audit),
      new RouteStage(() => this.routes, mounts, cubbyholes),
      new ResponseStage(tokens),
      new LeaseStage(leases),
      new WrappingStage(tokens),
      new AuditResponseStage(audit),
    ]);
  }

  /** Runs a request through the pipeline (pipeline/pipeline.ts has the stages and their order). */
  dispatch(edge: EdgeRequest): Promise<VaultResponse> {
    return this.pipeline.run(edge);
  }

  /** The gateway's own route for `path`, if any: the first pattern that matches. */
  match(path: string): { route: OwnRoute; params: Record<string, string> } | undefined {
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (m) return { route, params: { ...m.groups } };
    }
    return undefined;
  }
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

/** A policy name as the policy handlers store it (Vault's: trimmed, lower case). */
function policyName(name: string): string {
  return name.trim().toLowerCase();
}

function mapValues<K extends string, A, B>(record: Partial<Record<K, A>>, f: (a: A) => B): Partial<Record<K, B>> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, f(v as A)])) as Partial<Record<K, B>>;
}
