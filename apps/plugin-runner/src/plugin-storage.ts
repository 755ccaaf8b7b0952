import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Barrier } from '#barrier';
import { COFFER_VERSION, CofferError, sealedError } from '#contracts';
import { qualifiedTable } from '#event-store';
import type { StorageHandler, StorageTxnCheck, StorageTxnOp } from '#plugin-protocol';
import { ReadCache, type WritePhase } from './read-cache.js';

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
   * Keep read values in memory. Sound with several runners only because every write is announced to the others
   * (`announceWrite`, heard through `heardWrite`): see read-cache.ts.
   */
  readCache?: boolean;
  /** Tells the other runners that this one starts or has committed a write of the mount (before its caller hears). */
  announceWrite?: (mountUuid: string, phase: WritePhase) => void;
  /** How long another runner's write may run before its missing end is taken as lost (see read-cache.ts). */
  foreignWriteMaxMs?: number;
  /** Told of each `get` and `exists`: answered from the read cache, or from Postgres (the runner's metrics). */
  onRead?: (fromCache: boolean) => void;
  /**
   * Group commit: the writes (put, delete, txn) of one mount that arrive in one turn of the event loop run in ONE
   * transaction, each caller answered only after its COMMIT; a mount has one batch at a time, and different mounts'
   * batches run side by side on the pool. A busy turn's writes then cost one BEGIN/COMMIT between them, and on
   * Postgres one commit and one connection instead of one each (see `flushWrites`, and docs/performance.md for what
   * it saves). Per mount, so a write stuck on a key's lock holds up only its own mount. A batch takes its keys' locks
   * in arrival order, not sorted: two runners writing the same keys at once (a failover) can deadlock, which Postgres
   * detects; the batch it aborts is rolled back and each of its writes runs again alone.
   */
  groupCommit?: boolean;
}

/** One statement, answered with its rows, on whatever runs it: the pool, or the connection of a transaction. */
type Query = (sql: string, parameters: unknown[]) => Promise<unknown[]>;

/** The slice of node-postgres (a pool, or one client) a named statement needs. */
interface PgQueryable {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

/** What `writeEnds` compares: whether anything that could change the key's row started after the write. */
interface WriteTicket {
  cacheKey: string;
  mount: string;
  key: string;
  started: number;
  /** Another runner's write heard since this one started could have committed after it. */
  foreignHeard: number;
  bulkDeletes: number;
  barrier: Barrier | undefined;
}

/** A mount's writes waiting for their batch, and whether one is due or running (see `groupCommit`). */
interface WriteQueue {
  pending: PendingWrite[];
  flushScheduled: boolean;
  flushing: boolean;
}

/** A write waiting for its batch (see `groupCommit`). */
interface PendingWrite {
  /** The write inside a transaction it does not own (its batch's): statements only, no BEGIN or COMMIT. */
  inBatch(query: Query): Promise<unknown>;
  /** The write on its own, as without group commit. */
  alone(): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * Seed of the advisory-lock hash of a (mount, key): every writer of a key takes `pg_advisory_xact_lock` on it, so
 * the checks of a `txn` stay true until it commits. A hash collision only makes two keys' writers wait in turn.
 */
export const LOCK_SEED = 7_318_529;

/** Entries kept by the read cache before it starts over: a bound on memory, not a tuning knob. */
const READ_CACHE_MAX_ENTRIES = 10_000;

/** Writes in one group commit at most: bounds what one failing write makes the others redo on their own. */
const MAX_BATCH = 128;

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
  /** Plaintext (null = known absent) per mount and key, for the barrier it was read under; see `readCache`. */
  private readonly cache: ReadCache;
  /**
   * With group commit, per key: writes in flight and how many have started; bumped by every bulk delete. A write
   * that commits while none started after it on its key knows what the table holds there (writes commit in the
   * order they start: one queue per mount, one batch at a time), so its value is kept for the next read or existence check.
   */
  private readonly keyWrites = new Map<string, { inFlight: number; started: number }>();
  private bulkDeletes = 0;
  private bulkDeletesInFlight = 0;
  /** Group commit, per mount: writes not yet in a batch; whether a flush is due at the end of this turn, or running. */
  private readonly queues = new Map<string, WriteQueue>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: PluginStorageOptions,
  ) {
    this.cache = new ReadCache(READ_CACHE_MAX_ENTRIES, options.foreignWriteMaxMs ?? 60_000);
  }

