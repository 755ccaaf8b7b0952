import { Catch, type DynamicModule, Global, Module, type RpcExceptionFilter, type ArgumentsHost } from '@nestjs/common';
import { BaseRpcContext, type CustomTransportStrategy, Server } from '@nestjs/microservices';
import { isObservable, lastValueFrom, type Observable, throwError } from 'rxjs';
import type { Logger } from 'pino';
import type { Bus, Subscription } from './bus.js';
import { encodeFailure } from './bus.js';
import { queueGroup, type ServiceName } from '../contracts/subjects.js';

/** Injection token of the Bus in every service's module. */
export const BUS = Symbol('coffer.bus');

/**
 * Nest transport strategy over any Bus. `@MessagePattern(subject)` handlers join the service's queue group (one
 * instance answers each request); `@EventPattern(subject)` handlers are broadcast listeners (every instance hears
 * each message). Whether the bus is NATS or in process is decided here, never in a handler.
 */
export class BusTransport extends Server implements CustomTransportStrategy {
  private subscriptions: Subscription[] = [];

  constructor(
    private readonly bus: Bus,
    private readonly service: ServiceName,
    private readonly log: Logger,
  ) {
    super();
  }

  listen(callback: (...optionalParams: unknown[]) => void): void {
    for (const [subject, handler] of this.messageHandlers) {
      const queue = handler.isEventHandler ? undefined : queueGroup(this.service);
      const sub = this.bus.subscribe(
        subject,
        async (data) => {
          const context = new BaseRpcContext([subject]);
          const result = await handler(data, context);
          const settled = isObservable(result) ? await lastValueFrom(result as Observable<unknown>, { defaultValue: null }) : result;
          return settled;
        },
        { queue },
      );
      this.subscriptions.push(sub);
      this.log.debug({ subject, queue }, 'listening');
    }
    callback();
  }

  close(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
  }

  on(): void {
    // Bus status events are logged by the bus itself.
  }

  unwrap<T>(): T {
    return this.bus as T;
  }
}

/** Keeps CofferError's code and message on the way back over the bus; anything else becomes `internal`. */
@Catch()
export class RpcErrorFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    const failure = encodeFailure(exception);
    return throwError(() => (failure.ok ? undefined : failure.error));
  }
}

@Global()
@Module({})
export class BusModule {
  static forRoot(bus: Bus): DynamicModule {
    return { module: BusModule, providers: [{ provide: BUS, useValue: bus }], exports: [BUS] };
  }
}
