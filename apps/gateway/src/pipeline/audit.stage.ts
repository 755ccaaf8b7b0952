import type { Exchange, Stage } from './exchange.js';

/**
 * Stages 5 and 8, audit: Vault writes an audit entry before a request is handled and one after, and fails the
 * request when no audit device takes it. Coffer has no audit devices yet, so both are named no-ops: audit joins the
 * pipeline by filling these in, nowhere else.
 */
export class AuditRequestStage implements Stage {
  readonly name = 'audit-request';

  run(_x: Exchange): void {}
}

export class AuditResponseStage implements Stage {
  readonly name = 'audit-response';

  run(_x: Exchange): void {}
}
