import { Inject, Injectable } from '@nestjs/common';
import { BUS, type Bus } from '#bus';
import { CofferError, runnerSubjects, type MountCall } from '#contracts';
import { findMount, type Mount, type MountTableState } from '#mount-table';
import type { PluginResponse } from '#plugin-protocol';
import type { ProjectionHost } from '#runtime';
import { asPluginError } from '../pipeline/edge-errors.js';
import { MOUNT_TABLE } from './mount-table.provider.js';
import type { LoginGrant } from '../tokens/token-store.js';
import type { Operation, VaultRequest, VaultResponse } from '../vault-http.js';

/** A request resolved to the mount that serves it. */
export interface MountedRequest {
  mount: Mount;
  /** The path inside the mount, as the plugin sees it. */
  relative: string;
}

/** How long a plugin call may take, runner hop included; a runner that dies mid-call costs its callers this long. */
const CALL_TIMEOUT_MS = Number(process.env.COFFER_PLUGIN_CALL_TIMEOUT_MS) || 60_000;
const SPECIAL_PATHS_TTL_MS = 30_000;

/**
 * Everything under a mount: longest-prefix lookup on the gateway's projection of the mount table, the plugin's
 * unauthenticated paths, the existence check, and the call itself, sent to the plugin-runner queue group.
 */
@Injectable()
export class MountRouting {
  private readonly specialPaths = new Map<string, { at: number; patterns: string[]; caseInsensitive: string[] }>();

  constructor(
    @Inject(MOUNT_TABLE) private readonly mounts: ProjectionHost<MountTableState>,
    @Inject(BUS) private readonly bus: Bus,
  ) {}

  /**
   * As `resolve`, but a miss first catches the projection up (at most twice a second), so a mount enabled through
   * another gateway a moment ago is found without waiting for the broadcast.
   */
  async resolveFresh(path: string): Promise<MountedRequest | undefined> {
    const found = this.resolve(path);
    if (found || Date.now() - this.lastMissCatchUp < 500) return found;
    this.lastMissCatchUp = Date.now();
    await this.mounts.catchUp();
    return this.resolve(path);
  }

  private lastMissCatchUp = 0;

  resolve(path: string): MountedRequest | undefined {
    const state = this.mounts.state;
    const auth = path.startsWith('auth/');
    const inner = auth ? path.slice('auth/'.length) : path;
    const mount = findMount(auth ? state.auth : state.secret, inner);
    if (!mount) return undefined;
    return { mount, relative: inner.slice(mount.path.length) };
  }

  /** Whether the plugin declared this path unauthenticated (exact, or a `*`-suffixed prefix). */
  async isUnauthenticated(m: MountedRequest): Promise<boolean> {
    const { patterns } = await this.pathRules(m);
    return patterns.some((p) => (p.endsWith('*') ? m.relative.startsWith(p.slice(0, -1)) : m.relative === p));
  }

  /**
   * The request as the plugin will act on it: under a prefix the plugin declared case-insensitive (`users/*` in
   * userpass), the rest of the path folded to lower case, so the ACL judges the name the plugin stores.
   */
  async normalize(m: MountedRequest): Promise<MountedRequest> {
    const { caseInsensitive } = await this.pathRules(m);
    const prefix = caseInsensitive.find((p) => p.endsWith('*') && m.relative.startsWith(p.slice(0, -1)))?.slice(0, -1);
    if (prefix === undefined) return m;
    return { ...m, relative: prefix + m.relative.slice(prefix.length).toLowerCase() };
  }

  private async pathRules(m: MountedRequest): Promise<{ patterns: string[]; caseInsensitive: string[] }> {
    let cached = this.specialPaths.get(m.mount.uuid);
    if (!cached || Date.now() - cached.at > SPECIAL_PATHS_TTL_MS) {
      try {
        const r = await this.bus.request<{ unauthenticated: string[]; caseInsensitive?: string[] }>(runnerSubjects.specialPaths, {
          mount: m.mount.uuid,
        });
        cached = { at: Date.now(), patterns: r.unauthenticated, caseInsensitive: r.caseInsensitive ?? [] };
      } catch {
        // A plugin that cannot start has no unauthenticated paths: the request then needs a token, and fails later.
        cached = { at: Date.now(), patterns: [], caseInsensitive: [] };
      }
      this.specialPaths.set(m.mount.uuid, cached);
    }
    return cached;
  }

