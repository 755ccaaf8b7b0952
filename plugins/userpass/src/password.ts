/**
 * Password hashing with scrypt. The stored form names its parameters (`scrypt$N$r$p$salt$hash`), so raising the cost
 * later keeps old entries verifiable.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * N = 2^15, r = 8: 32 MiB and tens of milliseconds per hash. OWASP suggests 2^17; this keeps a burst of concurrent
 * logins within a plugin process's memory, and the stored form lets a later version raise it.
 */
export const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keyLength: 32, saltLength: 16 } as const;

function scrypt(password: string | Buffer, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function options(N: number, r: number, p: number): ScryptOptions {
  // Node's default maxmem (32 MiB) is exactly 128·N·r at N = 2^15, r = 8, which it refuses: leave headroom.
  return { N, r, p, maxmem: 256 * N * r };
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltLength);
  const key = await scrypt(password, salt, SCRYPT.keyLength, options(SCRYPT.N, SCRYPT.r, SCRYPT.p));
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

interface Parsed {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

export function parseHash(encoded: string): Parsed | null {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  const valid = [N, r, p].every((n) => Number.isSafeInteger(n) && n > 0) && (N & (N - 1)) === 0 && salt.length > 0 && key.length > 0;
  return valid ? { N, r, p, salt, key } : null;
}

/** Random bytes in a hash's shape: checking a password against it costs one full scrypt and never matches. */
const DUMMY: Parsed = {
  N: SCRYPT.N,
  r: SCRYPT.r,
  p: SCRYPT.p,
  salt: randomBytes(SCRYPT.saltLength),
  key: randomBytes(SCRYPT.keyLength),
};

/**
 * Whether `password` matches `encoded`. With no hash (unknown user) it does the same work against a dummy hash, so
 * the answer takes as long for an unknown user as for a wrong password.
 */
export async function verifyPassword(password: string, encoded: string | null): Promise<boolean> {
  const parsed = encoded === null ? null : parseHash(encoded);
  const target = parsed ?? DUMMY;
  const key = await scrypt(password, target.salt, target.key.length, options(target.N, target.r, target.p));
  return timingSafeEqual(key, target.key) && parsed !== null;
}
