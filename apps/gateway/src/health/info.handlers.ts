import os from 'node:os';
import { Injectable } from '@nestjs/common';
import type { VaultResponse } from '../vault-http.js';

/**
 * `sys/leader` and `sys/host-info`, as far as they make sense for Coffer. There is no leader: every gateway is
 * active and the services behind them scale as queue groups, so `sys/leader` answers as a Vault without HA does.
 */
@Injectable()
export class InfoHandlers {
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
