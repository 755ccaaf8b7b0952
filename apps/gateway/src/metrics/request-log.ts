import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import { isListRequest } from '../http/list-verb.js';
import type { Operation } from '../vault-http.js';
import { GatewayMetrics, operationLabel } from './metrics.js';

/**
 * Every answered `/v1/...` request, once: counted and timed in GatewayMetrics and, with `COFFER_ACCESS_LOG=1`, one
 * access-log line. The ApiController calls it for everything it handles; the exception filter for what Fastify or
 * Nest refused before the controller ran (a body too large, an unknown verb), so no request is left out.
 */
@Injectable()
export class RequestLog {
  private readonly access?: ServiceContext['log'];

  constructor(
    private readonly metrics: GatewayMetrics,
    @Inject(SERVICE_CONTEXT) ctx: Pick<ServiceContext, 'log' | 'tunables'>,
  ) {
    this.access = ctx.tunables.accessLog ? ctx.log.child({ component: 'access' }) : undefined;
  }

  /**
   * Called once the reply is sent, so its status is final. `operation` is the one the controller decoded (Vault's
   * `help` included); without it, the verb's.
   */
  answered(http: FastifyRequest, reply: FastifyReply, operation?: Operation | 'help'): void {
    const listVerb = isListRequest(http.raw);
    const path = http.url.split('?')[0]!;
    const label = operation ?? operationLabel(http.method, listVerb);
    this.metrics.observe(label, path, reply.statusCode, reply.elapsedTime / 1000);
    // The path without its query (a query may carry a value); never a header or a body (tokens, secrets).
    this.access?.info(
      {
        requestId: reply.getHeader('x-request-id'),
        method: listVerb ? 'LIST' : http.method,
        path,
        operation: label,
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime),
        remote: http.ip,
      },
      'request',
    );
  }
}
