import { Injectable } from '@nestjs/common';
import { CofferError } from '#contracts';
import { SysCatalogHandlers } from './sys-catalog.handlers.js';
import { SysStatusHandlers } from './sys-status.handlers.js';
import type { Operation, VaultRequest, VaultResponse } from './vault-http.js';

type Handler = (req: VaultRequest, params: Record<string, string>) => Promise<VaultResponse>;

interface Route {
  pattern: RegExp;
  operations: Partial<Record<Operation, Handler>>;
  /** Answered without a token (Vault's unauthenticated sys paths). */
  unauthenticated?: boolean;
  /** One of Vault's non-logical handlers (health, seal status, init...): a wrong verb there is a bare 405. */
  plain?: boolean;
}

/**
 * The gateway's own paths, as data: a pattern and the operations it serves. Everything else goes to a mount (the
 * mounts issue); a known path with an operation it lacks is `unsupported operation` (405), as in Vault.
 */
@Injectable()
export class Router {
  private readonly routes: Route[];

  constructor(status: SysStatusHandlers, catalog: SysCatalogHandlers) {
    this.routes = [
      {
        pattern: /^sys\/health$/,
        operations: { read: (r) => status.health(r), head: (r) => status.health(r) },
        unauthenticated: true,
        plain: true,
      },
      {
        pattern: /^sys\/seal-status$/,
        operations: { read: () => status.sealStatus() },
        unauthenticated: true,
        plain: true,
      },
      { pattern: /^sys\/plugins\/catalog\/?$/, operations: { read: () => catalog.readAll() } },
      {
        pattern: /^sys\/plugins\/catalog\/(?<type>[^/]+)\/?$/,
        operations: { list: (r, p) => catalog.listType(r, p.type) },
      },
    ];
  }

  async dispatch(req: VaultRequest): Promise<VaultResponse> {
    for (const route of this.routes) {
      const match = route.pattern.exec(req.path);
      if (!match) continue;
      const handler = route.operations[req.operation];
      if (!handler) throw new CofferError('unsupported-operation', route.plain ? '' : 'unsupported operation');
      return handler(req, { ...match.groups });
    }
    if (req.path.startsWith('sys/')) throw new CofferError('unsupported-path', 'unsupported path');
    throw new CofferError('unsupported-path', `no handler for route "${req.path}". route entry not found.`);
  }
}
