/**
 * Vault's statement and credential rules for the database engine (builtin/logical/database, dbutil), kept apart from
 * the driver so they can be tested without a database.
 */
import { randomBytes, randomInt } from 'node:crypto';

/**
 * A statement field as Vault takes it: a list, a `;`-joined string, or base64 of either. Each string is split on
 * `;` unless it holds a bare END (a DO block or function body), which runs whole.
 */
export function parseStatements(input: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of input) {
    let text = raw.trim();
    const decoded = decodeBase64(text);
    if (decoded !== null) text = decoded;
    if (text.startsWith('[')) {
      try {
        const list = JSON.parse(text);
        if (Array.isArray(list) && list.every((s) => typeof s === 'string')) {
          out.push(...parseStatements(list));
          continue;
        }
      } catch {
        // not JSON: a statement that starts with "["
      }
    }
    if (/\bEND\b/i.test(text)) {
      if (text) out.push(text);
      continue;
    }
    out.push(...text.split(';').map((s) => s.trim()).filter(Boolean));
  }
  return out;
}

/** Only text that round-trips as standard base64 and decodes to printable UTF-8 counts: SQL is never valid base64. */
function decodeBase64(text: string): string | null {
  if (!text || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return null;
  const decoded = Buffer.from(text, 'base64');
  if (decoded.toString('base64') !== text) return null;
  const s = decoded.toString('utf8');
  return /^[\P{C}\s]*$/u.test(s) ? s : null;
}

/** Vault's `{{name}}` (≡ `{{username}}`), `{{password}}`, `{{expiration}}` substitution. */
export function renderStatement(statement: string, vars: { name?: string; password?: string; expiration?: string }): string {
  return statement.replace(/\{\{\s*(name|username|password|expiration)\s*\}\}/g, (whole, key: string) => {
    const value = key === 'username' || key === 'name' ? vars.name : vars[key as 'password' | 'expiration'];
    return value ?? whole;
  });
}

/** Go's `2006-01-02 15:04:05-0700` in UTC, the form Vault puts in VALID UNTIL. */
export function expirationOf(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getUTCFullYear()}-${p(date.getUTCMonth() + 1)}-${p(date.getUTCDate())} ${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())}+0000`;
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const random62 = (n: number) => Array.from({ length: n }, () => BASE62[randomInt(BASE62.length)]).join('');

/** Vault's default username template: `v-<display name[:8]>-<role[:8]>-<20 random>-<unix seconds>`, at most 63. */
export function generateUsername(displayName: string, role: string, now = new Date(), limits = { part: 8, max: 63 }): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, limits.part);
  return `v-${clean(displayName)}-${clean(role)}-${random62(20)}-${Math.floor(now.getTime() / 1000)}`.slice(0, limits.max);
}

/** Vault's default password policy: 20 characters, at least one upper, lower, digit and dash. */
export function generatePassword(): string {
  const chars = [...`${BASE62[randomInt(26)]}${BASE62[26 + randomInt(26)]}${BASE62[52 + randomInt(10)]}-${random62(16)}`];
  // Fisher-Yates with crypto randomness, so the required classes do not sit at fixed places.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomBytes(1)[0] % (i + 1);
    [chars[i], chars[j]] = [chars[j], chars[i]];
  }
  return chars.join('');
}

/** allowed_roles: empty allows none, `*` all, otherwise exact names or globs with `*`. */
export function roleAllowed(allowed: readonly string[], role: string): boolean {
  return allowed.some((pattern) => {
    if (pattern === '*') return true;
    const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    return re.test(role);
  });
}

/** A connection_url with its templated credentials filled in, URL-escaped. */
export function connectionString(url: string, username: string, password: string): string {
  return url.replace(/\{\{\s*username\s*\}\}/g, encodeURIComponent(username)).replace(/\{\{\s*password\s*\}\}/g, encodeURIComponent(password));
}

/** Vault's read answer for connection_url: a literal password in the URL is shown as `xxxxx`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)([^@]*)@/i, (whole, head: string, pass: string) => (/^\{\{\s*password\s*\}\}$/.test(pass) ? whole : `${head}xxxxx@`));
}

/** Whether the URL carries a literal password (Vault warns: root rotation cannot work then). */
export function hasLiteralPassword(url: string): boolean {
  return redactUrl(url) !== url;
}
