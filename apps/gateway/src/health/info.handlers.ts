import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { Inject, Injectable } from '@nestjs/common';
import { BUS, type Bus } from '#bus';
import { SERVICE_NAMES, subjects, type CensusRequest, type InstanceState } from '#contracts';
import type { VaultResponse } from '../vault-http.js';

/**
 * How long a census listens for answers. Every instance answers at once from memory, so this only has to outlast a
 * round trip through NATS under load; an instance slower than this is left out, which the answer says.
 */
const CENSUS_WINDOW_MS = 750;

/**
 * `sys/leader` and `sys/host-info`, as far as they make sense for Coffer. There is no leader: every gateway is
 * active and the services behind them scale as queue groups, so `sys/leader` answers as a Vault without HA does.
 */
@Injectable()
export class InfoHandlers {
  constructor(@Inject(BUS) private readonly bus: Bus) {}

  /**
   * `sys/instances` (Coffer's, not Vault's): every instance of every service that answers a census within the
   * window, with its state, and the service types that have none. Sorted, so two calls compare line by line.
   */
  async instances(): Promise<VaultResponse> {
    const found = new Map<string, InstanceState>();
    const replyTo = subjects.censusReply(randomUUID());
    const sub = this.bus.subscribe(replyTo, (data) => {
      const s = data as Partial<InstanceState> | null;
      if (s && typeof s.instance === 'string' && typeof s.service === 'string') found.set(s.instance, s as InstanceState);
    });
    try {
      // The subscription must be on the server before anyone answers.
      await this.bus.flush();
      this.bus.publish(subjects.census, { replyTo } satisfies CensusRequest);
      await new Promise((r) => setTimeout(r, CENSUS_WINDOW_MS));
    } finally {
      sub.unsubscribe();
    }
    const instances = [...found.values()].sort((a, b) => a.service.localeCompare(b.service) || a.instance.localeCompare(b.instance));
    const missing = SERVICE_NAMES.filter((name) => !instances.some((i) => i.service === name));
    return {
      kind: 'envelope',
      data: {
        instances: instances.map((i) => ({
          service: i.service,
          instance: i.instance,
          host: i.host,
          pid: i.pid,
          version: i.version,
          started_at: i.startedAt,
          state: i.state,
        })),
        missing_services: missing,
        window_ms: CENSUS_WINDOW_MS,
      },
    };
  }

  leader(): VaultResponse {
    return {
      kind: 'json',
      status: 200,
      body: {
        ha_enabled: false,
        is_self: false,
        active_time: '0001-01-01T00:00:00Z',
        leader_address: '',
        leader_cluster_address: '',
        performance_standby: false,
        performance_standby_last_remote_wal: 0,
      },
    };
  }

  /** This gateway's host, in Vault's field names (a subset: what Node can tell without reading /proc by hand). */
  hostInfo(): VaultResponse {
    const cpus = os.cpus();
    const total = os.totalmem();
    const free = os.freemem();
    return {
      kind: 'envelope',
      data: {
        timestamp: new Date().toISOString(),
        cpu: cpus.map((c, i) => ({ cpu: i, modelName: c.model, mhz: c.speed })),
        cpu_times: cpus.map((c, i) => ({ cpu: `cpu${i}`, user: c.times.user / 1000, system: c.times.sys / 1000, idle: c.times.idle / 1000, nice: c.times.nice / 1000, irq: c.times.irq / 1000 })),
        host: {
          hostname: os.hostname(),
          uptime: Math.floor(os.uptime()),
          bootTime: Math.floor(Date.now() / 1000 - os.uptime()),
          os: process.platform,
          platform: os.type(),
          kernelVersion: os.release(),
          kernelArch: os.arch(),
        },
        memory: { total, available: free, free, used: total - free, usedPercent: total ? ((total - free) / total) * 100 : 0 },
      },
    };
  }
}
