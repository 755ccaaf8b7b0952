import { sealedError } from '#contracts';
import type { Exchange, Stage } from './exchange.js';
import type { Router } from '../router.js';

/**
 * Stage 1, seal check: while sealed only the seal paths (health, seal status, init, unseal) answer; everything else,
 * help included, is Vault's 503 before any other work. The own-route match is made here, since it says which paths
 * those are; mounts are resolved later (their table is not readable while sealed).
 */
export class SealStage implements Stage {
  readonly name = 'seal';

  constructor(
    private readonly routes: Pick<Router, 'match'>,
    private readonly sealed: () => boolean,
  ) {}

  run(x: Exchange): void {
    const own = this.routes.match(x.edge.path);
    if (own) x.target = { kind: 'own', ...own };
    if (this.sealed() && (x.edge.help || !own?.route.whileSealed)) throw sealedError();
  }
}
