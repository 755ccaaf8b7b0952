import { randomUUID } from 'node:crypto';
import { All, Controller, Inject, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CofferError } from '#contracts';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import { sendError, sendResponse } from './pipeline/envelope.js';
import type { EdgeRequest } from './pipeline/exchange.js';
import { RequestLog } from './metrics/request-log.js';
import { Router } from './router.js';
import { checkPatchContentType, clientAddress, logicalPath, operationOf, tokenOf, wrapTtlOf } from './vault-http.js';

/**
 * Every `/v1/...` request enters here: decoded from HTTP (verb, path, query, raw body), run through the Router's
 * pipeline, and sent back in Vault's envelope.
 */
@Controller()
export class ApiController {
  constructor(
    private readonly router: Router,
    private readonly requests: RequestLog,
    @Inject(SERVICE_CONTEXT) private readonly ctx: Pick<ServiceContext, 'log'>,
  ) {}

  @All('v1/*')
  async handle(@Req() http: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const id = randomUUID();
    reply.header('x-request-id', id);
    let edge: EdgeRequest | undefined;
    try {
      edge = decode(id, http);
      sendResponse(reply, edge, await this.router.dispatch(edge));
    } catch (err) {
      if (!(err instanceof CofferError)) this.ctx.log.error({ requestId: id, err }, 'request failed');
      else if (err.code === 'internal' || err.code === 'unavailable') {
        this.ctx.log.warn({ requestId: id, code: err.code, error: err.message }, 'request failed');
      }
      sendError(reply, err);
    }
    // After the send, so the status counted and logged is the one the client got.
    this.requests.answered(http, reply, edge && (edge.help ? 'help' : edge.operation));
  }
}

/** The HTTP request as the pipeline takes it: nothing is interpreted yet beyond Vault's verb and path rules. */
function decode(id: string, http: FastifyRequest): EdgeRequest {
  // Split by hand: WHATWG URL parsing would resolve `%2e%2e` segments before logicalPath could refuse them.
  const q = http.url.indexOf('?');
  const pathname = q === -1 ? http.url : http.url.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : http.url.slice(q + 1));
  const base = {
    id,
    query,
    token: tokenOf(http.headers),
    headers: http.headers,
    wrapTtl: wrapTtlOf(http.headers['x-vault-wrap-ttl']),
    // Where the request came from: bound CIDRs, plugins (remote_address) and the audit log.
    remoteAddress: clientAddress(http.socket?.remoteAddress),
    remotePort: http.socket?.remotePort,
  };
  // Vault's wrapHelpHandler: a non-empty `help` query turns any request into a help request for its path.
  if (query.get('help')) return { ...base, operation: 'read', path: logicalPath(pathname.slice('/v1/'.length)), help: true };
  // The socket layer turns Vault's LIST verb into GET plus this header (Node's parser refuses LIST).
  const listVerb = http.method === 'GET' && http.headers['x-coffer-verb'] === 'LIST';
  const operation = operationOf(http.method, listVerb, query);
  if (operation === 'patch') checkPatchContentType(http.headers['content-type']);
  const path = logicalPath(pathname.slice('/v1/'.length));
  return { ...base, operation, path, body: http.body as Buffer | undefined, contentType: http.headers['content-type'], help: false };
}
