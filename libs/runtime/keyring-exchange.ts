import { createCipheriv, createDecipheriv, createHmac, diffieHellman, generateKeyPairSync, hkdfSync, createPublicKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * How the keyring crosses the bus: never in clear. The process that wants it makes a fresh X25519 key pair and
 * sends only the public half; a member that holds the keyring answers with its own fresh public key and the keyring
 * sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the X25519 shared secret and, when the cluster has
 * one, the membership key from `coffer operator bus-config`. A subscriber that sees every message of an unseal or a
 * join sees two public keys and a ciphertext: without one of the private keys, nothing.
 *
 * The membership key is what a NATS permission cannot give: proof that the other side is a member, not merely a
 * holder of some subscription. The requester proves it knows the key (an HMAC over its public key); the answer
 * decrypts only under a key that mixes it in, so a forged answer from a non-member fails the GCM tag and is dropped.
 */

export const EXCHANGE_VERSION = 1;
const INFO = 'coffer keyring exchange v1';
/** DER prefix of an X25519 SubjectPublicKeyInfo; the 32 raw bytes follow. */
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export interface KeyringRequest {
  v: typeof EXCHANGE_VERSION;
  /** Base64 of the requester's ephemeral X25519 public key (32 bytes). */
  publicKey: string;
  /** Base64 HMAC-SHA256(membership key, publicKey bytes); absent when the cluster has no membership key. */
  proof?: string;
}

export interface SealedKeyring {
  v: typeof EXCHANGE_VERSION;
  /** Base64 of the responder's ephemeral X25519 public key. */
  publicKey: string;
  /** Base64: 12-byte nonce, then ciphertext, then the 16-byte tag. */
  box: string;
}

export class ExchangeError extends Error {}

/** The requester's side: one key pair per request, forgotten once the answer is opened. */
export class KeyringRequester {
  private readonly privateKey: KeyObject;
  readonly publicRaw: Buffer;

  constructor(private readonly membershipKey?: Buffer) {
    const pair = generateKeyPairSync('x25519');
    this.privateKey = pair.privateKey;
    this.publicRaw = rawPublic(pair.publicKey);
  }

  request(): KeyringRequest {
    const req: KeyringRequest = { v: EXCHANGE_VERSION, publicKey: this.publicRaw.toString('base64') };
    if (this.membershipKey) req.proof = proofOf(this.membershipKey, this.publicRaw);
    return req;
  }

  /** The keyring bytes; throws ExchangeError on anything but a well-formed answer sealed to this request. */
  open(answer: unknown): Buffer {
    const a = answer as SealedKeyring;
    if (!a || typeof a !== 'object' || a.v !== EXCHANGE_VERSION || typeof a.publicKey !== 'string' || typeof a.box !== 'string') {
      throw new ExchangeError('malformed keyring answer');
    }
    const peer = publicFromRaw(Buffer.from(a.publicKey, 'base64'));
    const key = deriveKey(this.privateKey, peer, this.publicRaw, Buffer.from(a.publicKey, 'base64'), this.membershipKey);
    const box = Buffer.from(a.box, 'base64');
    if (box.length < 12 + 16 + 1) throw new ExchangeError('malformed keyring answer');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, box.subarray(0, 12));
      decipher.setAuthTag(box.subarray(box.length - 16));
      decipher.setAAD(this.publicRaw);
      return Buffer.concat([decipher.update(box.subarray(12, box.length - 16)), decipher.final()]);
    } catch {
      throw new ExchangeError('the keyring answer did not decrypt: not sealed to this request, or not by a member');
    } finally {
      key.fill(0);
    }
  }
}