  /** Another runner announced a write of the mount (`announceWrite` on its side). */
  heardWrite(mountUuid: string, phase: WritePhase): void {
    this.cache.foreignWrite(mountUuid, phase);
  }

  /** The bus was cut off and came back: another runner's announcements may have been missed while it was. */
  forgetAll(): void {
    this.cache.forgetAll();
  }

  /** Entries the read cache holds (the runner's metrics). */
  get cachedEntries(): number {
    return this.cache.size;
  }

  /**
   * Every write of the table, whatever its kind, between the two announcements: the end goes out after the
   * write settled (committed or not) and before its caller hears, which is what makes the others' caches safe.
   */
  private async announced<T>(mountUuid: string, write: () => Promise<T>): Promise<T> {
    const announce = this.options.announceWrite;
    if (!announce) return write();
    announce(mountUuid, 'start');
    try {
      return await write();
    } finally {
      announce(mountUuid, 'end');
    }
  }

  /** Resolved on first use: the data source learns its schema only once it has connected. */
  private get table(): string {
    this.tableName ??= qualifiedTable(this.dataSource, STORAGE_TABLE);
    return this.tableName;
  }

  private barrier(): Barrier {
    const barrier = this.options.barrier();
    if (!barrier) throw sealedError();
    return barrier;
  }

  async get(mountUuid: string, key: string): Promise<Buffer | null> {
    checkStorageKey(key);
    const barrier = this.barrier();
    if (this.options.readCache) {
      this.cache.under(barrier);
      const cached = this.cache.get(mountUuid, key);
      // A copy: the caller owns what it gets, and must not be able to change what the next caller reads.
      if (cached !== undefined) {
        this.options.onRead?.(true);
        return cached && Buffer.from(cached);
      }
    }
    this.options.onRead?.(false);
    const epoch = this.cache.epoch;
    const rows = (await this.query(this.pool, `SELECT value FROM ${this.table} WHERE mount_uuid = $1 AND key = $2`, [mountUuid, key])) as { value: Buffer }[];
    const value = rows.length === 0 ? null : barrier.decrypt(rows[0].value, storageAad(mountUuid, key));
    if (this.options.readCache) this.cache.keep(mountUuid, key, value && Buffer.from(value), barrier, epoch);
    return value;
  }

  /**
   * A plain write takes the key's lock too (in the same statement, so still one round trip): a `txn` that checked
   * the key holds that lock until it commits, so no plain write can slip between its check and its writes.
   */
  async put(mountUuid: string, key: string, value: Buffer): Promise<void> {
    checkStorageKey(key);
    const sealed = this.barrier().encrypt(value, storageAad(mountUuid, key));
    this.cache.forget(mountUuid, key);
    const statement = `WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended($1::text || chr(1) || $2::text, ${LOCK_SEED})))
         INSERT INTO ${this.table} (mount_uuid, key, value) SELECT $1::uuid, $2::text, $3::bytea FROM locked
         ON CONFLICT (mount_uuid, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`;
    const ticket = this.writeStarts(mountUuid, key);
    let done = false;
    try {
      await this.announced(mountUuid, () => this.write(mountUuid, (query) => query(statement, [mountUuid, key, sealed])));
      done = true;
    } finally {
      this.cache.forget(mountUuid, key);
      this.writeEnds(ticket, done, value);
    }
  }

  async delete(mountUuid: string, key: string): Promise<void> {
    checkStorageKey(key);
    this.barrier();
    this.cache.forget(mountUuid, key);
    const statement = `WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended($1::text || chr(1) || $2::text, ${LOCK_SEED})) AS l)
         DELETE FROM ${this.table} WHERE mount_uuid = $1::uuid AND key = $2::text AND EXISTS (SELECT 1 FROM locked)`;
    const ticket = this.writeStarts(mountUuid, key);
    let done = false;
    try {
      await this.announced(mountUuid, () => this.write(mountUuid, (query) => query(statement, [mountUuid, key])));
      done = true;
    } finally {
      this.cache.forget(mountUuid, key);
      this.writeEnds(ticket, done, null);
    }
  }

