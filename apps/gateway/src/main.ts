import type http from 'node:http';
import type https from 'node:https';
import type { CofferConfig } from '#config';
import { Module } from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { BusModule } from '#bus';
import { SERVICE_CONTEXT, nestLogger, prometheusText, type RunningService, type ServiceContext } from '#runtime';
import { mountTableProjection, type MountTableState } from '#mount-table';
import { ProjectionHost } from '#runtime';
import { ApiController } from './api.controller.js';
import { AuditBroker, AuditHandlers } from './audit/index.js';
import { MountRouting } from './mounts/mount-routing.js';
import { ReloadHandlers } from './mounts/reload.handlers.js';
import { MOUNT_TABLE, mountTableProvider } from './mounts/mount-table.provider.js';
import { SysMountsHandlers } from './sys-mounts/sys-mounts.handlers.js';
import { bindListeners, closeListeners, createServerFor, reloadListenerTls } from './http/listeners.js';
import { Router } from './router.js';
import { ServiceStatusProbe } from './service-status.js';
import { SysCatalogHandlers } from './catalog/sys-catalog.handlers.js';
import { Authenticator } from './auth/authenticator.js';
import { tokenStoreProviders } from './tokens/token-store.provider.js';
import { LEASE_MANAGER, leaseManagerProvider } from './leases/lease-manager.provider.js';
import type { LeaseManager } from './leases/lease-manager.js';
import { PolicyHandlers } from './policies/policies.handlers.js';
import { PolicyService } from './policies/policy.service.js';
import { SealHandlers } from './seal/seal.handlers.js';
import { SealService } from './seal/seal.service.js';
import { SealStore } from './seal/seal.store.js';
import { VaultExceptionFilter } from './vault-exception.filter.js';
import { GatewayMetrics } from './metrics/metrics.js';
import { RequestLog } from './metrics/request-log.js';
import { InfoHandlers } from './health/info.handlers.js';
import { registerUi } from './ui/ui-static.js';

@Module({})
class GatewayModule {}

export interface RunningGateway extends RunningService {
  /** The first listener's address as bound (port 0 in tests picks a free one). */
  readonly address: { host: string; port: number };
  /** Every listener as bound, in config order. */
  readonly addresses: { host: string; port: number; tls: boolean }[];
  /** SIGHUP: TLS listeners take the certificate and key the config's files hold now. Throws if one cannot be read. */
  reloadTls(config: CofferConfig): void;
  /** For the dev server, which initializes and unseals itself at start. */
  readonly seal: SealService;
}

/**
 * Starts the HTTP edge on every configured listener (plain or TLS). Fastify owns the first listener's server; the
 * others serve the same handler. The body limit is the first listener's: Fastify applies one limit per app.
 */
export async function startGateway(ctx: ServiceContext): Promise<RunningGateway> {
  const listeners = ctx.config.listeners;
  const listener = listeners[0];
  let server: http.Server | https.Server | undefined;
  let handler: http.RequestListener | undefined;
  const adapter = new FastifyAdapter({
    bodyLimit: listener.maxRequestSize,
    // We keep the server so that the listeners module can hook its sockets (LIST support, TLS) and listen itself.
    serverFactory: (h: http.RequestListener) => {
      handler = h;
      server = createServerFor(listener, h);
      return server as http.Server;
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    {
      module: GatewayModule,
      imports: [BusModule.forRoot(ctx.bus)],
      controllers: [ApiController],
      providers: [
        { provide: SERVICE_CONTEXT, useValue: ctx },
        { provide: APP_FILTER, useClass: VaultExceptionFilter },
        Router,
        ServiceStatusProbe,
        SysCatalogHandlers,
        { provide: SealStore, inject: [SERVICE_CONTEXT], useFactory: (c: ServiceContext) => new SealStore(c.dataSource) },
        SealService,
        SealHandlers,
        ...tokenStoreProviders,
        PolicyService,
        PolicyHandlers,
        Authenticator,
        mountTableProvider,
        SysMountsHandlers,
        MountRouting,
        ReloadHandlers,
        GatewayMetrics,
        RequestLog,
        InfoHandlers,
        AuditBroker,
        AuditHandlers,
        leaseManagerProvider,
      ],
    },
    adapter,
    { bodyParser: false, logger: nestLogger(ctx.log) },
  );
  const fastify = app.getHttpAdapter().getInstance();
  // Bodies reach the handler as bytes whatever their type: Vault's own rules decide how to read them.
  // Fastify's own JSON and text parsers go first, or `Content-Type: application/json` would never reach parseBody.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  if (ctx.config.ui) registerUi(fastify, ctx.log);
  await app.init();
  await fastify.ready();
  await app.get(PolicyService).start();
  const mountTable = app.get<ProjectionHost<MountTableState>>(MOUNT_TABLE);
  await mountTable.start();
  await app.get(AuditBroker).start();
  // Every gateway expires leases; there is no leader (leases/lease-manager.ts).
  const leases = app.get<LeaseManager>(LEASE_MANAGER);
  leases.start();
  if (!server || !handler) throw new Error('gateway: HTTP server was not created');
  let bound: Awaited<ReturnType<typeof bindListeners>>;
  try {
    bound = await bindListeners(listeners, handler, ctx.log, server);
  } catch (err) {
    // EADDRINUSE and the like: nothing listens, so nothing of this gateway may keep running (its bus handlers would).
    mountTable.stop();
    await app.close().catch(() => undefined);
    throw err;
  }
  return {
    service: 'gateway',
    address: { host: bound[0].host, port: bound[0].port },
    addresses: bound.map(({ host, port, tls }) => ({ host, port, tls })),
    seal: app.get(SealService),
    // The same registry as sys/metrics, for the process's health port.
    metrics: () => prometheusText(app.get(GatewayMetrics).registry),
    reloadTls: (config) => reloadListenerTls(bound, config.listeners, ctx.log),
    async close() {
      await closeListeners(bound);
      mountTable.stop();
      await leases.stop();
      await app.close();
    },
  };
}
