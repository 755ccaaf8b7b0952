import type { CubbyholeCleanup } from '../cubbyhole/cubbyhole-cleanup.js';
import { gatewayHelp } from '../help.js';
import type { MountRouting } from '../mounts/mount-routing.js';
import type { OwnRoute } from '../router.js';
import { unsupportedPath } from './edge-errors.js';
import type { Exchange, Stage } from './exchange.js';

/**
 * Stage 6, route: the gateway's own handler, or the mount's plugin through a plugin-runner (one trip, a write's
 * existence check included), or Vault's
 * 404 for a path nobody serves. Help requests are answered here too: the gateway's own paths from the route table,
 * a mounted path by its plugin; Vault answers the help object itself, no envelope.
 */
export class RouteStage implements Stage {
  readonly name = 'route';

  constructor(
    private readonly routes: () => readonly OwnRoute[],
    private readonly mounts: Pick<MountRouting, 'handle' | 'write' | 'help'>,
    private readonly cubbyholes: Pick<CubbyholeCleanup, 'revoked'>,
  ) {}

  async run(x: Exchange): Promise<void> {
    const { req, target, caller } = x;
    if (x.edge.help) {
      const own = gatewayHelp(this.routes(), req.path);
      if (own !== undefined) x.response = { kind: 'json', status: 200, body: { help: own } };
      else if (target?.kind === 'mount') x.response = { kind: 'json', status: 200, body: { help: await this.mounts.help(target.mounted) } };
      else throw unsupportedPath(req.path);
      return;
    }
    switch (target?.kind) {
      case 'own':
        x.response = await target.route.operations[req.operation]!(req, target.params, caller);
        return;
      case 'mount':
        try {
          if (x.write) {
            // One trip: the runner's existence check picks create or update; later stages see the one it picked.
            const { operation, response } = await this.mounts.write(target.mounted, req, x.write, caller?.token.accessor ?? '');
            req.operation = operation;
            x.response = response;
          } else {
            x.response = await this.mounts.handle(target.mounted, req, req.operation, caller?.token.accessor ?? '');
          }
        } finally {
          // The token's last use revoked it before this request ran; what the request stored in its cubbyhole goes now.
          if (caller?.token.numUses === -1) this.cubbyholes.revoked([caller.token.accessor]);
        }
        return;
      default:
        throw unsupportedPath(req.path);
    }
  }
}
