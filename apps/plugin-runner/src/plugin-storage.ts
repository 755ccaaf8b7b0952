import type { DataSource } from 'typeorm';
import type { Barrier } from '#barrier';
import { COFFER_VERSION, CofferError } from '#contracts';
import { qualifiedTable } from '#event-store';
import type { StorageHandler } from '#plugin-protocol';

export const MAX_KEY_BYTES = 512;
export const STORAGE_TABLE = 'coffer_plugin_storage';

/** A mount's TTLs as the mount table has them: seconds, 0 = the system's default. */
export interface MountTtls {
  defaultLeaseTtl: number;
  maxLeaseTtl: number;
}

export interface PluginStorageOptions {
  /** The unsealed barrier, or undefined while sealed. */
  barrier: () => Barrier | undefined;
  /** The mount's TTLs, or undefined when the mount is not (or no longer) in the mount table. */
  mountTtls: (mountUuid: string) => MountTtls | undefined;
  /** The server's `default_lease_ttl` and `max_lease_ttl`, which a mount's 0 stands for; a function is asked at each use (SIGHUP). */
  system: MountTtls | (() => MountTtls);
  /**
   * Keep read values in memory. Only sound where this runner is the only writer of the table (the dev server: one
   * process, one runner); with several runners another one's write would leave this copy stale.
   */
  readCache?: boolean;
}

/** Entries kept by the read cache before it starts over: a bound on memory, not a tuning knob. */
const READ_CACHE_MAX_ENTRIES = 10_000;

/**
 * Binds a ciphertext to its mount and key: a value copied to another row (another mount, another key) no longer
 * decrypts, so whoever can write the table cannot move one mount's secret to where another mount will read it.
 */
export function storageAad(mountUuid: string, key: string): string {
  return `plugin-storage\0${mountUuid}\0${key}`;
}

/**
 * Refuses keys that could mean something other than what they say once a plugin or an operator treats them as
 * paths (`..`), that the text column cannot hold (NUL), or that would make listing and indexing unbounded.
 */
export function checkStorageKey(key: string, what: 'key' | 'prefix' = 'key'): void {
  if (typeof key !== 'string') throw new CofferError('invalid-request', `invalid ${what}: not a string`);
  if (what === 'key' && key === '') throw new CofferError('invalid-request', 'invalid key: empty');
  if (key.includes('\0')) throw new CofferError('invalid-request', `invalid ${what}: contains a NUL character`);
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new CofferError('invalid-request', `invalid ${what}: longer than ${MAX_KEY_BYTES} bytes`);
  // Vault's own text (physical.ErrRelativePath).
  if (key.split('/').includes('..')) throw new CofferError('invalid-request', 'relative paths not supported');
}

/**
 * Plugin storage on Postgres (`coffer_plugin_storage`), the StorageHandler the runner gives every plugin process.
 * The host side has already checked that the calling process was set up for the mount it names; this class scopes
 * every statement to that mount, so the same key in two mounts is two rows.
 */
