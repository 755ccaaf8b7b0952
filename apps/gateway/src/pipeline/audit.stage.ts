import { AuditFailure, type AuditBroker, type AuditContext } from '../audit/broker.js';
import type { Exchange, Stage } from './exchange.js';

/**
 * Stages 5 and 8, audit (`src/audit/`), as Vault's audit broker: an entry before a request is handled and one after.
 * Fail closed: with a device enabled, a request whose entry no device took is answered 500 and does not run; a
 * response no device took is a 500 too, so nothing leaves unrecorded. A request refused before stage 5 (bad token,
 * the ACL, a verb the path does not serve) still gets both entries, with the error, from `failed`. Requests that
 * never became one (sealed, a body that does not parse) are not recorded, as in Vault: no `req` was built.
 */
export class AuditRequestStage implements Stage {
  readonly name = 'audit-request';

  constructor(private readonly broker: Pick<AuditBroker, 'auditRequest'>) {}

  // The broker's promise itself, not awaited here: an async frame of this stage's own cost every request a promise
  // and a turn of the microtask queue (a visible share of audit's time in the profile).
  run(x: Exchange): Promise<void> {
    const ctx = contextOf(x);
    x.audit = ctx;
    return this.broker.auditRequest(ctx);
  }
}

export class AuditResponseStage implements Stage {
  readonly name = 'audit-response';

  constructor(private readonly broker: Pick<AuditBroker, 'auditResponse'>) {}

  /** The response as the client gets it: a login's issued token, a wrapped response's `wrap_info`. */
  run(x: Exchange): Promise<void> {
    const ctx = x.audit ?? contextOf(x);
    ctx.response = x.response;
    return this.broker.auditResponse(ctx);
  }

  async failed(x: Exchange, err: unknown): Promise<void> {
    // No device took the request entry: the 500 stands, and there is nothing to add a response to.
    if (err instanceof AuditFailure || !x.req) return;
    const ctx = x.audit ?? contextOf(x);
    ctx.error = err;
    await this.broker.auditResponse(ctx);
  }
}

function contextOf(x: Exchange): AuditContext {
  return {
    request: x.req,
    operation: x.edge.help ? 'help' : undefined,
    caller: x.caller,
    mount: x.target?.kind === 'mount' ? x.target.mounted.mount : undefined,
  };
}
