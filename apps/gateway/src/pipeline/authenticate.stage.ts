import type { Authenticator } from '../auth/authenticator.js';
import type { MountRouting } from '../mounts/mount-routing.js';
import type { Exchange, Stage } from './exchange.js';

/**
 * Stage 3, authenticate: the request's token becomes a caller (one use of a limited-use token spent), unless the
 * path is one Vault serves without a token: the gateway's open routes, or a path the mount's plugin declared
 * unauthenticated. Help always needs a token. Resolves the mount for paths the gateway does not serve itself.
 */
export class AuthenticateStage implements Stage {
  readonly name = 'authenticate';

  constructor(
    private readonly auth: Pick<Authenticator, 'authenticate'>,
    private readonly mounts: Pick<MountRouting, 'resolveFresh' | 'isUnauthenticated'>,
  ) {}

  async run(x: Exchange): Promise<void> {
    if (!x.target) {
      const mounted = await this.mounts.resolveFresh(x.req.path);
      x.target = mounted ? { kind: 'mount', mounted, unauthenticated: await this.mounts.isUnauthenticated(mounted) } : { kind: 'none' };
    }
    const open = x.target.kind === 'own' ? x.target.route.unauthenticated === true : x.target.kind === 'mount' && x.target.unauthenticated;
    if (x.edge.help || !open) {
      x.caller = await this.auth.authenticate(x.req);
      // The actor catalog, mount, policy and audit events record (audit/actor.ts).
      x.req.callerAccessor = x.caller.token.accessor;
    }
  }
}
