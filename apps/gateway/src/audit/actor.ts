import type { EventActor } from '#contracts';
import type { VaultRequest } from '../vault-http.js';

/**
 * Who caused an event, as its (clear, non-secret) metadata says: the request id, which the audit log carries too,
 * and the caller's token accessor (never the token). Catalog, mount, policy and audit events carry the same two keys.
 */
export function actorOf(req: Pick<VaultRequest, 'id' | 'callerAccessor'>): EventActor {
  return { requestId: req.id, actorAccessor: req.callerAccessor ?? '' };
}
