import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { Bus } from '../bus/bus.js';
import type { ServiceName } from '../contracts/subjects.js';
import type { ServiceStatus } from '../contracts/messages.js';
import type { EventStore } from '../event-store/index.js';
import type { CofferConfig, Tunables } from '../config/index.js';
import type { BarrierLink, BarrierState } from './barrier-state.js';

/**
 * Everything a service is started with. The server command builds it once per process and hands the same bus and
 * store to every service it starts there, whether that is one service in a container or all four in the dev server.
 */
export interface ServiceContext {
  service: ServiceName;
  /** Distinguishes instances of one service in status replies and logs. */
  instance: string;
  bus: Bus;
  dataSource: DataSource;
  events: EventStore;
  /** This process's barrier: sealed until the cluster unseals; shared by the services of the process. */
  barrier: BarrierState;
  barrierLink: BarrierLink;
  /**
   * Live: the server command updates the reloadable fields (log_level, default_lease_ttl, max_lease_ttl) in place on
   * SIGHUP, so read them where they are used, never copy them at start.
   */
  config: CofferConfig;
  /** Timing knobs from the environment (libs/config `readTunables`), read once per process. */
  tunables: Tunables;
  /** Reported as seal-status `storage_type`: the dev server's embedded store is not the production one. */
  storageType: 'postgresql' | 'pglite';
  log: Logger;
  /** Wall-clock start, reported by status. */
  startedAt: Date;
  /** Catch-up safety-net period for projections (the broadcast is the fast path). */
  catchUpIntervalMs: number;
}

export interface RunningService {
  readonly service: ServiceName;
  /** The service's metrics as Prometheus text, for the process's health port (`/metrics`); absent: none. */
  metrics?(): Promise<string>;
  close(): Promise<void>;
}

export type ServiceStarter = (ctx: ServiceContext) => Promise<RunningService>;

export function newInstanceId(service: ServiceName): string {
  return `${service}-${randomUUID().slice(0, 8)}`;
}

/** A service's answer to `coffer.<service>.status`: the same fields from every service. */
export function serviceStatus(ctx: ServiceContext, projections: ServiceStatus['projections'] = {}): ServiceStatus {
  return {
    service: ctx.service,
    instance: ctx.instance,
    pid: process.pid,
    startedAt: ctx.startedAt.toISOString(),
    // Reported sealed until the unseal hooks have run: what it serves is not current before (BarrierState.ready).
    sealed: !ctx.barrier.ready,
    projections,
  };
}
