import http from 'node:http';
import { Module } from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { BusModule } from '#bus';
import { SERVICE_CONTEXT, nestLogger, type RunningService, type ServiceContext } from '#runtime';
import { mountTableProjection, type MountTableState } from '#mount-table';
import { ProjectionHost } from '#runtime';
import { ApiController } from './api.controller.js';
import { AuditBroker, AuditHandlers } from './audit/index.js';
import { MountRouting } from './mounts/mount-routing.js';
import { ReloadHandlers } from './mounts/reload.handlers.js';
import { MOUNT_TABLE, SysMountsHandlers } from './sys-mounts.handlers.js';
import { listenWithListVerb } from './http/list-verb.js';
import { Router } from './router.js';
import { ServiceStatusProbe } from './service-status.js';
import { SysCatalogHandlers } from './sys-catalog.handlers.js';
import { Authenticator } from './auth/authenticator.js';
import { tokenStoreProviders } from './auth/token-store.provider.js';
import { PolicyHandlers } from './policies/policies.handlers.js';
import { PolicyService } from './policies/policy.service.js';
import { SealHandlers } from './seal/seal.handlers.js';
import { SealService } from './seal/seal.service.js';
import { SealStore } from './seal/seal.store.js';
import { VaultExceptionFilter } from './vault-exception.filter.js';

@Module({})
class GatewayModule {}

export interface RunningGateway extends RunningService {
  /** The address actually bound (port 0 in tests picks a free one). */
  readonly address: { host: string; port: number };
  /** For the dev server, which initializes and unseals itself at start. */
  readonly seal: SealService;
}

/** Starts the HTTP edge on the first configured listener. */
export async function startGateway(ctx: ServiceContext): Promise<RunningGateway> {
  const listener = ctx.config.listeners[0];
  const [host, portText] = splitAddress(listener.address);
  let server: http.Server | undefined;
  const adapter = new FastifyAdapter({
    bodyLimit: listener.maxRequestSize,
    // We keep the http.Server so that listenWithListVerb can hook its sockets (LIST support) and listen itself.
    serverFactory: (handler: http.RequestListener) => {
      server = http.createServer(handler);
      return server;
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
        { provide: MOUNT_TABLE, inject: [SERVICE_CONTEXT], useFactory: (c: ServiceContext) => ProjectionHost.of(c, mountTableProjection) },
        SysMountsHandlers,
        MountRouting,
        ReloadHandlers,
        AuditBroker,
        AuditHandlers,
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
  await app.init();
  await fastify.ready();
  await app.get(PolicyService).start();
  const mountTable = app.get<ProjectionHost<MountTableState>>(MOUNT_TABLE);
  await mountTable.start();
  await app.get(AuditBroker).start();
  if (!server) throw new Error('gateway: HTTP server was not created');
  const front = await listenWithListVerb(server, Number(portText), host);
  const bound = front.address();
  const address = { host, port: typeof bound === 'object' && bound ? bound.port : Number(portText) };
  ctx.log.info({ address: `${host}:${address.port}` }, 'gateway listening');
  return {
    service: 'gateway',
    address,
    seal: app.get(SealService),
    async close() {
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      // Keep-alive connections would hold close() open until their clients leave.
      front.closeAllConnections();
      await closed;
      mountTable.stop();
      await app.close();
    },
  };
}

function splitAddress(address: string): [string, string] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), address.slice(i + 1)];
}