/** The responder's side: checks the requester's proof, then seals `keyring` to the requester's public key. */
export function sealKeyringFor(request: unknown, keyring: Buffer, membershipKey?: Buffer): SealedKeyring {
  const r = request as KeyringRequest;
  if (!r || typeof r !== 'object' || r.v !== EXCHANGE_VERSION || typeof r.publicKey !== 'string') {
    throw new ExchangeError('a keyring request must carry an X25519 public key');
  }
  const requesterRaw = Buffer.from(r.publicKey, 'base64');
  const requester = publicFromRaw(requesterRaw);
  if (membershipKey) {
    const expected = Buffer.from(proofOf(membershipKey, requesterRaw), 'base64');
    const given = Buffer.from(typeof r.proof === 'string' ? r.proof : '', 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new ExchangeError('keyring request without membership proof');
  }
  const pair = generateKeyPairSync('x25519');
  const ownRaw = rawPublic(pair.publicKey);
  const key = deriveKey(pair.privateKey, requester, requesterRaw, ownRaw, membershipKey);
  try {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(requesterRaw);
    const body = Buffer.concat([cipher.update(keyring), cipher.final()]);
    return { v: EXCHANGE_VERSION, publicKey: ownRaw.toString('base64'), box: Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64') };
  } finally {
    key.fill(0);
  }
}

function deriveKey(own: KeyObject, peer: KeyObject, requesterRaw: Buffer, responderRaw: Buffer, membershipKey?: Buffer): Buffer {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: own, publicKey: peer });
  } catch {
    throw new ExchangeError('invalid X25519 public key');
  }
  // An all-zero shared secret means a small-order peer key: refuse it rather than derive a key anyone knows.
  if (shared.every((b) => b === 0)) throw new ExchangeError('invalid X25519 public key');
  try {
    const info = Buffer.concat([Buffer.from(INFO), requesterRaw, responderRaw]);
    return Buffer.from(hkdfSync('sha256', shared, membershipKey ?? Buffer.alloc(0), info, 32));
  } finally {
    shared.fill(0);
  }
}

function proofOf(membershipKey: Buffer, publicRaw: Buffer): string {
  return createHmac('sha256', membershipKey).update('coffer keyring request v1').update(publicRaw).digest('base64');
}

function rawPublic(key: KeyObject): Buffer {
  const der = key.export({ type: 'spki', format: 'der' });
  return Buffer.from(der.subarray(der.length - 32));
}

function publicFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new ExchangeError('invalid X25519 public key');
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

const MEMBER_BOX_INFO = 'coffer member broadcast v1';
const MEMBER_BOX_PREFIX = 'm1:';

/**
 * A secret broadcast to every member (an unseal share on its way to the other gateways): sealed with AES-256-GCM
 * under a key derived from the membership key, so a subscriber without it (a full-rights NATS client, a capture of
 * the wire) learns nothing. Without a membership key (no bus-config: the bus itself must be private) it is base64.
 */
export function sealForMembers(plain: Buffer, membershipKey?: Buffer): string {
  if (!membershipKey) return plain.toString('base64');
  const key = Buffer.from(hkdfSync('sha256', membershipKey, Buffer.alloc(0), MEMBER_BOX_INFO, 32));
  try {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return MEMBER_BOX_PREFIX + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
  } finally {
    key.fill(0);
  }
}

/** The inverse of sealForMembers. With a membership key, anything not sealed under it is refused (ExchangeError). */
export function openFromMember(sealed: string, membershipKey?: Buffer): Buffer {
  if (!membershipKey) {
    if (sealed.startsWith(MEMBER_BOX_PREFIX)) throw new ExchangeError('sealed for members, but no membership key here');
    return Buffer.from(sealed, 'base64');
  }
  if (!sealed.startsWith(MEMBER_BOX_PREFIX)) throw new ExchangeError('not sealed for members');
  const box = Buffer.from(sealed.slice(MEMBER_BOX_PREFIX.length), 'base64');
  if (box.length < 12 + 16) throw new ExchangeError('not sealed for members');
  const key = Buffer.from(hkdfSync('sha256', membershipKey, Buffer.alloc(0), MEMBER_BOX_INFO, 32));
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, box.subarray(0, 12));
    decipher.setAuthTag(box.subarray(box.length - 16));
    return Buffer.concat([decipher.update(box.subarray(12, box.length - 16)), decipher.final()]);
  } catch {
    throw new ExchangeError('not sealed for members');
  } finally {
    key.fill(0);
  }
}
