import type { FastifyReply } from 'fastify';
import { CofferError } from '#contracts';
import { statusOf, type VaultRequest, type VaultResponse } from '../vault-http.js';

/**
 * Stage 9, envelope: what a request ends as on the wire. The one place a response becomes Vault's JSON envelope and
 * an error becomes `{"errors": [...]}` with its status.
 */
export function sendError(reply: FastifyReply, err: unknown): void {
  const e = err instanceof CofferError ? err : new CofferError('internal', 'internal error');
  // A read of something absent is Vault's bare 404: no message at all.
  const errors = e.code === 'not-found' || e.message === '' ? [] : [e.message, ...e.also];
  void reply.code(statusOf(e.code)).header('cache-control', 'no-store').type('application/json').send({ errors });
}

export function sendResponse(reply: FastifyReply, request: Pick<VaultRequest, 'id'>, response: VaultResponse): void {
  reply.header('cache-control', 'no-store');
  switch (response.kind) {
    case 'empty':
      void reply.code(response.status ?? 204).send();
      return;
    case 'json':
      void reply.code(response.status).type('application/json').send(response.body);
      return;
    case 'raw':
      void reply.code(response.status).type(response.contentType).send(response.body);
      return;
    case 'envelope': {
      const envelope = {
        request_id: request.id,
        lease_id: response.lease?.id ?? '',
        renewable: response.lease?.renewable ?? false,
        lease_duration: response.lease?.duration ?? 0,
        data: response.data ?? null,
        wrap_info: response.wrapInfo ?? null,
        warnings: response.warnings?.length ? response.warnings : null,
        auth: response.auth ?? null,
        mount_type: response.mountType ?? '',
      };
      // Vault repeats data at the top level for some sys paths (its "injector"), and clients read it there.
      const body =
        response.topLevel && response.data && typeof response.data === 'object'
          ? { ...(response.data as object), ...envelope }
          : envelope;
      void reply.code(response.status ?? 200).type('application/json').send(body);
    }
  }
}

