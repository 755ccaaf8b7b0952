import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { BUS, ResponderLost, type Bus } from '#bus';
import { CofferError, directSubject, runnerSubjects, type DirectVerb, type MountCall, type MountResponse, type MountWrite, type MountWriteReply } from '#contracts';
import { findMount, type Mount, type MountTableState } from '#mount-table';
import { GATEWAY_CALL_MARGIN_MS } from '#config';
import { SERVICE_CONTEXT, type ProjectionHost, type ServiceContext } from '#runtime';
import { asPluginError } from '../pipeline/edge-errors.js';
import { MOUNT_TABLE } from './mount-table.provider.js';
import { RunnerRing } from './runner-ring.js';
import type { LoginGrant } from '../tokens/token-store.js';
import type { Operation, VaultRequest, VaultResponse } from '../vault-http.js';

/** A request resolved to the mount that serves it. */
export interface MountedRequest {
  mount: Mount;
  /** The path inside the mount, as the plugin sees it. */
  relative: string;
}

const SPECIAL_PATHS_TTL_MS = 30_000;
const RETRY_PAUSE_MS = 200;

/**
 * Pure: whether a lost call may be sent again. Never more than three attempts, each given up on after one liveness
 * period of silence, so the client hears 503 within a few seconds when no runner can take it.
 */
export function retryable(err: ResponderLost, idempotent: boolean, attempt: number, elapsedMs: number, livenessMs: number): boolean {
  if (attempt >= 3 || elapsedMs >= 3 * livenessMs) return false;
  return idempotent || err.noResponders;
}

/** The client's 503 says what happened to the call, in words an operator can act on (docs/operations.md). */
function unavailable(err: unknown, idempotent: boolean, what: 'call' | 'precheck'): unknown {
  if (!(err instanceof ResponderLost)) return err;
  // The existence check comes before a write is sent: when it fails, the write itself was never sent.
  if (what === 'precheck') return new CofferError('unavailable', 'no plugin-runner answered the existence check; the write was not applied');
  if (err.noResponders) return new CofferError('unavailable', 'no plugin-runner is available; the request was not applied');
  if (idempotent) return new CofferError('unavailable', 'no plugin-runner answered the request in time');
  if (!err.started) return new CofferError('unavailable', 'no plugin-runner acknowledged the write in time; it may still be applied');
  return new CofferError('unavailable', 'the plugin-runner handling the write was lost; it may or may not have been applied');
}

/**
 * Everything under a mount: longest-prefix lookup on the gateway's projection of the mount table, the plugin's
 * unauthenticated paths, the existence check (on its own trip only while audit needs it first), and the call itself,
 * sent to the runner the mount hashes to (mount affinity: `RunnerRing`), or to the queue group when none is known.
 */
@Injectable()
export class MountRouting implements OnModuleDestroy {
  private readonly specialPaths = new Map<string, { at: number; patterns: string[]; caseInsensitive: string[] }>();
  /** How long a plugin call may take, runner hop included: a little past the runner's own limit (libs/config). */
  private readonly callTimeoutMs: number;

  constructor(
    @Inject(SERVICE_CONTEXT) ctx: ServiceContext,
    @Inject(MOUNT_TABLE) private readonly mounts: ProjectionHost<MountTableState>,
    @Inject(BUS) private readonly bus: Bus,
  ) {
    this.callTimeoutMs = ctx.tunables.pluginCallTimeoutMs + GATEWAY_CALL_MARGIN_MS;
    this.livenessMs = ctx.tunables.busLivenessMs;
    this.ring = new RunnerRing(bus, ctx.tunables.runnerPresenceMs);
  }

  /** The live runners and which one serves each mount: a mount's calls all go to it, which can then cache its storage. */
  readonly ring: RunnerRing;

  onModuleDestroy(): void {
    this.ring.close();
  }

