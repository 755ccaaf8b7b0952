import type { VaultRequest } from '../vault-http.js';

/**
 * Who caused an event, as its (clear, non-secret) metadata says: the request id, which the audit log carries too,
 * and the caller's token accessor (never the token). Catalog, mount and policy events carry the same two keys.
 */
export function actorMetadata(req: Pick<VaultRequest, 'id'>, caller: { token: { accessor: string } } | undefined): { requestId: string; actorAccessor: string } {
  return { requestId: req.id, actorAccessor: caller?.token.accessor ?? '' };
}
