import { randomUUID } from 'node:crypto';
import { All, Controller, Inject, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CofferError } from '#contracts';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import { Router } from './router.js';
import { checkPatchContentType, logicalPath, operationOf, parseBody, sendError, sendResponse, tokenOf, type VaultRequest } from './vault-http.js';

/** Every `/v1/...` request enters here; the Router decides who answers it. */
@Controller()
export class ApiController {
  constructor(
    private readonly router: Router,
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
  ) {}

  @All('v1/*')
  async handle(@Req() http: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const id = randomUUID();
    reply.header('x-request-id', id);
    try {
      // Split by hand: WHATWG URL parsing would resolve `%2e%2e` segments before logicalPath could refuse them.
      const q = http.url.indexOf('?');
      const pathname = q === -1 ? http.url : http.url.slice(0, q);
      const query = new URLSearchParams(q === -1 ? '' : http.url.slice(q + 1));
      // Vault's wrapHelpHandler: a non-empty `help` query turns any request into a help request for its path.
      if (query.get('help')) {
        const path = logicalPath(pathname.slice('/v1/'.length));
        const request: VaultRequest = { id, operation: 'read', path, data: {}, query, token: tokenOf(http.headers), headers: http.headers };
        sendResponse(reply, request, await this.router.help(request));
        return;
      }
      // The socket layer turns Vault's LIST verb into GET plus this header (Node's parser refuses LIST).
      const listVerb = http.method === 'GET' && http.headers['x-coffer-verb'] === 'LIST';
      const operation = operationOf(http.method, listVerb, query);
      if (operation === 'patch') checkPatchContentType(http.headers['content-type']);
      const path = logicalPath(pathname.slice('/v1/'.length));
      const data =
        operation === 'delete'
          ? Object.fromEntries(query)
          : operation === 'read' || operation === 'list' || operation === 'head'
            ? {}
            : parseBody(http.body as Buffer | undefined, http.headers['content-type']);
      const request: VaultRequest = { id, operation, path, data, query, token: tokenOf(http.headers), headers: http.headers };
      request.remoteAddress = http.socket.remoteAddress; // AUDIT: where the request came from
      request.remotePort = http.socket.remotePort;
      sendResponse(reply, request, await this.router.dispatch(request));
    } catch (err) {
      if (!(err instanceof CofferError)) this.ctx.log.error({ requestId: id, err }, 'request failed');
      else if (err.code === 'internal' || err.code === 'unavailable') {
        this.ctx.log.warn({ requestId: id, code: err.code, msg: err.message }, 'request failed');
      }
      sendError(reply, err);
    }
  }
}
