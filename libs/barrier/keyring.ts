import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { CofferError, sealedError } from '../contracts/errors.js';
import { KEY_BYTES } from './shamir.js';

/**
 * One barrier key. Its string forms name the term only, so a term that ends up in a log line or an error's context
 * does not carry its key with it.
 */
export class KeyTerm {
  constructor(
    readonly term: number,
    readonly key: Buffer,
    readonly installedAt: string,
  ) {
    Object.freeze(this);
  }

  toString(): string {
    return `KeyTerm(term=${this.term})`;
  }

  toJSON(): { term: number; installedAt: string } {
    return { term: this.term, installedAt: this.installedAt };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

const BASE64_STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAGIC = Buffer.from('CKR', 'ascii');
const FORMAT = 1;
const MAX_TERM = 0xffff_ffff;
const MAX_TERMS = 0xffff;

/**
 * The barrier keys by term plus the HMAC key. It lives only in the memory of unsealed processes; on disk it exists
 * only sealed under the root key, on the bus only as `toWire()`. Instances are immutable apart from `wipe()`:
 * `rotate()` returns a new keyring, so a barrier never sees a half-rotated one.
 */
export class Keyring {
  readonly #terms: readonly KeyTerm[];
  readonly #byTerm: ReadonlyMap<number, KeyTerm>;
  readonly #activeTerm: number;
  readonly #hmacKey: Buffer;
  #wiped = false;

  /** Callers hand over buffers they will not touch again; `create`, `parse` and `rotate` all pass fresh copies. */
  private constructor(terms: readonly KeyTerm[], activeTerm: number, hmacKey: Buffer) {
    this.#terms = Object.freeze([...terms]);
    this.#byTerm = new Map(terms.map((t) => [t.term, t]));
    this.#activeTerm = activeTerm;
    this.#hmacKey = hmacKey;
  }

  static create(now: Date = new Date()): Keyring {
    return new Keyring([new KeyTerm(1, randomBytes(KEY_BYTES), now.toISOString())], 1, randomBytes(KEY_BYTES));
  }

  get activeTerm(): number {
    this.#assertUsable();
    return this.#activeTerm;
  }

  /** Oldest first. */
  get terms(): readonly KeyTerm[] {
    this.#assertUsable();
    return this.#terms;
  }

  get hmacKey(): Buffer {
    this.#assertUsable();
    return this.#hmacKey;
  }

  get activeKey(): KeyTerm {
    this.#assertUsable();
    return this.#byTerm.get(this.#activeTerm)!;
  }

  /** The key of an older term is kept so that everything written under it stays readable after a rotation. */
  termKey(term: number): Buffer | undefined {
    this.#assertUsable();
    return this.#byTerm.get(term)?.key;
  }

  get wiped(): boolean {
    return this.#wiped;
  }

  /**
   * A new keyring whose active term is a fresh key; older terms and the HMAC key carry over (tokens are looked up by
   * HMAC, so changing that key would orphan every token). This keyring is left as it was.
   */
  rotate(now: Date = new Date()): Keyring {
    this.#assertUsable();
    const last = this.#terms[this.#terms.length - 1]!.term;
    if (last >= MAX_TERM || this.#terms.length >= MAX_TERMS) {
      throw new CofferError('internal', 'keyring: no key term left to rotate to');
    }
    const terms = this.#terms.map((t) => new KeyTerm(t.term, Buffer.from(t.key), t.installedAt));
    terms.push(new KeyTerm(last + 1, randomBytes(KEY_BYTES), now.toISOString()));
    return new Keyring(terms, last + 1, Buffer.from(this.#hmacKey));
  }

  /**
   * Binary form: "CKR", format 1, active term (u32 BE), HMAC key (32), term count (u16 BE), then per term: term
   * (u32 BE), key (32), installedAt length (u8) and ASCII. Binary rather than JSON so key material never becomes an
   * (unwipeable) JS string on the way to the disk. The result holds every key: wipe it when done.
   */
  serialize(): Buffer {
    this.#assertUsable();
    const dates = this.#terms.map((t) => Buffer.from(t.installedAt, 'ascii'));
    const size = 3 + 1 + 4 + KEY_BYTES + 2 + dates.reduce((n, d) => n + 4 + KEY_BYTES + 1 + d.length, 0);
    const out = Buffer.alloc(size);
    let at = MAGIC.copy(out, 0);
    at = out.writeUInt8(FORMAT, at);
    at = out.writeUInt32BE(this.#activeTerm, at);
    at += this.#hmacKey.copy(out, at);
    at = out.writeUInt16BE(this.#terms.length, at);
    this.#terms.forEach((t, i) => {
      at = out.writeUInt32BE(t.term, at);
      at += t.key.copy(out, at);
      at = out.writeUInt8(dates[i]!.length, at);
      at += dates[i]!.copy(out, at);
    });
    return out;
  }

  /**
   * The inverse of `serialize`, all or nothing: any deviation (length, magic, order of terms, missing active term,
   * a date that is not canonical ISO 8601) is an error that says what is wrong, never which bytes were there.
   */
  static parse(bytes: Buffer): Keyring {
    const malformed = (what: string) => new CofferError('internal', `keyring: malformed (${what})`);
    if (!Buffer.isBuffer(bytes)) throw malformed('not a buffer');
    let at = 0;
    const need = (n: number, what: string) => {
      if (bytes.length - at < n) throw malformed(`truncated ${what}`);
    };
    need(3 + 1 + 4 + KEY_BYTES + 2, 'header');
    if (!bytes.subarray(0, 3).equals(MAGIC)) throw malformed('not a keyring');
    if (bytes[3] !== FORMAT) throw malformed(`unknown format ${bytes[3]}`);
    at = 4;
    const activeTerm = bytes.readUInt32BE(at);
    at += 4;
    const hmacKey = Buffer.from(bytes.subarray(at, at + KEY_BYTES));
    at += KEY_BYTES;
    const count = bytes.readUInt16BE(at);
    at += 2;

    const terms: KeyTerm[] = [];
    const keys: Buffer[] = [hmacKey];
    try {
      if (count === 0) throw malformed('no key terms');
      for (let i = 0; i < count; i++) {
        need(4 + KEY_BYTES + 1, `term ${i + 1}`);
        const term = bytes.readUInt32BE(at);
        at += 4;
        if (term < 1) throw malformed('term 0');
        const previous = terms[terms.length - 1];
        if (previous && term <= previous.term) throw malformed('terms out of order or repeated');
        const key = Buffer.from(bytes.subarray(at, at + KEY_BYTES));
        keys.push(key);
        at += KEY_BYTES;
        const dateLength = bytes.readUInt8(at);
        at += 1;
        need(dateLength, `date of term ${term}`);
        const installedAt = bytes.subarray(at, at + dateLength).toString('latin1');
        at += dateLength;
        if (!isCanonicalIsoDate(installedAt)) throw malformed(`date of term ${term}`);
        terms.push(new KeyTerm(term, key, installedAt));
      }
      if (at !== bytes.length) throw malformed('trailing bytes');
      if (!terms.some((t) => t.term === activeTerm)) throw malformed('active term has no key');
    } catch (err) {
      // Copies made before the failure would otherwise linger in the heap with nobody to wipe them.
      for (const key of keys) key.fill(0);
      throw err;
    }
    return new Keyring(terms, activeTerm, hmacKey);
  }

  /** Base64 of `serialize()`, for the bus (`coffer.barrier.unsealed`, peer hand-over). */
  toWire(): string {
    const bytes = this.serialize();
    try {
      return bytes.toString('base64');
    } finally {
      bytes.fill(0);
    }
  }

  static fromWire(wire: string): Keyring {
    if (typeof wire !== 'string' || !BASE64_STD.test(wire)) {
      throw new CofferError('internal', 'keyring: malformed (not base64)');
    }
    const bytes = Buffer.from(wire, 'base64');
    try {
      return Keyring.parse(bytes);
    } finally {
      bytes.fill(0);
    }
  }

  /**
   * Zeroes every key in place (on seal). Copies that became JS strings (`toWire`) cannot be reached; this is the
   * best a garbage-collected runtime allows. A wiped keyring refuses to be used: the process is sealed.
   */
  wipe(): void {
    this.#hmacKey.fill(0);
    for (const t of this.#terms) t.key.fill(0);
    this.#wiped = true;
  }

  toString(): string {
    return `Keyring(terms=${this.#terms.length})`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }

  #assertUsable(): void {
    if (this.#wiped) throw sealedError();
  }
}

function isCanonicalIsoDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(text)) return false;
  const date = new Date(text);
  return !Number.isNaN(date.getTime()) && date.toISOString() === text;
}

const KEYRING_AAD = Buffer.from('coffer/keyring/v1', 'utf8');
const SEALED_FORMAT = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** What a wrong root key (wrong or mistyped shares) gets back. Vault's own wording is "invalid key: ...". */
export const INVALID_ROOT_KEY_MESSAGE = 'invalid key: failed to decrypt the keyring';

/** The keyring as stored: `[0x01][nonce 12][ciphertext][tag 16]`, AES-256-GCM under the root key. */
export function sealKeyring(rootKey: Buffer, keyring: Keyring): Buffer {
  if (!Buffer.isBuffer(rootKey) || rootKey.length !== KEY_BYTES) {
    throw new CofferError('internal', `root key must be ${KEY_BYTES} bytes`);
  }
  const plaintext = keyring.serialize();
  try {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', rootKey, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(KEYRING_AAD);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.of(SEALED_FORMAT), nonce, ciphertext, cipher.getAuthTag()]);
  } finally {
    plaintext.fill(0);
  }
}

/**
 * The stored keyring under a combined root key. A key of the wrong length or one that fails authentication is the
 * operator's mistake (400); a blob that is not a sealed keyring at all is ours (500).
 */
export function openKeyring(rootKey: Buffer, blob: Buffer): Keyring {
  if (!Buffer.isBuffer(blob) || blob.length < 1 + NONCE_BYTES + TAG_BYTES || blob[0] !== SEALED_FORMAT) {
    throw new CofferError('internal', 'keyring: the stored keyring is not a sealed keyring');
  }
  if (!Buffer.isBuffer(rootKey) || rootKey.length !== KEY_BYTES) {
    throw new CofferError('invalid-request', INVALID_ROOT_KEY_MESSAGE);
  }
  const nonce = blob.subarray(1, 1 + NONCE_BYTES);
  const ciphertext = blob.subarray(1 + NONCE_BYTES, blob.length - TAG_BYTES);
  const tag = blob.subarray(blob.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', rootKey, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(KEYRING_AAD);
  decipher.setAuthTag(tag);
  // GCM hands out plaintext before it has checked the tag; it is wiped unless the tag holds.
  const opened = decipher.update(ciphertext);
  let plaintext: Buffer;
  try {
    plaintext = Buffer.concat([opened, decipher.final()]);
  } catch {
    throw new CofferError('invalid-request', INVALID_ROOT_KEY_MESSAGE);
  } finally {
    opened.fill(0);
  }
  try {
    return Keyring.parse(plaintext);
  } finally {
    plaintext.fill(0);
  }
}