  /** Whether the key exists; nothing is read or decrypted (protocol 2's `storage.exists`). */
  async exists(mountUuid: string, key: string): Promise<boolean> {
    checkStorageKey(key);
    const barrier = this.barrier();
    if (this.options.readCache) {
      this.cache.under(barrier);
      const cached = this.cache.get(mountUuid, key);
      if (cached !== undefined) {
        this.options.onRead?.(true);
        return cached !== null;
      }
    }
    this.options.onRead?.(false);
    const rows = await this.query(this.pool, `SELECT 1 FROM ${this.table} WHERE mount_uuid = $1 AND key = $2`, [mountUuid, key]);
    return rows.length > 0;
  }

  /**
   * Protocol 2's `storage.txn`, in one Postgres transaction: the locks of every key it names (sorted, so two
   * transactions never wait on each other in a cycle), then the checks against what is committed at that moment,
   * then the writes. Every other writer of those keys (a plain put or delete, another txn, on any runner) takes the
   * same locks, so nothing changes a checked key between the check and the commit: of two writers that both saw
   * version N, exactly one gets ok.
   */
  async txn(mountUuid: string, checks: StorageTxnCheck[], ops: StorageTxnOp[]): Promise<{ ok: boolean; failed?: number }> {
    for (const c of checks) checkStorageKey(c.key);
    for (const o of ops) checkStorageKey(o.key);
    const barrier = this.barrier();
    const keys = [...new Set([...checks.map((c) => c.key), ...ops.map((o) => o.key)])].sort();
    const written = ops.map((o) => o.key);
    for (const k of written) this.cache.forget(mountUuid, k);
    // Counted as writes of those keys, so a plain write overlapping this one does not keep its value; a txn's
    // outcome itself is not kept (it may write nothing).
    const tickets = written.map((k) => this.writeStarts(mountUuid, k));
    try {
      return await this.announced(mountUuid, () =>
        this.write(
          mountUuid,
          (query) => this.txnStatements(query, barrier, mountUuid, keys, checks, ops),
          () => this.inTransaction((query) => this.txnStatements(query, barrier, mountUuid, keys, checks, ops)),
        ),
      );
    } finally {
      for (const k of written) this.cache.forget(mountUuid, k);
      for (const t of tickets) this.writeEnds(t, false, null);
    }
  }