  /** Vault's existence check: an update of something absent is a create (which the ACL judges separately). */
  async operationFor(m: MountedRequest, req: VaultRequest): Promise<Operation> {
    if (req.operation !== 'update') return req.operation;
    const r = await this.bus.request<{ checkFound: boolean; exists: boolean }>(runnerSubjects.exists, this.call(m, req, 'update', ''), {
      timeoutMs: CALL_TIMEOUT_MS,
    });
    return r.checkFound && !r.exists ? 'create' : 'update';
  }

  async handle(m: MountedRequest, req: VaultRequest, operation: Operation, tokenAccessor: string): Promise<VaultResponse> {
    const call = this.call(m, req, operation, tokenAccessor);
    let response: PluginResponse | null;
    try {
      response = await this.send(call, operation === 'read' || operation === 'list');
    } catch (err) {
      throw asPluginError(err);
    }
    return this.toVault(m, req, operation, response);
  }

  /** The plugin's help text for the path (Vault's `?help=1`), errors worded as `handle` words them. */
  async help(m: MountedRequest): Promise<string> {
    try {
      const r = await this.bus.request<{ help: string }>(runnerSubjects.help, { mount: m.mount.uuid, path: m.relative }, { timeoutMs: CALL_TIMEOUT_MS });
      return r.help;
    } catch (err) {
      throw asPluginError(err);
    }
  }

  /** Reads are retried once on another runner when the first vanished; a write is never sent twice. */
  private async send(call: MountCall, idempotent: boolean): Promise<PluginResponse | null> {
    try {
      return await this.bus.request<PluginResponse | null>(runnerSubjects.handle, call, { timeoutMs: CALL_TIMEOUT_MS });
    } catch (err) {
      if (!idempotent || !(err instanceof CofferError) || err.code !== 'unavailable') throw err;
      return this.bus.request<PluginResponse | null>(runnerSubjects.handle, call, { timeoutMs: CALL_TIMEOUT_MS });
    }
  }

  private toVault(m: MountedRequest, req: VaultRequest, operation: Operation, r: PluginResponse | null): VaultResponse {
    const mountType = m.mount.type;
    if (r?.raw) return { kind: 'raw', status: r.raw.status, contentType: r.raw.contentType, body: Buffer.from(r.raw.bodyBase64, 'base64') };
    if (r?.auth) {
      if (m.mount.table !== 'auth') throw new CofferError('plugin-failed', `plugin ${m.mount.pluginName} returned an auth object from a secrets engine`);
      // The token is issued by the response stage, under the issuance rule: a plugin only asks for one.
      const login: LoginGrant = {
        policies: r.auth.policies,
        meta: r.auth.metadata,
        displayName: `${m.mount.path.replace(/\/$/, '')}-${(r.auth.displayName ?? '').replace(/^userpass-/, '')}`.replace(/-$/, ''),
        path: req.path,
        ttl: r.auth.ttl,
        maxTtl: r.auth.maxTtl,
        renewable: r.auth.renewable,
        numUses: r.auth.numUses,
        mountDefaultTtl: m.mount.config.defaultLeaseTtl,
        mountMaxTtl: m.mount.config.maxLeaseTtl,
      };
      return { kind: 'envelope', data: r.data ?? null, warnings: r.warnings, login, mountType };
    }
    const empty = !r || ((r.data === undefined || r.data === null) && !r.warnings?.length);
    if (empty) {
      // Vault: a read or list of nothing is a bare 404; a write that answers nothing is a 204.
      if (operation === 'read' || operation === 'list') throw new CofferError('not-found', '');
      return { kind: 'empty' };
    }
    if (operation === 'list' && Array.isArray((r.data as { keys?: unknown })?.keys) && (r.data as { keys: unknown[] }).keys.length === 0 && !r.warnings?.length) {
      throw new CofferError('not-found', '');
    }
    // A secret under a lease: the lease stage records it once the request is known to have succeeded.
    const leaseGrant = r?.secret ? { mount: m.mount, path: req.path, secret: r.secret } : undefined;
    return { kind: 'envelope', data: r.data ?? null, warnings: r.warnings, mountType, ...(leaseGrant ? { leaseGrant } : {}) };
  }

  private call(m: MountedRequest, req: VaultRequest, operation: Operation, tokenAccessor: string): MountCall {
    if (operation === 'head') throw new CofferError('unsupported-operation', '');
    return {
      mount: m.mount.uuid,
      request: { operation, path: m.relative, data: req.data, tokenAccessor, requestId: req.id },
    };
  }
}
