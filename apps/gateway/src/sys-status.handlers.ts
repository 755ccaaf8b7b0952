import { Inject, Injectable } from '@nestjs/common';
import { BUILD_DATE, COFFER_VERSION, CofferError } from '#contracts';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import { ServiceStatusProbe } from './service-status.js';
import type { VaultRequest, VaultResponse } from './vault-http.js';

/** Query flags of sys/health that override a status code (Vault's health.mdx). */
const CODE_FLAGS = ['activecode', 'standbycode', 'drsecondarycode', 'performancestandbycode', 'sealedcode', 'uninitcode'] as const;

/**
 * sys/health and sys/seal-status. Until the barrier exists every service reports itself unsealed and the cluster
 * counts as initialized; the seal issue replaces these facts with the stored seal configuration.
 */
@Injectable()
export class SysStatusHandlers {
  constructor(
    private readonly probe: ServiceStatusProbe,
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
  ) {}

  async health(req: VaultRequest): Promise<VaultResponse> {
    const codes = healthCodes(req.query);
    const services = await this.probe.all();
    const sealed = services.some((s) => s.sealed);
    const initialized = true;
    const status = !initialized ? codes.uninitcode : sealed ? codes.sealedcode : codes.activecode;
    return {
      kind: 'json',
      status,
      body: req.operation === 'head' ? undefined : {
        initialized,
        sealed,
        standby: false,
        performance_standby: false,
        replication_performance_mode: 'disabled',
        replication_dr_mode: 'disabled',
        server_time_utc: Math.floor(Date.now() / 1000),
        version: COFFER_VERSION,
        enterprise: false,
        echo_duration_ms: 0,
        clock_skew_ms: 0,
      },
    };
  }

  async sealStatus(): Promise<VaultResponse> {
    const services = await this.probe.all();
    return {
      kind: 'json',
      status: 200,
      body: {
        type: 'shamir',
        initialized: true,
        sealed: services.some((s) => s.sealed),
        t: 0,
        n: 0,
        progress: 0,
        nonce: '',
        version: COFFER_VERSION,
        build_date: BUILD_DATE,
        migration: false,
        recovery_seal: false,
        storage_type: this.ctx.storageType,
      },
    };
  }
}

function healthCodes(query: URLSearchParams): Record<(typeof CODE_FLAGS)[number], number> {
  const codes = {
    activecode: 200,
    standbycode: 429,
    drsecondarycode: 472,
    performancestandbycode: 473,
    sealedcode: 503,
    uninitcode: 501,
  };
  for (const flag of CODE_FLAGS) {
    const raw = query.get(flag);
    if (raw === null) continue;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 100 || n > 599) {
      throw new CofferError('invalid-request', `unable to parse ${flag} parameter: ${JSON.stringify(raw)}`);
    }
    codes[flag] = n;
  }
  return codes;
}
