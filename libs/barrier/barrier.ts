import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { CofferError } from '../contracts/errors.js';
import type { Keyring } from './keyring.js';
import type { Barrier } from './types.js';

const FORMAT = 0x01;
const HEADER_BYTES = 1 + 4;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** One text for every failure, so a caller probing with altered blobs learns nothing about which check failed. */
export const DECRYPT_FAILED_MESSAGE = 'barrier: cannot decrypt (wrong key, altered or moved data)';

/**
 * The barrier over an unsealed keyring. Blobs are `[0x01][term u32 BE][nonce 12][ciphertext][tag 16]`; the term
 * picks the key on the way back, so data written before a rotation stays readable. The 5-byte header is
 * authenticated along with the caller's aad, so neither can be changed without the tag failing.
 */
export class KeyringBarrier implements Barrier {
  constructor(readonly keyring: Keyring) {}

  encrypt(plaintext: Buffer, aad: string): Buffer {
    const { term, key } = this.keyring.activeKey;
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt8(FORMAT, 0);
    header.writeUInt32BE(term, 1);
    // Random 96-bit nonces: collisions become a concern only near 2^32 encryptions under one term; rotate before.
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(associatedData(header, aad));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([header, nonce, ciphertext, cipher.getAuthTag()]);
  }

  decrypt(blob: Buffer, aad: string): Buffer {
    const fail = () => new CofferError('internal', DECRYPT_FAILED_MESSAGE);
    if (!Buffer.isBuffer(blob) || blob.length < HEADER_BYTES + NONCE_BYTES + TAG_BYTES) throw fail();
    if (blob[0] !== FORMAT) throw fail();
    const key = this.keyring.termKey(blob.readUInt32BE(1));
    if (!key) throw fail();
    const header = blob.subarray(0, HEADER_BYTES);
    const nonce = blob.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
    const ciphertext = blob.subarray(HEADER_BYTES + NONCE_BYTES, blob.length - TAG_BYTES);
    const tag = blob.subarray(blob.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(header, aad));
    decipher.setAuthTag(tag);
    // GCM releases plaintext before checking the tag: it must not escape unless the tag holds.
    const opened = decipher.update(ciphertext);
    try {
      return Buffer.concat([opened, decipher.final()]);
    } catch {
      throw fail();
    } finally {
      opened.fill(0);
    }
  }

  hmac(value: string): string {
    return createHmac('sha256', this.keyring.hmacKey).update(value, 'utf8').digest('hex');
  }

  toString(): string {
    return `KeyringBarrier(${this.keyring})`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

function associatedData(header: Buffer, aad: string): Buffer {
  return Buffer.concat([header, Buffer.from(aad, 'utf8')]);
}
