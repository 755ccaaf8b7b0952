import type { AuditContext } from '../audit/broker.js';
import type { Caller } from '../auth/authenticator.js';
import type { MountedRequest } from '../mounts/mount-routing.js';
import type { OwnRoute } from '../router.js';
import type { Operation, VaultRequest, VaultResponse } from '../vault-http.js';

/** Who answers a request: one of the gateway's own routes, a mount's plugin, or nobody (a Vault 404 after the ACL). */
export type Target =
  | { kind: 'own'; route: OwnRoute; params: Record<string, string> }
  | { kind: 'mount'; mounted: MountedRequest; unauthenticated: boolean }
  | { kind: 'none' };

/** The HTTP request as the controller decoded it, before any stage has looked at it. */
export interface EdgeRequest {
  id: string;
  /** Vault's operation from the verb (and `?list=`); an existence check may turn an update into a create later. */
  operation: Operation;
  /** The logical path (after `/v1/`), decoded and refused when it could escape its mount. */
  path: string;
  query: URLSearchParams;
  body?: Buffer;
  contentType?: string;
  token?: string;
  headers: VaultRequest['headers'];
  /** Seconds from `X-Vault-Wrap-TTL`, when the client asked for response wrapping. */
  wrapTtl?: number;
  /** The client's address from the socket (`clientAddress`), for bound-CIDR checks, the plugins and the audit log. */
  remoteAddress?: string;
  /** Vault's `?help=1`: the request asks for the path's help, not the path. */
  help: boolean;
  /** The client's port, for the audit log. */
  remotePort?: number;
}

/**
 * One request on its way through the stages. Each stage reads what earlier ones set and sets its own part:
 * parse sets `req`, the seal stage the own-route `target`, authenticate the mount target and `caller`, authorize the
 * final `req.operation` (or, for a mount's write, the `write` verdicts the runner enforces), route the `response`.
 */
export interface Exchange {
  edge: EdgeRequest;
  req: VaultRequest;
  target?: Target;
  caller?: Caller;
  response?: VaultResponse;
  /**
   * A write to a mount whose create-or-update the plugin's existence check decides on the runner (one trip): the
   * ACL's verdict for each, set by the authorize stage. `req.operation` stays `update` until the route stage hears
   * which one the check picked.
   */
  write?: { create: boolean; update: boolean };
  /** What the audit-request stage recorded, for the audit-response stage. */
  audit?: AuditContext;
}

/** A named step of the pipeline (see pipeline.ts for their order). */
export interface Stage {
  readonly name: string;
  run(x: Exchange): void | Promise<void>;
  /**
   * Called instead of `run` when an earlier stage threw: a stage that must see every outcome (audit-response
   * records the error) says so here. What it throws replaces the error.
   */
  failed?(x: Exchange, err: unknown): void | Promise<void>;
}
