import { CofferError } from '#contracts';
import { isMultiErrorText, multiErrorText } from '#vault-rules';

/**
 * Vault's wire texts for the errors the edge itself raises (reference/vault-api.md), each written once. Handlers and
 * stages throw these; nothing else in the gateway spells them.
 */

/** No route and no mount: Vault's logical router words it differently for `sys/` and everything else. */
export function unsupportedPath(path: string): CofferError {
  if (path.startsWith('sys/')) return new CofferError('unsupported-path', multiErrorText(['unsupported path']));
  return new CofferError('unsupported-path', `no handler for route "${path}". route entry not found.`);
}

/** A route that does not serve the verb: a bare 405 on Vault's non-logical handlers, the multierror text elsewhere. */
export function unsupportedOperation(plain: boolean): CofferError {
  return new CofferError('unsupported-operation', plain ? '' : multiErrorText(['unsupported operation']));
}

/** A valid token whose policies do not allow the request. */
export function permissionDenied(): CofferError {
  return new CofferError('permission-denied', multiErrorText(['permission denied']));
}

/** No token at all: Vault answers a bare `permission denied`. */
export function missingToken(): CofferError {
  return new CofferError('permission-denied', 'permission denied');
}

/** A revoked, expired or made-up token. */
export function invalidToken(): CofferError {
  return new CofferError('permission-denied', 'permission denied', ['invalid token']);
}

/** Vault wraps these plugin handler errors in go-multierror's text; plain ErrorResponses it passes as they are. */
const WRAPPED_PLUGIN_CODES = new Set(['unsupported-path', 'unsupported-operation', 'permission-denied']);

/** A plugin's error as Vault answers it. */
export function asPluginError(err: unknown): unknown {
  if (err instanceof CofferError && WRAPPED_PLUGIN_CODES.has(err.code) && !isMultiErrorText(err.message)) {
    return new CofferError(err.code, multiErrorText([err.message]));
  }
  return err;
}
