import { Inject, Injectable } from '@nestjs/common';
import { COFFER_VERSION, CofferError } from '#contracts';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import { ServiceStatusProbe } from '../service-status.js';
import type { VaultRequest, VaultResponse } from '../vault-http.js';
import { SealService } from './seal.service.js';

/** Query flags of sys/health that override a status code (Vault's health.mdx). */
const CODE_FLAGS = ['activecode', 'standbycode', 'drsecondarycode', 'performancestandbycode', 'sealedcode', 'uninitcode'] as const;

/** Vault's non-logical seal endpoints: sys/init, sys/unseal, sys/seal, sys/seal-status, sys/health. */
@Injectable()
export class SealHandlers {
  constructor(
    private readonly seal: SealService,
    private readonly probe: ServiceStatusProbe,
    @Inject(SERVICE_CONTEXT) private readonly ctx: Pick<ServiceContext, 'barrier' | 'barrierLink'>,
  ) {}

  async readInit(): Promise<VaultResponse> {
    return { kind: 'json', status: 200, body: { initialized: await this.seal.initialized() } };
  }

  async init(req: VaultRequest): Promise<VaultResponse> {
    const unsupported = ['pgp_keys', 'root_token_pgp_key', 'recovery_shares', 'recovery_threshold', 'recovery_pgp_keys'];
    for (const field of unsupported) {
      const v = req.data[field];
      if (v !== undefined && v !== null && v !== 0 && !(Array.isArray(v) && v.length === 0) && v !== '') {
        throw new CofferError('invalid-request', `${field} is not supported by Coffer yet`);
      }
    }
    const result = await this.seal.init({
      secretShares: integerField(req.data, 'secret_shares'),
      secretThreshold: integerField(req.data, 'secret_threshold'),
    });
    return { kind: 'json', status: 200, body: result };
  }

  async unseal(req: VaultRequest): Promise<VaultResponse> {
    // Vault decodes this body into an untagged Go struct: field names match case-insensitively.
    const field = (name: string) => Object.entries(req.data).find(([k]) => k.toLowerCase() === name)?.[1];
    const key = field('key');
    const reset = field('reset');
    if (key !== undefined && key !== null && typeof key !== 'string') {
      throw new CofferError('invalid-request', "'key' must be a valid hex or base64 string");
    }
    if (reset !== undefined && reset !== null && typeof reset !== 'boolean') {
      throw new CofferError('invalid-request', "'reset' must be a boolean");
    }
    const status = await this.seal.unseal(key === null || key === '' ? undefined : key, reset === true);
    return { kind: 'json', status: 200, body: status };
  }

  async sealNow(): Promise<VaultResponse> {
    await this.seal.seal();
    return { kind: 'empty' };
  }

  async sealStatus(): Promise<VaultResponse> {
    return { kind: 'json', status: 200, body: await this.seal.status() };
  }

  /**
   * Vault's health codes, for the cluster: sealed if this gateway is, and also if a backing service is. Only a
   * report: an unauthenticated request must never make anything hand out the keyring (a sealed process asks for it
   * itself, see BarrierLink).
   */
  async health(req: VaultRequest): Promise<VaultResponse> {
    const codes = healthCodes(req.query);
    const initialized = await this.seal.initialized();
    let sealed = !this.ctx.barrier.ready;
    let missing: string[] = [];
    if (initialized) {
      const survey = await this.probe.survey();
      const services = survey.running;
      missing = survey.missing;
      if (!sealed && services.some((s) => s.sealed)) {
        sealed = true;
      }
    }
    const status = !initialized ? codes.uninitcode : sealed ? codes.sealedcode : codes.activecode;
    const clusterId = sealed ? undefined : await this.seal.clusterId;
    return {
      kind: 'json',
      status,
      body:
        req.operation === 'head'
          ? undefined
          : {
              initialized,
              sealed,
              standby: false,
              performance_standby: false,
              replication_performance_mode: 'disabled',
              replication_dr_mode: 'disabled',
              server_time_utc: Math.floor(Date.now() / 1000),
              version: COFFER_VERSION,
              enterprise: false,
              ...(clusterId ? { cluster_name: `coffer-cluster-${clusterId.slice(0, 8)}`, cluster_id: clusterId } : {}),
              echo_duration_ms: 0,
              clock_skew_ms: 0,
              // Not Vault's: a service type with no instance at all. Reported, not turned into "sealed".
              ...(missing.length ? { coffer_missing_services: missing } : {}),
            },
    };
  }
}

function integerField(data: Record<string, unknown>, name: string): number {
  const v = data[name];
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  if (v === undefined) return 0;
  throw new CofferError('invalid-request', `invalid seal configuration: ${name} must be an integer`);
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
