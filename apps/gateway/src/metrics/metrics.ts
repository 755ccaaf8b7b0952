import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { subjectKind } from '#bus';
import { qualifiedTable } from '#event-store';
import { findMount, type MountTableState } from '#mount-table';
import { SERVICE_CONTEXT, prometheusText, type ProjectionHost, type ServiceContext } from '#runtime';
import { MOUNT_TABLE } from '../mounts/mount-table.provider.js';
import type { VaultRequest, VaultResponse } from '../vault-http.js';

/**
 * This gateway's metrics (prom-client), served at `sys/metrics`: Prometheus text with `?format=prometheus`, JSON
 * otherwise. A registry of its own, not prom-client's global one, so two gateways in one test process never mix.
 * Labels never carry a path or anything a client chose beyond the operation: no secret, and bounded cardinality.
 */
@Injectable()
export class GatewayMetrics implements OnModuleDestroy {
  readonly registry = new Registry();
  private readonly requests: Counter<'operation' | 'mount_type' | 'status'>;
  private readonly latency: Histogram<'operation' | 'mount_type'>;
  private readonly stopObservingBus: () => void;

  constructor(
    @Inject(SERVICE_CONTEXT) ctx: ServiceContext,
    @Inject(MOUNT_TABLE) private readonly mounts: ProjectionHost<MountTableState>,
  ) {
    this.registry.setDefaultLabels({ service: 'gateway', instance: ctx.instance });
    collectDefaultMetrics({ register: this.registry, prefix: 'coffer_' });
    this.requests = new Counter({
      name: 'coffer_requests_total',
      help: 'HTTP API requests answered, by operation, mount type and status code.',
      labelNames: ['operation', 'mount_type', 'status'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'coffer_request_duration_seconds',
      help: 'Time from request to response, by operation and mount type.',
      labelNames: ['operation', 'mount_type'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    new Gauge({
      name: 'coffer_sealed',
      help: '1 while this gateway is sealed, 0 once unsealed.',
      registers: [this.registry],
      collect() {
        this.set(ctx.barrier.ready ? 0 : 1);
      },
    });
    // Every bus request of this process (the gateway asks the other services for nearly everything it serves):
    // by the contracts' `<service>.<verb>` and how it ended, never by anything a request carries.
    const busLatency = new Histogram({
      name: 'coffer_bus_request_duration_seconds',
      help: 'Bus requests this gateway made, from send to answer (or failure), by subject kind and outcome (ok, error, unavailable).',
      labelNames: ['subject', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.stopObservingBus = ctx.bus.observeRequests((subject, seconds, outcome) => busLatency.observe({ subject: subjectKind(subject), outcome }, seconds));
    // Cluster-wide counts, read from Postgres when scraped (the tables every gateway shares): rows, no contents.
    const counts = async (sql: string): Promise<Record<string, number> | undefined> => {
      try {
        const [row] = (await ctx.dataSource.query(sql)) as Record<string, string>[];
        return Object.fromEntries(Object.entries(row ?? {}).map(([k, v]) => [k, Number(v)]));
      } catch {
        return undefined; // the store is away: the last value stays rather than the scrape failing
      }
    };
    new Gauge({
      name: 'coffer_tokens',
      help: 'Tokens of the cluster that have not expired (root tokens included).',
      registers: [this.registry],
      async collect() {
        const n = await counts(`SELECT count(*) AS live FROM ${qualifiedTable(ctx.dataSource, 'coffer_tokens')} WHERE expires_at IS NULL OR expires_at > now()`);
        if (n) this.set(n.live ?? 0);
      },
    });
    new Gauge({
      name: 'coffer_leases',
      help: 'Leases the cluster holds, by state: active (not yet expired) or expired (awaiting revocation).',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const n = await counts(
          `SELECT count(*) FILTER (WHERE expires_at > now()) AS active, count(*) FILTER (WHERE expires_at <= now()) AS expired FROM ${qualifiedTable(ctx.dataSource, 'coffer_leases')}`,
        );
        if (!n) return;
        this.set({ state: 'active' }, n.active ?? 0);
        this.set({ state: 'expired' }, n.expired ?? 0);
      },
    });
    new Gauge({
      name: 'coffer_mounts',
      help: 'Mounts in the mount table, by table (secret or auth).',
      labelNames: ['table'],
      registers: [this.registry],
      collect: () => {
        const state = this.mounts.state;
        const g = this.registry.getSingleMetric('coffer_mounts') as Gauge<'table'>;
        g.set({ table: 'secret' }, Object.keys(state.secret).length);
        g.set({ table: 'auth' }, Object.keys(state.auth).length);
      },
    });
  }

  onModuleDestroy(): void {
    this.stopObservingBus();
  }

  /** One answered request (RequestLog calls it): `path` is the URL path, `/v1/` included, without its query. */
  observe(operation: string, path: string, status: number, seconds: number): void {
    if (!path.startsWith('/v1/')) return;
    const mountType = this.mountTypeOf(path.slice('/v1/'.length));
    this.requests.inc({ operation, mount_type: mountType, status: String(status) });
    this.latency.observe({ operation, mount_type: mountType }, seconds);
  }

  /** `sys/...` is `system`; a mounted path is its mount's type; anything else `none`. Never the path itself. */
  private mountTypeOf(path: string): string {
    if (path.startsWith('sys/') || path === 'sys') return 'system';
    const state = this.mounts.state;
    const auth = path.startsWith('auth/');
    const mount = findMount(auth ? state.auth : state.secret, auth ? path.slice('auth/'.length) : path);
    return mount ? mount.type : auth && path.startsWith('auth/token/') ? 'token' : 'none';
  }

  async handle(req: VaultRequest): Promise<VaultResponse> {
    const format = req.query.get('format');
    if (format === 'prometheus') {
      return { kind: 'raw', status: 200, contentType: this.registry.contentType, body: Buffer.from(await prometheusText(this.registry)) };
    }
    return { kind: 'json', status: 200, body: await this.registry.getMetricsAsJSON() };
  }
}

export function operationLabel(method: string, listVerb: boolean): string {
  if (listVerb) return 'list';
  switch (method) {
    case 'GET':
      return 'read';
    case 'HEAD':
      return 'head';
    case 'DELETE':
      return 'delete';
    case 'PATCH':
      return 'patch';
    case 'PUT':
    case 'POST':
      return 'update';
    default:
      return 'other';
  }
}
