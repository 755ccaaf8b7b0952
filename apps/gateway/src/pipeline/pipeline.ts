import type { VaultResponse } from '../vault-http.js';
import type { EdgeRequest, Exchange, Stage } from './exchange.js';

/**
 * Every request the gateway serves, its own, a plugin's or a help request, goes through these stages in this order
 * (Vault's request_handling.go is the model). The order lives here and in the gateway's README; what each stage
 * does lives in its own file. When a stage throws, the later stages that define `failed` see the error (the
 * audit-response stage records it), and the error goes on to the envelope.
 *
 *   1. seal          seal.stage.ts          sealed: only the seal paths answer
 *   2. parse         parse.stage.ts         request data from body or query, by operation
 *   3. authenticate  authenticate.stage.ts  the token (or an unauthenticated path)
 *   4. authorize     authorize.stage.ts     existence check, then the ACL on path and data, sudo
 *   5. audit-request audit.stage.ts         the request entry; no device took it: 500, nothing runs
 *   6. route         route.stage.ts         the gateway's own handler, or a mount's plugin, or help
 *   7. response      response.stage.ts      logins become tokens under the issuance rule
 *   7a. lease        lease.stage.ts         a plugin's secret becomes a lease (lease_id, lease_duration, renewable)
 *   7b. wrapping     wrapping.stage.ts      X-Vault-Wrap-TTL: the response into a response-wrapping token
 *   8. audit-response audit.stage.ts        the response entry (what the client gets), or the error
 *   9. envelope      envelope.ts            Vault's JSON envelope or `{"errors": [...]}` (the controller sends it)
 */
export class Pipeline {
  constructor(private readonly stages: readonly Stage[]) {}

  async run(edge: EdgeRequest): Promise<VaultResponse> {
    const x = { edge } as Exchange;
    let i = 0;
    try {
      for (; i < this.stages.length; i++) await this.stages[i].run(x);
    } catch (err) {
      // A request refused or failed on the way still reaches the stages that record every outcome (audit).
      for (const stage of this.stages.slice(i + 1)) await stage.failed?.(x, err);
      throw err;
    }
    if (!x.response) throw new Error(`gateway pipeline: no stage answered ${edge.path}`);
    return x.response;
  }
}
