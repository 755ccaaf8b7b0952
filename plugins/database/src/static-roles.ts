/**
 * Vault's static roles (builtin/logical/database path_rotate_credentials, rotation.go): an existing database user
 * whose password Coffer rotates, by hand (`rotate-role/<name>`) and on schedule (the backend's periodic function,
 * every `rotation_period`).
 *
 * A rotation must never lose the password, whichever runner crashes where. So it is written down before it happens:
 * 1. the new password goes into an intent (`static-wal/<name>`) first, created only if none is pending (a pending one
 *    is finished, never replaced: the database may already hold its password);
 * 2. the database is told (the rotation statements, idempotent: setting the same password twice is harmless);
 * 3. the role with its new password is written and the intent deleted in one `storage.txn`, conditional on both still
 *    being what was read.
 * A crash after 1 or 2 leaves the intent; the next periodic run (or a manual rotate) sets that same password again and
 * commits it. A lost commit race is followed by setting the stored (or pending) password again, so the database ends
 * up with the password storage says.
 */
import { PluginError, type Storage } from '#plugin-sdk';
import type { Driver } from './postgresql.js';
import { generatePassword, renderStatement } from './statements.js';

export interface StaticRole {
  db_name: string;
  username: string;
  /** Seconds between rotations. */
  rotation_period: number;
  rotation_statements: string[];
  /** The current password; returned by static-creds only. */
  password: string;
  /** RFC 3339, when the password was last set; "" before the first rotation. */
  last_vault_rotation: string;
}

/** A rotation under way: the password that is being (or may already have been) set in the database. */
export interface RotationIntent {
  username: string;
  password: string;
  started: string;
}

export const staticKey = (name: string) => `static-role/${name}`;
export const intentKey = (name: string) => `static-wal/${name}`;
/** Vault's floor for rotation_period. */
export const MIN_ROTATION_PERIOD = 5;

const parse = <T>(bytes: Buffer | null): T | null => (bytes === null ? null : (JSON.parse(bytes.toString('utf8')) as T));

export interface RotationDeps {
  storage: Storage;
  /** The connection's driver (opened by the backend from the stored config). */
  driver: () => Promise<Driver>;
  /** The statement used when the role names none (the driver's dialect). */
  defaultStatement: string;
  now: () => number;
  /** A database error, with the password redacted. */
  dbError: (prefix: string, err: unknown, secret?: string) => PluginError;
}

/** Whether the role's password is due (or a rotation of it is pending). */
export function isDue(role: StaticRole, pending: boolean, now: number): boolean {
  if (pending || !role.last_vault_rotation) return true;
  return Date.parse(role.last_vault_rotation) + role.rotation_period * 1000 <= now;
}

/** Seconds until the next scheduled rotation (static-creds' `ttl`). */
export function ttlOf(role: StaticRole, now: number): number {
  if (!role.last_vault_rotation) return 0;
  return Math.max(0, Math.floor((Date.parse(role.last_vault_rotation) + role.rotation_period * 1000 - now) / 1000));
}

/**
 * Rotates the static role `name` (or finishes its pending rotation) and returns the role as stored afterwards.
 * `fresh` is the role to store when it is being created (nothing stored yet).
 */
export async function rotateStatic(deps: RotationDeps, name: string, fresh?: StaticRole): Promise<StaticRole> {
  const { storage } = deps;
  for (let attempt = 0; attempt < 3; attempt++) {
    const roleBytes = await storage.get(staticKey(name));
    const role = parse<StaticRole>(roleBytes) ?? (attempt === 0 ? fresh : undefined);
    if (!role) throw new PluginError('invalid-request', 'no static role found for role name');
    let intentBytes = await storage.get(intentKey(name));
    let intent = parse<RotationIntent>(intentBytes);
    if (attempt > 0 && !intent) {
      // Another rotation committed meanwhile: make sure the database holds what storage now says, and stop.
      await setPassword(deps, role, role.password);
      return role;
    }
    if (intent && intent.username !== role.username) {
      // A leftover of a deleted role of the same name, for another user: it says nothing about this one.
      await storage.txn([{ key: intentKey(name), value: intentBytes! }], [{ key: intentKey(name), delete: true }]);
      intent = null;
      intentBytes = null;
    }
    if (!intent) {
      const written: RotationIntent = { username: role.username, password: generatePassword(), started: new Date(deps.now()).toISOString() };
      const text = JSON.stringify(written);
      // Only if none is pending: two runners rotating at once then set the same password.
      if (!(await storage.txn([{ key: intentKey(name), exists: false }], [{ key: intentKey(name), value: text }]))) continue;
      intent = written;
      intentBytes = Buffer.from(text);
    }
    await setPassword(deps, role, intent.password);
    const rotated: StaticRole = { ...role, password: intent.password, last_vault_rotation: new Date(deps.now()).toISOString() };
    const committed = await storage.txn(
      [roleBytes ? { key: staticKey(name), value: roleBytes } : { key: staticKey(name), exists: false }, { key: intentKey(name), value: intentBytes! }],
      [
        { key: staticKey(name), value: JSON.stringify(rotated) },
        { key: intentKey(name), delete: true },
      ],
    );
    if (committed) return rotated;
  }
  throw new PluginError('internal', 'internal error');
}

async function setPassword(deps: RotationDeps, role: StaticRole, password: string): Promise<void> {
  const driver = await deps.driver();
  const statements = role.rotation_statements.length ? role.rotation_statements : [deps.defaultStatement];
  await driver.transaction(statements.map((s) => renderStatement(s, { name: role.username, password }))).catch((err) => {
    throw deps.dbError('error setting credentials: ', err, password);
  });
}
