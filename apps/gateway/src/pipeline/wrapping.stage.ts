import type { TokenStore } from '../tokens/token-store.js';
import { wrapResponse } from '../wrapping/wrapping.js';
import type { Exchange, Stage } from './exchange.js';

/**
 * Stage 7b, wrapping: when the client asked (`X-Vault-Wrap-TTL`, checked against the ACL's min/max wrapping TTL in
 * stage 4) or the route wraps by default (`sys/wrapping/wrap`), the response goes into a single-use
 * response-wrapping token and the client gets `wrap_info`. Runs after the response stage, so a wrapped login's token
 * is issued under the issuance rule first.
 */
export class WrappingStage implements Stage {
  readonly name = 'wrapping';

  constructor(private readonly tokens: Pick<TokenStore, 'createWrapping'>) {}

  async run(x: Exchange): Promise<void> {
    const response = x.response;
    if (response?.kind !== 'envelope' || response.wrapInfo) return;
    const ttl = x.req.wrapTtl ?? response.wrapByDefault;
    if (!ttl) return;
    x.response = await wrapResponse(this.tokens, ttl, {
      data: response.data ?? null,
      auth: response.auth ?? null,
      warnings: response.warnings,
      mountType: response.mountType,
      creationPath: x.req.path,
    });
  }
}
