import { gatewayHelp } from '../help.js';
import type { MountRouting } from '../mounts/mount-routing.js';
import type { OwnRoute } from '../router.js';
import { unsupportedPath } from './edge-errors.js';
import type { Exchange, Stage } from './exchange.js';

/**
 * Stage 6, route: the gateway's own handler, or the mount's plugin through a plugin-runner (one trip), or Vault's
 * 404 for a path nobody serves. Help requests are answered here too: the gateway's own paths from the route table,
 * a mounted path by its plugin; Vault answers the help object itself, no envelope.
 */
export class RouteStage implements Stage {
  readonly name = 'route';

  constructor(
    private readonly routes: () => readonly OwnRoute[],
    private readonly mounts: Pick<MountRouting, 'handle' | 'help'>,
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
        x.response = await this.mounts.handle(target.mounted, req, req.operation, caller?.token.accessor ?? '');
        return;
      default:
        throw unsupportedPath(req.path);
    }
  }
}
