import { RESPONSE_WRAPPING_POLICY_NAME } from '../acl/index.js';
import type { Caller } from '../auth/authenticator.js';
import type { TokenStore } from '../tokens/token-store.js';
import type { VaultRequest, VaultResponse } from '../vault-http.js';
import { invalidWrappingToken, unwrapped, wrapResponse } from './wrapping.js';

/** Vault wraps `sys/wrapping/wrap` for five minutes when the client names no TTL. */
const DEFAULT_WRAP_TTL = 300;

type Store = Pick<TokenStore, 'createWrapping' | 'takeWrapped' | 'lookup'>;

/** `sys/wrapping/*`, Vault's response-wrapping endpoints. */
export class WrappingHandlers {
  constructor(private readonly tokens: Store) {}

  /** `sys/wrapping/wrap`: the request's data, wrapped (by the wrapping stage). */
  wrap(req: VaultRequest): VaultResponse {
    return { kind: 'envelope', data: req.data, wrapByDefault: DEFAULT_WRAP_TTL };
  }

  /**
   * `sys/wrapping/unwrap`: the wrapped response, once. With no `token` in the body the caller's own token is the
   * wrapping token: authenticating spent its single use (it is already revoked), and its entry holds the response.
   */
  async unwrap(req: VaultRequest, caller: Caller): Promise<VaultResponse> {
    const named = tokenField(req);
    if (!named || named === caller.token.token) {
      const own = caller.token;
      if (!own.wrapped || !own.policies.includes(RESPONSE_WRAPPING_POLICY_NAME)) throw invalidWrappingToken();
      return unwrapped(own);
    }
    const entry = await this.tokens.takeWrapped(named);
    if (!entry) throw invalidWrappingToken();
    return unwrapped(entry);
  }

  /** `sys/wrapping/lookup` (no token needed, as in Vault): where and when a wrapping token was made; no use spent. */
  async lookup(req: VaultRequest): Promise<VaultResponse> {
    const token = tokenField(req) || req.token || '';
    const entry = token ? await this.tokens.lookup(token) : undefined;
    if (!entry?.wrapped) throw invalidWrappingToken();
    return {
      kind: 'envelope',
      data: { creation_path: entry.wrapped.creationPath, creation_time: entry.issueTime, creation_ttl: entry.creationTtl },
    };
  }

  /** `sys/wrapping/rewrap`: the same response under a new wrapping token with the same TTL; the old one is spent. */
  async rewrap(req: VaultRequest): Promise<VaultResponse> {
    const token = tokenField(req);
    const entry = token ? await this.tokens.takeWrapped(token) : undefined;
    if (!entry?.wrapped) throw invalidWrappingToken();
    return wrapResponse(this.tokens, entry.creationTtl, entry.wrapped);
  }
}

function tokenField(req: VaultRequest): string {
  const value = req.data.token;
  return typeof value === 'string' ? value : '';
}
