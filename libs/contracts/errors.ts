/**
 * The one error type that crosses service boundaries. Inside Coffer an error is a code and a message; the gateway
 * alone maps codes to HTTP statuses and Vault's `{"errors": [...]}`, the CLI alone to its "Error making API request."
 * block. No service formats HTTP.
 */
export const ERROR_CODES = [
  'invalid-request', // 400: the caller sent something wrong
  'permission-denied', // 403
  'unsupported-path', // 404: nothing routes there
  'not-found', // 404 with no message: a read of something absent
  'unsupported-operation', // 405
  'conflict', // 400 over HTTP (Vault reports mount conflicts as 400); also optimistic-concurrency losses inside
  'payload-too-large', // 413
  'unsupported-media-type', // 415: a PATCH body that is not a JSON merge patch
  'sealed', // 503
  'unavailable', // 503: a dependency (bus, store, service) did not answer in time
  'plugin-failed', // 500: a plugin crashed, hung or replied outside the protocol
  'internal', // 500
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class CofferError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Further messages Vault lists beside the first (a bad token is `permission denied` and `invalid token`). */
    readonly also: string[] = [],
  ) {
    super(message);
    this.name = 'CofferError';
  }

  toJSON(): WireError {
    return this.also.length ? { code: this.code, message: this.message, also: this.also } : { code: this.code, message: this.message };
  }

  static from(wire: WireError): CofferError {
    const also = Array.isArray(wire.also) ? wire.also.map(String) : [];
    return new CofferError(isErrorCode(wire.code) ? wire.code : 'internal', String(wire.message ?? ''), also);
  }
}

export interface WireError {
  code: ErrorCode;
  message: string;
  also?: string[];
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Anything thrown becomes a CofferError; unknown errors keep their text out of replies (it may hold internals). */
export function toCofferError(err: unknown): CofferError {
  if (err instanceof CofferError) return err;
  return new CofferError('internal', 'internal error');
}

/** Vault's answer to anything but the seal paths while sealed (503); the text is written here once. */
export const SEALED_MESSAGE = 'Vault is sealed';

export function sealedError(): CofferError {
  return new CofferError('sealed', SEALED_MESSAGE);
}
