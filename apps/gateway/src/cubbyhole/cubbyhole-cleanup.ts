import { createHash } from 'node:crypto';
import type { Bus } from '#bus';
import { runnerSubjects, type StorageScopesDelete } from '#contracts';
import type { MountTableState } from '#mount-table';
import type { Logger } from 'pino';

export const CUBBYHOLE_CLEANUP = Symbol('coffer.gateway.cubbyhole-cleanup');

/** The mount type (catalog name) whose storage is kept per token. */
export const CUBBYHOLE_TYPE = 'cubbyhole';
const CALL_TIMEOUT_MS = 30_000;

/**
 * The storage prefix of a token's cubbyhole, as plugins/cubbyhole files its keys: SHA-256 of the accessor, so no
 * storage key names an accessor. Both sides must compute the same; the e2e test of revocation proves they do.
 */
export function cubbyholeScope(accessor: string): string {
  return createHash('sha256').update(`cubbyhole:${accessor}`).digest('hex');
}

/**
 * Removes revoked tokens' cubbyholes: for every cubbyhole mount in the gateway's mount table, one runner deletes the
 * scopes of the accessors given. Called by the token store for every revocation it makes (explicit revoke, a subtree,
 * an expired token found on lookup or swept, a last use), so expiry is cleaned lazily: when the expired token is
 * next looked up or swept. Until then its cubbyhole is unreachable anyway, since the token no longer authenticates.
 * Never throws: a failure is logged, and the entries stay unreachable (their accessor never comes back).
 */
export class CubbyholeCleanup {
  constructor(
    private readonly bus: Bus,
    private readonly mounts: () => MountTableState | undefined,
    private readonly log: Logger,
  ) {}

  revoked(accessors: readonly string[]): void {
    if (accessors.length === 0) return;
    const state = this.mounts();
    if (!state) return;
    const prefixes = accessors.map((accessor) => `${cubbyholeScope(accessor)}/`);
    for (const mount of Object.values(state.secret)) {
      if (mount.type !== CUBBYHOLE_TYPE) continue;
      const request: StorageScopesDelete = { mount: mount.uuid, prefixes };
      this.bus
        .request<{ deleted: number }>(runnerSubjects.deleteScopes, request, { timeoutMs: CALL_TIMEOUT_MS })
        .then(({ deleted }) => {
          if (deleted > 0) this.log.debug({ mount: mount.uuid, tokens: accessors.length, keys: deleted }, 'cubbyholes of revoked tokens deleted');
        })
        .catch((err: unknown) => {
          this.log.warn({ mount: mount.uuid, tokens: accessors.length, err: (err as Error)?.message }, 'deleting the cubbyholes of revoked tokens failed');
        });
    }
  }
}