export class PluginStorage implements StorageHandler {
  private tableName?: string;
  /** `mount\0key` → plaintext (null = known absent), for the barrier it was read under; see `readCache`. */
  private readonly cache = new Map<string, Buffer | null>();
  private cacheBarrier?: Barrier;
  /** Bumped by every write: a read that overlapped one does not keep what it read (it may predate the write). */
  private writes = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: PluginStorageOptions,
  ) {}

  /** Resolved on first use: the data source learns its schema only once it has connected. */
  private get table(): string {
    this.tableName ??= qualifiedTable(this.dataSource, STORAGE_TABLE);
    return this.tableName;
  }

  private barrier(): Barrier {
    const barrier = this.options.barrier();
    if (!barrier) throw new CofferError('sealed', 'Vault is sealed');
    return barrier;
  }

  async get(mountUuid: string, key: string): Promise<Buffer | null> {
    checkStorageKey(key);
    const barrier = this.barrier();
    const cacheKey = `${mountUuid}\0${key}`;
    if (this.options.readCache) {
      if (barrier !== this.cacheBarrier) {
        this.cache.clear();
        this.cacheBarrier = barrier;
      }
      const cached = this.cache.get(cacheKey);
      // A copy: the caller owns what it gets, and must not be able to change what the next caller reads.
      if (cached !== undefined) return cached && Buffer.from(cached);
    }
    const writesBefore = this.writes;
    const rows: { value: Buffer }[] = await this.dataSource.query(`SELECT value FROM ${this.table} WHERE mount_uuid = $1 AND key = $2`, [
      mountUuid,
      key,
    ]);
    const value = rows.length === 0 ? null : barrier.decrypt(rows[0].value, storageAad(mountUuid, key));
    if (this.options.readCache && this.cacheBarrier === barrier && this.writes === writesBefore) this.remember(cacheKey, value && Buffer.from(value));
    return value;
  }

  async put(mountUuid: string, key: string, value: Buffer): Promise<void> {
    checkStorageKey(key);
    const sealed = this.barrier().encrypt(value, storageAad(mountUuid, key));
    const cacheKey = `${mountUuid}\0${key}`;
    this.forget(cacheKey);
    try {
      await this.dataSource.query(
        `INSERT INTO ${this.table} (mount_uuid, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (mount_uuid, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
        [mountUuid, key, sealed],
      );
    } finally {
      this.forget(cacheKey);
    }
  }

  async delete(mountUuid: string, key: string): Promise<void> {
    checkStorageKey(key);
    this.barrier();
    const cacheKey = `${mountUuid}\0${key}`;
    this.forget(cacheKey);
    try {
      await this.dataSource.query(`DELETE FROM ${this.table} WHERE mount_uuid = $1 AND key = $2`, [mountUuid, key]);
    } finally {
      this.forget(cacheKey);
    }
  }

  /** Before and after a write: a read running alongside must not keep what the write replaces. */
  private forget(cacheKey: string): void {
    this.writes++;
    this.cache.delete(cacheKey);
  }

  private remember(cacheKey: string, value: Buffer | null): void {
    if (this.cache.size >= READ_CACHE_MAX_ENTRIES) this.cache.clear();
    this.cache.set(cacheKey, value);
  }

  /**
   * Vault's list: the keys directly under `prefix`, relative to it, with every deeper key folded into its first
   * folder (`name/`), once. Byte order, so every runner and the dev store answer the same sequence.
   */
  async list(mountUuid: string, prefix: string): Promise<string[]> {
    checkStorageKey(prefix, 'prefix');
    this.barrier();
    const rows: { name: string }[] = await this.dataSource.query(
      `SELECT DISTINCT CASE WHEN strpos(rest, '/') > 0 THEN left(rest, strpos(rest, '/')) ELSE rest END AS name
         FROM (SELECT substr(key, char_length($2::text) + 1) AS rest
                 FROM ${this.table}
                WHERE mount_uuid = $1 AND starts_with(key, $2::text)) AS under
        WHERE rest <> ''
        ORDER BY name`,
      [mountUuid, prefix],
    );
    return rows.map((row) => row.name);
  }

  /** The mount's effective TTLs (its own, or the system's where it says 0), as Vault's system view answers them. */
  async info(mountUuid: string): Promise<{ defaultLeaseTtl: number; maxLeaseTtl: number; version: string }> {
    this.barrier();
    const mount = this.options.mountTtls(mountUuid);
    if (!mount) throw new CofferError('not-found', 'unknown mount');
    const system = typeof this.options.system === 'function' ? this.options.system() : this.options.system;
    return {
      defaultLeaseTtl: mount.defaultLeaseTtl || system.defaultLeaseTtl,
      maxLeaseTtl: mount.maxLeaseTtl || system.maxLeaseTtl,
      version: COFFER_VERSION,
    };
  }

  /**
   * Removes everything a mount stored. Every runner hears the disable broadcast and runs this, so it must be (and
   * is) harmless to repeat. Needs no barrier: nothing is decrypted, and a disabled mount's rows are useless anyway.
   */
  async deleteMountStorage(mountUuid: string): Promise<number> {
    this.writes++;
    for (const cacheKey of this.cache.keys()) if (cacheKey.startsWith(`${mountUuid}\0`)) this.cache.delete(cacheKey);
    const result: [unknown[], number] = await this.dataSource.query(`DELETE FROM ${this.table} WHERE mount_uuid = $1`, [mountUuid]);
    return Array.isArray(result) && typeof result[1] === 'number' ? result[1] : 0;
  }
}
