import type { LeaseManager } from '../leases/lease-manager.js';
import type { Exchange, Stage } from './exchange.js';

/**
 * Stage 7a, leases: a plugin's secret becomes a lease here (leases/lease-manager.ts), tied to the calling token, so
 * the client's envelope carries Vault's lease_id, lease_duration and renewable. If recording fails, the plugin is
 * asked to revoke what it just created, so no credential outlives a lease nobody holds.
 */
export class LeaseStage implements Stage {
  readonly name = 'lease';

  constructor(private readonly leases: Pick<LeaseManager, 'register' | 'revokeUnrecorded'>) {}

  async run(x: Exchange): Promise<void> {
    const response = x.response;
    if (response?.kind !== 'envelope' || !response.leaseGrant) return;
    const { leaseGrant, ...rest } = response;
    let lease;
    try {
      lease = await this.leases.register(leaseGrant, x.caller?.token.accessor ?? '');
    } catch (err) {
      await this.leases.revokeUnrecorded(leaseGrant).catch(() => undefined);
      throw err;
    }
    x.response = { ...rest, lease };
  }
}
