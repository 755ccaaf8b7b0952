import { randomBytes } from 'node:crypto';
import { combine, split } from 'shamir-secret-sharing';
import { CofferError } from '../contracts/errors.js';

/** AES-256: the root key and every barrier key are this long. */
export const KEY_BYTES = 32;

/**
 * The lengths Vault accepts for one unseal key (`core.Unseal`): AES-128 up to AES-256 plus Shamir's one-byte
 * x coordinate. Checked before a key is counted towards the threshold, so junk never makes progress.
 */
export const UNSEAL_KEY_MIN_BYTES = 16;
export const UNSEAL_KEY_MAX_BYTES = KEY_BYTES + 1;

export function generateRootKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Vault's `SealConfig.Validate` order and texts, prefixed as `core.Initialize` prefixes them. */
export function validateSealConfig(shares: number, threshold: number): void {
  const invalid = (reason: string) => new CofferError('invalid-request', `invalid seal configuration: ${reason}`);
  // Go decodes these into ints, so a fraction never reaches Validate there; here it would reach the Shamir maths.
  if (typeof shares !== 'number' || !Number.isInteger(shares)) throw invalid('shares must be an integer');
  if (typeof threshold !== 'number' || !Number.isInteger(threshold)) throw invalid('threshold must be an integer');
  if (shares < 1) throw invalid('shares must be at least one');
  if (threshold < 1) throw invalid('threshold must be at least one');
  if (shares > 1 && threshold === 1) throw invalid('threshold must be greater than one for multiple shares');
  if (shares > 255) throw invalid('shares must be less than 256');
  if (threshold > 255) throw invalid('threshold must be less than 256');
  if (threshold > shares) throw invalid('threshold cannot be larger than shares');
}

/**
 * Shares of the root key: 33 bytes each (the last byte is the x coordinate). With one share and threshold one the
 * "share" is the 32-byte key itself, as Vault hands it out, and the Shamir library refuses n = 1 anyway.
 */
export async function splitRootKey(rootKey: Buffer, shares: number, threshold: number): Promise<Buffer[]> {
  validateSealConfig(shares, threshold);
  if (rootKey.length !== KEY_BYTES) throw new CofferError('internal', `root key must be ${KEY_BYTES} bytes`);
  if (shares === 1) return [Buffer.from(rootKey)];
  // The library checks `constructor === Uint8Array`, which a Buffer fails; the copy is wiped once split.
  const secret = new Uint8Array(rootKey);
  try {
    const parts = await split(secret, shares, threshold);
    return parts.map((part) => {
      const share = Buffer.from(part);
      part.fill(0);
      return share;
    });
  } finally {
    secret.fill(0);
  }
}

/**
 * The key the shares stand for. One share is taken as the key itself (threshold one). Whether the result is the
 * right key only shows when it opens the keyring: Shamir combines any distinct points into some key.
 */
export async function combineShares(shares: readonly Buffer[]): Promise<Buffer> {
  const invalid = (reason: string) =>
    new CofferError('invalid-request', `invalid key: failed to compute combined key: ${reason}`);
  if (shares.length === 0) throw invalid('less than two parts cannot be used to reconstruct the secret');
  if (shares.length === 1) return Buffer.from(shares[0]!);
  // Vault's own shamir.Combine texts; checked here so the library's messages (and any future detail) stay out.
  if (shares.length > 255) throw invalid('too many parts');
  const length = shares[0]!.length;
  if (length < 2) throw invalid('parts must be at least two bytes');
  if (shares.some((share) => share.length !== length)) throw invalid('all parts must be the same length');
  const xs = new Set(shares.map((share) => share[length - 1]));
  if (xs.size !== shares.length) throw invalid('duplicate part detected');

  const copies = shares.map((share) => new Uint8Array(share));
  try {
    const secret = await combine(copies);
    const key = Buffer.from(secret);
    secret.fill(0);
    return key;
  } catch {
    throw invalid('the parts do not combine');
  } finally {
    for (const copy of copies) copy.fill(0);
  }
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
// Go's base64.StdEncoding: padded standard alphabet; it skips CR and LF, which are removed before this test.
const BASE64_STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * An unseal key as `sys/unseal` takes it (Vault `handleSysUnseal`): hex when it decodes to a plausible key length,
 * because some base64 strings are also valid hex; otherwise strict standard base64. Node's own base64 decoder is
 * lenient (URL alphabet, no padding, junk skipped), so it is only used after the strict test.
 */
export function parseUnsealKey(key: string): Buffer {
  if (typeof key === 'string') {
    if (HEX.test(key)) {
      const bytes = key.length / 2;
      if (bytes >= UNSEAL_KEY_MIN_BYTES && bytes <= UNSEAL_KEY_MAX_BYTES) return Buffer.from(key, 'hex');
    }
    const b64 = key.replace(/[\r\n]/g, '');
    if (b64.length > 0 && BASE64_STD.test(b64)) return Buffer.from(b64, 'base64');
  }
  throw new CofferError('invalid-request', `'key' must be a valid hex or base64 string`);
}

/** Vault's length check on one unseal key (`core.Unseal`), as an `ErrInvalidKey` (400). */
export function checkUnsealKeyLength(key: Buffer): void {
  if (key.length < UNSEAL_KEY_MIN_BYTES) {
    throw new CofferError('invalid-request', `invalid key: key is shorter than minimum ${UNSEAL_KEY_MIN_BYTES} bytes`);
  }
  if (key.length > UNSEAL_KEY_MAX_BYTES) {
    throw new CofferError('invalid-request', `invalid key: key is longer than maximum ${UNSEAL_KEY_MAX_BYTES} bytes`);
  }
}
