import type { TokenStore } from '../tokens/token-store.js';
import { authOf } from '../tokens/token.handlers.js';
import type { Exchange, Stage } from './exchange.js';

/**
 * Stage 7, response checks. A login (an auth method's `auth` block) becomes a token here and nowhere else: the
 * token store applies the issuance rule (tokens/token-rules.ts, `issuancePolicies`), so no plugin can hand out
 * `root` or Vault's reserved policies. Response wrapping follows, in its own stage (wrapping.stage.ts).
 */
export class ResponseStage implements Stage {
  readonly name = 'response';

  constructor(private readonly tokens: Pick<TokenStore, 'createForLogin'>) {}

  async run(x: Exchange): Promise<void> {
    const response = x.response;
    if (response?.kind !== 'envelope' || !response.login) return;
    const { login, ...rest } = response;
    const issued = await this.tokens.createForLogin(login);
    x.response = { ...rest, auth: authOf(issued.token, issued.entry) };
  }
}
