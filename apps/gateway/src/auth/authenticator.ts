import { Inject, Injectable } from '@nestjs/common';
import type { Acl, AclOperation } from '../acl/index.js';
import { invalidToken, missingToken, permissionDenied } from '../pipeline/edge-errors.js';
import { PolicyService } from '../policies/policy.service.js';
import { TOKEN_STORE } from '../tokens/token-store.provider.js';
import type { CallerToken, TokenStore } from '../tokens/token-store.js';
import type { VaultRequest } from '../vault-http.js';
import { remoteAddressAllowed } from './bound-cidrs.js';

export interface Caller {
  token: CallerToken;
  acl: Acl;
}


/** Who is calling (token store) and what they may do (their policies' ACL), checked on every request. */
@Injectable()
export class Authenticator {
  constructor(
    @Inject(TOKEN_STORE) private readonly tokens: TokenStore,
    private readonly policies: PolicyService,
  ) {}

  /**
   * Resolves the request's token, spending one use of a limited-use token. A token bound to CIDRs is refused from any
   * other address before a use is spent, the way Vault refuses it (a plain `permission denied`, like a bad token).
   */
  async authenticate(req: VaultRequest): Promise<Caller> {
    if (!req.token) throw missingToken();
    const entry = await this.tokens.useOnce(req.token, (e) => remoteAddressAllowed(req.remoteAddress, e.boundCidrs));
    if (!entry) throw invalidToken();
    const token: CallerToken = { ...entry, token: req.token };
    return { token, acl: await this.policies.acl(entry.policies) };
  }

  /** Throws unless the caller's ACL allows `operation` on `path` (and sudo, when the path needs it). */
  authorize(caller: Caller, req: VaultRequest, operation: AclOperation, needsSudo: boolean): void {
    if (!this.allows(caller, req, operation, needsSudo)) throw permissionDenied();
  }

  /** The verdict `authorize` enforces, without throwing: a write judged as both create and update asks twice. */
  allows(caller: Caller, req: VaultRequest, operation: AclOperation, needsSudo: boolean): boolean {
    const result = caller.acl.check(req.path, operation, { data: req.data, wrapTtl: req.wrapTtl });
    return result.allowed && (!needsSudo || result.rootPrivs);
  }
}