  /**
   * A txn's statements, in a transaction someone else begins and ends: the locks, the checks, then (only if every
   * check holds) the writes. A failed check has written nothing, so the transaction may still commit (its batch).
   */
  private async txnStatements(
    query: Query,
    barrier: Barrier,
    mountUuid: string,
    keys: string[],
    checks: StorageTxnCheck[],
    ops: StorageTxnOp[],
  ): Promise<{ ok: boolean; failed?: number }> {
    for (const key of keys) {
      await query(`SELECT pg_advisory_xact_lock(hashtextextended($1::text || chr(1) || $2::text, ${LOCK_SEED}))`, [mountUuid, key]);
    }
    const checked = [...new Set(checks.map((c) => c.key))];
    const rows = (
      checked.length ? await query(`SELECT key, value FROM ${this.table} WHERE mount_uuid = $1 AND key = ANY($2::text[])`, [mountUuid, checked]) : []
    ) as { key: string; value: Buffer }[];
    const current = new Map(rows.map((r) => [r.key, r.value]));
    for (const [i, c] of checks.entries()) {
      const stored = current.get(c.key);
      const holds =
        'exists' in c ? (stored !== undefined) === c.exists : stored !== undefined && barrier.decrypt(stored, storageAad(mountUuid, c.key)).equals(c.value);
      if (!holds) return { ok: false, failed: i };
    }
    for (const o of ops) {
      if (o.op === 'put') {
        await query(
          `INSERT INTO ${this.table} (mount_uuid, key, value) VALUES ($1, $2, $3)
           ON CONFLICT (mount_uuid, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
          [mountUuid, o.key, barrier.encrypt(o.value, storageAad(mountUuid, o.key))],
        );
      } else {
        await query(`DELETE FROM ${this.table} WHERE mount_uuid = $1 AND key = $2`, [mountUuid, o.key]);
      }
    }
    return { ok: true };
  }

  /** `statements` in a transaction of their own: committed when they resolve, rolled back when they throw. */
  private async inTransaction<T>(statements: (query: Query) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    try {
      // The node-postgres client itself, so that the statements can be named.
      const client = (await runner.connect()) as PgQueryable;
      await runner.startTransaction();
      try {
        const result = await statements((sql, parameters) => this.query(client, sql, parameters));
        await runner.commitTransaction();
        return result;
      } catch (err) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        throw err;
      }
    } finally {
      await runner.release();
    }
  }

  /**
   * A write: at once without group commit; with it, queued for the batch that runs at the end of this turn (or,
   * while one runs, for the next). `alone` is how it runs outside a batch (default: its statements on the pool).
   */
  private write<T>(mountUuid: string, inBatch: (query: Query) => Promise<T>, alone?: () => Promise<T>): Promise<T> {
    const aloneRun = alone ?? (() => inBatch((sql, parameters) => this.query(this.pool, sql, parameters)));
    if (!this.options.groupCommit) return aloneRun();
    let queue = this.queues.get(mountUuid);
    if (!queue) {
      queue = { pending: [], flushScheduled: false, flushing: false };
      this.queues.set(mountUuid, queue);
    }
    const q = queue;
    return new Promise<T>((resolve, reject) => {
      q.pending.push({ inBatch, alone: aloneRun, resolve: resolve as (value: unknown) => void, reject });
      // setImmediate, not a timer: it runs once this turn's I/O callbacks (every plugin line read in it) are done,
      // so a lone write waits for nothing, and a busy turn's writes share one commit.
      if (!q.flushScheduled && !q.flushing) {
        q.flushScheduled = true;
        setImmediate(() => {
          q.flushScheduled = false;
          void this.flushWrites(mountUuid, q);
        });
      }
    });
  }

  /**
   * Group commit: runs what is queued, batch after batch (what arrives while one runs waits for the next), until
   * nothing is left. A batch of one runs alone (no BEGIN/COMMIT round trips added to a quiet server's write). A
   * batch runs its writes in order in one transaction and answers them after the COMMIT; if any of them throws (or
   * the COMMIT does), the transaction is rolled back and each write of the batch runs again alone, in order, and
   * gets its own outcome: one failing write never fails its neighbours, and nobody hears "done" for an uncommitted
   * write. A txn whose check fails writes nothing, so it does not spoil the batch; its checks see the writes ahead
   * of it in the batch, which is the order they commit in.
   */
  private async flushWrites(mountUuid: string, queue: WriteQueue): Promise<void> {
    queue.flushing = true;
    try {
      while (queue.pending.length > 0) {
        const batch = queue.pending.splice(0, MAX_BATCH);
        if (batch.length === 1) {
          await settle(batch[0], batch[0].alone);
          continue;
        }
        let results: unknown[] | undefined;
        try {
          results = await this.inTransaction(async (query) => {
            const out: unknown[] = [];
            for (const w of batch) out.push(await w.inBatch(query));
            return out;
          });
        } catch {
          results = undefined;
        }
        if (results) batch.forEach((w, i) => w.resolve(results![i]));
        else for (const w of batch) await settle(w, w.alone);
      }
    } finally {
      queue.flushing = false;
      // A quiet mount keeps no queue: mounts come and go, the map must not grow with them.
      if (queue.pending.length === 0 && !queue.flushScheduled) this.queues.delete(mountUuid);
    }
  }

  /** node-postgres's pool under the data source (TypeORM's `query` cannot name a statement). */
  private get pool(): PgQueryable {
    return (this.dataSource.driver as unknown as { master: PgQueryable }).master;
  }

  /**
   * A statement of this class, prepared once per connection under a name: Postgres then parses and plans it once,
   * not at every call. On the dev server's PGlite that was most of a write's cost in the store (a kv write's upsert
   * ~400 µs of CPU unnamed, ~170 µs named), and Postgres saves the same work. The texts are fixed per table, so
   * the names are few; a name is the text's hash, so every instance on a connection gives one text one name.
   */
  private query(on: PgQueryable, sql: string, parameters: unknown[]): Promise<unknown[]> {
    return on.query({ name: statementName(sql), text: sql, values: parameters }).then((result) => result.rows);
  }

  /** See `keyWrites`; undefined when nothing will be kept (no read cache or no group commit). */
  private writeStarts(mount: string, key: string): WriteTicket | undefined {
    if (!this.options.readCache || !this.options.groupCommit) return undefined;
    const cacheKey = `${mount}\0${key}`;
    const entry = this.keyWrites.get(cacheKey) ?? { inFlight: 0, started: 0 };
    entry.inFlight++;
    entry.started++;
    this.keyWrites.set(cacheKey, entry);
    return { cacheKey, mount, key, started: entry.started, bulkDeletes: this.bulkDeletes, barrier: this.options.barrier(), foreignHeard: this.cache.foreignHeard };
  }

  /** Keeps what a committed write left under its key, if it is still the last word there (see `keyWrites`). */
  private writeEnds(ticket: WriteTicket | undefined, committed: boolean, value: Buffer | null): void {
    if (!ticket) return;
    const entry = this.keyWrites.get(ticket.cacheKey)!;
    const last = entry.started === ticket.started;
    if (--entry.inFlight === 0) this.keyWrites.delete(ticket.cacheKey);
    const barrier = this.options.barrier();
    if (!committed || !last || ticket.bulkDeletes !== this.bulkDeletes || this.bulkDeletesInFlight > 0 || !barrier || barrier !== ticket.barrier || ticket.foreignHeard !== this.cache.foreignHeard) return;
    this.cache.under(barrier);
    // A copy: the caller still owns the buffer it wrote. Kept under the epoch this write's own `forget` left.
    this.cache.keep(ticket.mount, ticket.key, value && Buffer.from(value), barrier, this.cache.epoch);
  }

  /** A delete of many keys: no write keeps its value while one runs (see `writeEnds`). */
  private async bulkDelete<T>(mountUuid: string, run: () => Promise<T>): Promise<T> {
    this.bulkDeletes++;
    this.bulkDeletesInFlight++;
    try {
      return await this.announced(mountUuid, run);
    } finally {
      this.bulkDeletesInFlight--;
    }
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
   * Removes a mount's keys under each prefix (whole scopes, so each must end in `/`: `abc` must not take `abcd/`).
   * Idempotent; needs no barrier, since nothing is decrypted. Returns how many keys went.
   */
  async deletePrefixes(mountUuid: string, prefixes: readonly string[]): Promise<number> {
    for (const prefix of prefixes) {
      checkStorageKey(prefix, 'prefix');
      if (prefix === '' || !prefix.endsWith('/')) throw new CofferError('invalid-request', 'invalid prefix: a scope must end in "/"');
    }
    if (prefixes.length === 0) return 0;
    this.cache.forgetPrefixes(mountUuid, prefixes);
    const result: [unknown[], number] = await this.bulkDelete(mountUuid, () =>
      this.dataSource.query(
        `DELETE FROM ${this.table} WHERE mount_uuid = $1 AND EXISTS (SELECT 1 FROM unnest($2::text[]) AS p(prefix) WHERE starts_with(key, p.prefix))`,
        [mountUuid, [...prefixes]],
      ),
    );
    this.cache.forgetPrefixes(mountUuid, prefixes);
    return Array.isArray(result) && typeof result[1] === 'number' ? result[1] : 0;
  }

  /**
   * Removes everything a mount stored. Every runner hears the disable broadcast and runs this, so it must be (and
   * is) harmless to repeat. Needs no barrier: nothing is decrypted, and a disabled mount's rows are useless anyway.
   */
  async deleteMountStorage(mountUuid: string): Promise<number> {
    this.cache.forgetMount(mountUuid);
    const result: [unknown[], number] = await this.bulkDelete(mountUuid, () => this.dataSource.query(`DELETE FROM ${this.table} WHERE mount_uuid = $1`, [mountUuid]));
    this.cache.forgetMount(mountUuid);
    return Array.isArray(result) && typeof result[1] === 'number' ? result[1] : 0;
  }
}

const statementNames = new Map<string, string>();

function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = `coffer_storage_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    statementNames.set(sql, name);
  }
  return name;
}

async function settle(write: PendingWrite, run: () => Promise<unknown>): Promise<void> {
  try {
    write.resolve(await run());
  } catch (error) {
    write.reject(error);
  }
}
