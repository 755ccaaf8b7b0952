import type { DataSource } from 'typeorm';
import { qualifiedTable } from '#event-store';
import type { Mount } from '#mount-table';
import { MethodNotImplemented, type PluginLog } from '#plugin-protocol';
import type { PluginPool, PoolTarget } from './plugin-pool.js';

export interface PeriodicOptions {
  dataSource: DataSource;
  /** Every mount this runner knows of (both tables). */
  mounts: () => Mount[];
  /** The mount's plugin, as a call to it would be routed; undefined when the catalog has none. */
  target: (mount: Mount) => PoolTarget | undefined;
  pool: Pick<PluginPool, 'call'>;
  sealed: () => boolean;
  log: PluginLog;
  /** This runner's name, written on its claims. */
  instance: string;
  /** COFFER_PERIODIC_TICK_MS: how often each mount gets its call. */
  tickMs: number;
  /** The runner's plugin-call limit: a claim is held at least this long, so a slow call is never run twice at once. */
  callTimeoutMs: number;
}

/**
 * The plugins' scheduled work (protocol 3 `periodic`, Vault's PeriodicFunc). Every runner ticks; on each tick it
 * claims the mounts whose call is due in `coffer_periodic` with one UPDATE that moves their `due_at` past the call's
 * limit, so of all the runners exactly one makes a mount's call per interval (Postgres re-checks the WHERE of a
 * concurrent UPDATE after the first one commits, and the row is no longer due). No row lock is held across the
 * plugin call: the dev server has a single database connection, which the plugin's own storage calls need. When the
 * call ends, the claim is released and the next one falls due a tick later. A plugin that answers -32601 is recorded
 * by its SHA-256 and never asked again for that mount (a new build of it is asked once).
 */
export class PeriodicScheduler {
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private closed = false;
  /** Mounts whose call is in flight on this runner. */
  private readonly running = new Map<string, Promise<void>>();
  /** Mount uuid → the SHA-256 of its plugin known to have no periodic (saves asking the database each tick). */
  private readonly unsupported = new Map<string, string>();
  private tableName?: string;
  /** The last failure logged per mount: a plugin that cannot start fails every tick, and is logged once per change. */
  private readonly lastFailure = new Map<string, string>();

  constructor(private readonly options: PeriodicOptions) {}

  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.tick(), this.options.tickMs);
    this.timer.unref();
  }

  /** Stops ticking and waits for the calls in flight here. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.running.values()]);
  }

  /** One round: claims the due mounts and starts their calls (not awaited). Returns how many it claimed. */
  async tick(): Promise<number> {
    if (this.ticking || this.closed || this.options.sealed()) return 0;
    this.ticking = true;
    try {
      const due: { uuid: string; target: PoolTarget }[] = [];
      for (const mount of this.options.mounts()) {
        if (this.running.has(mount.uuid)) continue;
        const target = this.options.target(mount);
        if (!target || this.unsupported.get(mount.uuid) === target.entry.sha256) continue;
        due.push({ uuid: mount.uuid, target });
      }
      if (!due.length) return 0;
      const uuids = due.map((d) => d.uuid);
      const shas = due.map((d) => d.target.entry.sha256);
      await this.query(`INSERT INTO ${this.table} (mount_uuid) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING`, [uuids]);
      const hold = Math.max(this.options.tickMs, this.options.callTimeoutMs + 5_000);
      const rows = await this.query<{ mount_uuid: string }>(
        `UPDATE ${this.table} p SET due_at = now() + $3 * interval '1 millisecond', claimed_by = $4
          FROM unnest($1::uuid[], $2::text[]) AS m(uuid, sha)
         WHERE p.mount_uuid = m.uuid AND p.due_at <= now() AND p.unsupported_sha IS DISTINCT FROM m.sha
         RETURNING p.mount_uuid`,
        [uuids, shas, hold, this.options.instance],
      );
      const claimed = new Set(rows.map((r) => r.mount_uuid));
      for (const { uuid, target } of due) {
        if (!claimed.has(uuid)) continue;
        const call = this.fire(uuid, target).finally(() => this.running.delete(uuid));
        this.running.set(uuid, call);
      }
      return claimed.size;
    } catch (err) {
      this.options.log.warn({ err: (err as Error)?.message }, 'periodic: claiming due mounts failed');
      return 0;
    } finally {
      this.ticking = false;
    }
  }

  private async fire(uuid: string, target: PoolTarget): Promise<void> {
    const { log } = this.options;
    try {
      await this.options.pool.call(target, 'periodic', { mount: uuid });
      this.lastFailure.delete(uuid);
    } catch (err) {
      if (err instanceof MethodNotImplemented) {
        this.unsupported.set(uuid, target.entry.sha256);
        await this
          .query(`UPDATE ${this.table} SET unsupported_sha = $2 WHERE mount_uuid = $1`, [uuid, target.entry.sha256])
          .catch((e: Error) => log.warn({ mount: uuid, err: e.message }, 'periodic: recording a plugin without periodic failed'));
        log.info({ mount: uuid, plugin: target.entry.name }, 'periodic: the plugin has no periodic function; not asked again');
        return;
      }
      const message = String((err as Error)?.message);
      if (this.lastFailure.get(uuid) !== message) {
        this.lastFailure.set(uuid, message);
        log.warn({ mount: uuid, plugin: target.entry.name, err: message }, 'periodic call failed; tried again each tick (logged again when the error changes)');
      }
    }
    // The next call falls due a tick after this one ended (not after it began), so a slow one does not run back to back.
    await this
      .query(`UPDATE ${this.table} SET due_at = now() + $2 * interval '1 millisecond', claimed_by = NULL WHERE mount_uuid = $1 AND claimed_by = $3`, [
        uuid,
        this.options.tickMs,
        this.options.instance,
      ])
      .catch((e: Error) => log.warn({ mount: uuid, err: e.message }, 'periodic: releasing a claim failed'));
  }

  /** Rows of any statement (TypeORM's plain query() answers an UPDATE ... RETURNING as [rows, count]). */
  private async query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    const runner = this.options.dataSource.createQueryRunner();
    try {
      return ((await runner.query(sql, params, true)).records ?? []) as T[];
    } finally {
      await runner.release();
    }
  }

  private get table(): string {
    this.tableName ??= qualifiedTable(this.options.dataSource, 'coffer_periodic');
    return this.tableName;
  }
}