  /** A runner that took a call and went silent this long is given up on (libs/bus liveness). */
  private readonly livenessMs: number;

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
        const r = await this.bus.request<{ unauthenticated: string[]; caseInsensitive?: string[] }>(
          runnerSubjects.specialPaths,
          { mount: m.mount.uuid },
          { livenessMs: this.livenessMs },
        );
        cached = { at: Date.now(), patterns: r.unauthenticated, caseInsensitive: r.caseInsensitive ?? [] };
      } catch {
        // A plugin that cannot start has no unauthenticated paths: the request then needs a token, and fails later.
        cached = { at: Date.now(), patterns: [], caseInsensitive: [] };
      }
      this.specialPaths.set(m.mount.uuid, cached);
    }
    return cached;
  }

  /**
   * Vault's existence check: an update of something absent is a create (which the ACL judges separately). It carries
   * the caller's accessor as the request will, since what exists can depend on who asks (a cubbyhole is per token).
   */
  async operationFor(m: MountedRequest, req: VaultRequest, tokenAccessor = ''): Promise<Operation> {
    if (req.operation !== 'update') return req.operation;
    const r = await this.toRunner<{ checkFound: boolean; exists: boolean }>('exists', this.call(m, req, 'update', tokenAccessor), true, 'precheck');
    return r.checkFound && !r.exists ? 'create' : 'update';
  }

  async handle(m: MountedRequest, req: VaultRequest, operation: Operation, tokenAccessor: string): Promise<VaultResponse> {
    const call = this.call(m, req, operation, tokenAccessor);
    let response: MountResponse | null;
    try {
      response = await this.send(call, operation === 'read' || operation === 'list');
    } catch (err) {
      throw asPluginError(err);
    }
    return this.toVault(m, req, operation, response);
  }

  /**
   * A write sent once with the ACL's verdicts for create and update: the runner has the plugin run its existence
   * check and the write in one call, and refuses (403) what the check picks if its verdict is no. Answers the
   * operation it became, for the stages after this one.
   */
  async write(m: MountedRequest, req: VaultRequest, allowed: MountWrite['allowed'], tokenAccessor: string): Promise<{ operation: 'create' | 'update'; response: VaultResponse }> {
    const call: MountWrite = { ...this.call(m, req, 'update', tokenAccessor), allowed };
    let reply: MountWriteReply;
    try {
      reply = await this.toRunner<MountWriteReply>('write', call, false);
    } catch (err) {
      throw asPluginError(err);
    }
    return { operation: reply.operation, response: this.toVault(m, req, reply.operation, reply.response) };
  }

  /** The plugin's help text for the path (Vault's `?help=1`), errors worded as `handle` words them. */
  async help(m: MountedRequest): Promise<string> {
    try {
      const r = await this.toRunner<{ help: string }>(runnerSubjects.help, { mount: m.mount.uuid, path: m.relative }, true);
      return r.help;
    } catch (err) {
      throw asPluginError(err);
    }
  }

  private send(call: MountCall, idempotent: boolean): Promise<MountResponse | null> {
    return this.toRunner<MountResponse | null>('handle', call, idempotent);
  }

  /**
   * A call to the runners that never stalls on a dead one: the runner acknowledges and beats (libs/bus liveness),
   * so a lost runner costs about `livenessMs`, not the call timeout. What is sent again (docs/operations.md, "When a
   * call fails"): a read, whatever happened to the first attempt; a write only when NATS said no runner listens,
   * which means no runner got it. A write a runner took and then lost, or that nobody acknowledged in time, fails
   * with 503 and may or may not have been applied.
   *
   * A mount call (`handle`, `write`, `exists`) goes to the runner its mount hashes to, on that runner's own subject;
   * when that runner is not there or does not answer, the ring forgets it until its next presence and the next
   * attempt goes to the runner that scores next (or the queue group, once no runner is known).
   */
  private async toRunner<T>(target: DirectVerb | string, payload: MountCall | { mount: string; path: string }, idempotent: boolean, what: 'call' | 'precheck' = 'call'): Promise<T> {
    const started = Date.now();
    const verb = isDirectVerb(target) ? target : undefined;
    for (let attempt = 1; ; attempt++) {
      const owner = verb ? this.ring.owner(payload.mount) : undefined;
      const subject = verb ? (owner ? directSubject(owner, verb) : runnerSubjects[verb]) : target;
      try {
        return await this.bus.request<T>(subject, payload, { timeoutMs: this.callTimeoutMs, livenessMs: this.livenessMs });
      } catch (err) {
        if (owner && err instanceof ResponderLost) this.ring.suspect(owner);
        if (!(err instanceof ResponderLost) || !retryable(err, idempotent, attempt, Date.now() - started, this.livenessMs)) throw unavailable(err, idempotent, what);
        // A runner restarting resubscribes within moments; a short pause gives it the chance. A direct subject with
        // no one on it only means that runner is gone: the next attempt goes elsewhere at once.
        if (err.noResponders && !owner) await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS * attempt));
      }
    }
  }

  private toVault(m: MountedRequest, req: VaultRequest, operation: Operation, r: MountResponse | null): VaultResponse {
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
        boundCidrs: r.auth.boundCidrs,
        mountDefaultTtl: m.mount.config.defaultLeaseTtl,
        mountMaxTtl: m.mount.config.maxLeaseTtl,
        // Kept with the token (encrypted) for the plugin's renewAuth when the token is renewed.
        origin: {
          mount: m.mount.uuid,
          path: m.relative,
          policies: r.auth.policies,
          displayName: r.auth.displayName ?? '',
          ...(r.auth.internal ? { internal: r.auth.internal } : {}),
        },
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
      request: { operation, path: m.relative, data: req.data, tokenAccessor, requestId: req.id, remoteAddress: req.remoteAddress ?? '' },
    };
  }
}

function isDirectVerb(target: string): target is DirectVerb {
  return target === 'handle' || target === 'write' || target === 'exists';
}
