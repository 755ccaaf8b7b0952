import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CofferError } from '#contracts';
import { sendError } from './pipeline/envelope.js';

/**
 * What Nest or Fastify reject before the ApiController runs (a path outside /v1/, a method no route has) still
 * answers in Vault's shape: `{"errors": []}` with Vault's status.
 */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH']);

@Catch()
export class VaultExceptionFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const method = http.getRequest<FastifyRequest>().method;
    // No route matched because no route has this verb: Vault calls that 405, not 404.
    const unknownVerb = !KNOWN_METHODS.has(method) && toCofferError(exception).code === 'not-found';
    sendError(http.getResponse<FastifyReply>(), unknownVerb ? new CofferError('unsupported-operation', '') : toCofferError(exception));
  }
}

export function toCofferError(exception: unknown): CofferError {
  if (exception instanceof CofferError) return exception;
  const status =
    exception instanceof HttpException
      ? exception.getStatus()
      : Number((exception as { statusCode?: number })?.statusCode ?? 500);
  switch (status) {
    case 404:
      return new CofferError('not-found', '');
    case 405:
      return new CofferError('unsupported-operation', '');
    case 413:
      return new CofferError('payload-too-large', 'http: request body too large');
    case 400:
      return new CofferError('invalid-request', 'error parsing JSON');
    default:
      return new CofferError('internal', status >= 500 ? 'internal error' : '');
  }
}
