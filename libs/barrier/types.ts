/**
 * What the rest of Coffer sees of the barrier: encryption with associated data and a keyed hash, under the
 * keyring that only unsealed processes hold in memory.
 */
export interface Barrier {
  /** AES-256-GCM under the active key term. `aad` binds the ciphertext to where it is stored. */
  encrypt(plaintext: Buffer, aad: string): Buffer;
  /** Fails with CofferError('internal', ...) when the blob was altered, moved (other aad) or made under an unknown term. */
  decrypt(blob: Buffer, aad: string): Buffer;
  /** HMAC-SHA256 (hex) under the keyring's HMAC key: how tokens are stored and looked up without storing them. */
  hmac(value: string): string;
}
