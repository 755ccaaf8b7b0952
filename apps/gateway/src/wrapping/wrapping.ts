import { CofferError } from '#contracts';
import type { TokenEntry, TokenStore, WrappedResponse } from '../tokens/token-store.js';
import type { VaultResponse } from '../vault-http.js';

type Envelope = Extract<VaultResponse, { kind: 'envelope' }>;

/** Vault's answer for a token that is not (or no longer) a live response-wrapping token. */
export function invalidWrappingToken(): CofferError {
  return new CofferError('invalid-request', 'wrapping token is not valid or does not exist');
}

/**
 * Replaces a response by a response-wrapping token holding it (Vault's wrapping): `data` and `auth` become null and
 * `wrap_info` says where to unwrap. `wrapped_accessor` names the token a wrapped login issued.
 */
export async function wrapResponse(
  tokens: Pick<TokenStore, 'createWrapping'>,
  ttl: number,
  wrapped: WrappedResponse,
): Promise<Envelope> {
  const issued = await tokens.createWrapping(ttl, wrapped);
  const auth = wrapped.auth as { accessor?: string } | null | undefined;
  return {
    kind: 'envelope',
    data: null,
    wrapInfo: {
      token: issued.token,
      accessor: issued.entry.accessor,
      ttl,
      creation_time: issued.entry.issueTime,
      creation_path: wrapped.creationPath,
      wrapped_accessor: auth?.accessor ?? '',
    },
  };
}

/** What a response held: the envelope it becomes again on unwrap. */
export function unwrapped(entry: TokenEntry): Envelope {
  const w = entry.wrapped!;
  return { kind: 'envelope', data: w.data ?? null, auth: w.auth ?? undefined, warnings: w.warnings, mountType: w.mountType };
}
