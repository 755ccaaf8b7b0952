import { type DynamicModule, type INestMicroservice, Module, type Provider, type Type } from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { BusModule, BusTransport, RpcErrorFilter } from '../bus/nest.js';
import { nestLogger } from './logger.js';
import type { ServiceContext } from './service.js';

export const SERVICE_CONTEXT = Symbol('coffer.service-context');

export interface ServiceModuleParts {
  controllers?: Type<unknown>[];
  providers?: Provider[];
}

@Module({})
class ServiceRootModule {}

/** The root module every bus-only service shares: its context, the bus, and the error filter that keeps codes. */
export function serviceModule(ctx: ServiceContext, parts: ServiceModuleParts): DynamicModule {
  return {
    module: ServiceRootModule,
    imports: [BusModule.forRoot(ctx.bus)],
    controllers: parts.controllers ?? [],
    providers: [
      { provide: SERVICE_CONTEXT, useValue: ctx },
      { provide: APP_FILTER, useClass: RpcErrorFilter },
      ...(parts.providers ?? []),
    ],
  };
}

/** Starts a Nest microservice whose handlers are served over the context's bus. */
export async function startMicroservice(ctx: ServiceContext, module: DynamicModule): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice(module, {
    strategy: new BusTransport(ctx.bus, ctx.service, ctx.log),
    logger: nestLogger(ctx.log),
  });
  await app.listen();
  // Subscriptions reach the NATS server asynchronously; a service announces itself ready only once they have.
  await ctx.bus.flush();
  return app;
}
