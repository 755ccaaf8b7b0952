import { randomInt } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Barrier } from '#barrier';
import type { Bus } from '#bus';
import { CofferError, runnerSubjects, sealedError, type LeaseCall, type MountSecret } from '#contracts';
import { qualifiedTable } from '#event-store';
import { accessorHmacOf } from '../tokens/token-sealing.js';
import { parseDurationSeconds } from '../tokens/ttl.js';

/** What a plugin's response asks for: the route stage's mount and path, the secret, and who obtained it. */
export interface LeaseGrant {
  mount: { uuid: string; config: { defaultLeaseTtl: number; maxLeaseTtl: number } };
  /** The request's logical path, mount included (`database/creds/readonly`): the lease id's prefix. */
  path: string;
  secret: MountSecret;
}

/** What a client sees of a lease in the envelope. */
export interface LeaseView {
  id: string;
  duration: number;
  renewable: boolean;
}

/** The encrypted part of a lease row: everything the plugin needs, and the times. */
interface LeaseEntry {
  type: string;
  internal: Record<string, unknown>;
  renewable: boolean;
  /** Epoch ms. */
  issueTime: number;
  lastRenewal: number | null;
  /** The lease's current TTL, seconds. */
  ttl: number;
  /** The latest the lease may ever expire, epoch ms (issue + max TTL). */
  maxExpire: number;
  /** Epoch ms; the encrypted authority (the plain column only finds rows). */
  expireTime: number;
}

interface LeaseRow {
  lease_id: string;
  mount_uuid: string;
  token_hmac: string | null;
  expires_at: Date | number;
  attempts: number;
  data: Buffer;
}

export interface LeaseManagerOptions {
  barrier: () => Barrier | undefined;
  bus: Pick<Bus, 'request'>;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** The system's default_lease_ttl and max_lease_ttl, seconds. */
  defaultLeaseTtl: number;
  maxLeaseTtl: number;
  /** How often each instance looks for due leases, ms. Default 1000 (COFFER_LEASE_TICK_MS). */
  tickMs?: number;
  /** The longest wait between two revocation attempts of one lease, ms. Default 5 min (COFFER_LEASE_MAX_BACKOFF_MS). */
  maxBackoffMs?: number;
  /** Leases claimed (and revoked concurrently) at a time; a pass claims batch after batch while they come back full. Default 64. */
  batch?: number;
  /** Whether a mount still exists (tidy drops the leases of mounts that are gone). */
  mountExists?: (uuid: string) => boolean;
  now?: () => number;
}

const COLUMNS = 'lease_id, mount_uuid, token_hmac, expires_at, attempts, data';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PLUGIN_CALL_TIMEOUT_MS = 30_000;
/** How long a claim keeps other instances off a lease: past the plugin call's timeout, so it ends before the claim. */
const CLAIM_MS = 2 * PLUGIN_CALL_TIMEOUT_MS;

/**
 * Vault's expiration manager over `coffer_leases`. Every gateway runs one and there is no leader: a pass claims due
 * rows in one statement (`FOR UPDATE SKIP LOCKED`, setting `claimed_until`), so two instances never revoke the same
 * lease at once, and calls the plugin with no transaction open (the plugin's storage calls need a connection, and the
 * dev server has only one); a success deletes the row, a failure keeps it with the next attempt pushed back
 * (exponential backoff) and the claim dropped, and a claim whose holder crashed runs out after CLAIM_MS, so nothing is
 * lost to a crash or a restart: after unseal, whatever came due meanwhile fires.
 *
 * A lease remembers the HMAC of the accessor of the token that obtained it. A lease whose token is gone (revoked, with
 * its subtree, or expired) is made due on the next pass: revoking a token takes its leases, and its children's.
 */
export class LeaseManager {
  private readonly now: () => number;
  private readonly tickMs: number;
  private readonly maxBackoffMs: number;
  private readonly batch: number;
  private timer?: NodeJS.Timeout;
  private stopping = false;
  private running?: Promise<unknown>;
  private tableName?: string;
  private tokensTable?: string;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: LeaseManagerOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.tickMs = options.tickMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 300_000;
    this.batch = options.batch ?? 64;
  }

  /** Starts this instance's share of expiry: a pass every tick while unsealed. */
  start(): void {
    if (this.timer) return;
    this.stopping = false;
    this.timer = setInterval(() => this.kick(), this.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** A pass now (a token was revoked somewhere), unless one is running. */
  kick(): void {
    if (this.running || !this.options.barrier()) return;
    this.running = this.expireDue()
      .catch((err) => this.options.log.warn({ err: (err as Error).message }, 'lease expiry pass failed'))
      .finally(() => (this.running = undefined));
  }

  /** Records a lease for a plugin's secret; returns what the envelope shows. */
  async register(grant: LeaseGrant, tokenAccessor: string): Promise<LeaseView> {
    const barrier = this.barrier();
    const now = this.now();
    const sysDefault = this.options.defaultLeaseTtl;
    const sysMax = this.options.maxLeaseTtl;
    const mountMax = grant.mount.config.maxLeaseTtl || sysMax;
    const mountDefault = grant.mount.config.defaultLeaseTtl || sysDefault;
    const maxTtl = grant.secret.maxTtl ? Math.min(grant.secret.maxTtl, mountMax) : mountMax;
    const ttl = Math.min(grant.secret.ttl || mountDefault, maxTtl);
    const entry: LeaseEntry = {
      type: grant.secret.type,
      internal: grant.secret.internal,
      renewable: grant.secret.renewable !== false,
      issueTime: now,
      lastRenewal: null,
      ttl,
      maxExpire: now + maxTtl * 1000,
      expireTime: now + ttl * 1000,
    };
    const id = `${grant.path.replace(/\/+$/, '')}/${randomId()}`;
    await this.query(`INSERT INTO ${this.table} (lease_id, mount_uuid, token_hmac, expires_at, data) VALUES ($1, $2, $3, $4, $5)`, [
      id,
      grant.mount.uuid,
      tokenAccessor ? accessorHmacOf(barrier, tokenAccessor) : null,
      new Date(entry.expireTime).toISOString(),
      seal(barrier, id, entry),
    ]);
    return { id, duration: ttl, renewable: entry.renewable };
  }

  /** The plugin revokes a secret whose lease could not be recorded (best effort). */
  async revokeUnrecorded(grant: LeaseGrant): Promise<void> {
    const call: LeaseCall = {
      mount: grant.mount.uuid,
      lease: { id: `${grant.path}/unrecorded`, type: grant.secret.type, internal: grant.secret.internal, issueTime: new Date(this.now()).toISOString(), ttl: 0 },
    };
    await this.options.bus.request(runnerSubjects.revoke, call, { timeoutMs: PLUGIN_CALL_TIMEOUT_MS });
  }

  /** `sys/leases/lookup`: Vault's fields, never the internal data. */
  async lookup(leaseId: string): Promise<Record<string, unknown>> {
    const barrier = this.barrier();
    if (!leaseId) throw invalid('lease_id must be specified');
    const [row] = await this.query(`SELECT ${COLUMNS} FROM ${this.table} WHERE lease_id = $1`, [leaseId]);
    if (!row) throw invalid('invalid lease');
    const entry = open(barrier, row);
    const now = this.now();
    return {
      id: row.lease_id,
      issue_time: new Date(entry.issueTime).toISOString(),
      expire_time: new Date(entry.expireTime).toISOString(),
      last_renewal: entry.lastRenewal === null ? null : new Date(entry.lastRenewal).toISOString(),
      renewable: entry.renewable,
      ttl: Math.max(0, Math.floor((entry.expireTime - now) / 1000)),
    };
  }

  /** LIST `sys/leases/lookup/<prefix>`: one level of names under the prefix, folders ending in `/`. */
  async list(prefix: string): Promise<string[]> {
    this.barrier();
    const rows = await this.query(`SELECT lease_id FROM ${this.table} WHERE starts_with(lease_id, $1) ORDER BY lease_id`, [prefix]);
    const keys = new Set<string>();
    for (const { lease_id } of rows) {
      const rest = lease_id.slice(prefix.length);
      const slash = rest.indexOf('/');
      keys.add(slash === -1 ? rest : rest.slice(0, slash + 1));
    }
    return [...keys];
  }

  /** `sys/leases/renew`: the plugin decides (it may refuse); the lease never outlives its max TTL. */
  async renew(leaseId: string, increment: unknown): Promise<LeaseView & { warnings: string[] }> {
    const barrier = this.barrier();
    if (!leaseId) throw invalid('lease_id must be specified');
    let requested: number;
    try {
      requested = parseDurationSeconds(increment) ?? 0;
    } catch {
      throw invalid('invalid increment');
    }
    if (requested < 0) throw invalid('increment must be positive');
    // Claimed for the plugin call: an expiry or a revocation meanwhile waits for the renewal to finish.
    const [row] = await this.claim('lease_id = $1', [leaseId], { due: false });
    if (!row) {
      const [held] = await this.query(`SELECT lease_id FROM ${this.table} WHERE lease_id = $1`, [leaseId]);
      throw invalid(held ? 'lease is being renewed or revoked' : 'lease not found');
    }
    const entry = open(barrier, row);
    const now = this.now();
    let result: { ttl?: number; internal?: Record<string, unknown>; warnings?: string[] };
    try {
      if (row.attempts > 0) throw invalid('lease is expired and has failed previous revocation attempts');
      // The plain column says so too when a revocation was queued (-infinity: pg hands back a number, not a Date).
      if (entry.expireTime <= now || Number(row.expires_at) <= now) throw invalid('lease expired');
      if (!entry.renewable) throw invalid('lease is not renewable');
      result = await this.options.bus.request(runnerSubjects.renew, { ...this.call(row, entry), increment: requested } satisfies LeaseCall, {
        timeoutMs: PLUGIN_CALL_TIMEOUT_MS,
      });
    } catch (err) {
      await this.query(`UPDATE ${this.table} SET claimed_until = '-infinity' WHERE lease_id = $1`, [leaseId]);
      throw err;
    }
    const wanted = result.ttl || requested || entry.ttl;
    const granted = Math.max(0, Math.min(wanted, Math.floor((entry.maxExpire - now) / 1000)));
    const warnings = [...(result.warnings ?? [])];
    if (granted < wanted) warnings.push('TTL of "' + wanted + 's" exceeded the effective max_ttl of "' + granted + 's"; TTL value is capped accordingly');
    entry.ttl = granted;
    entry.expireTime = now + granted * 1000;
    entry.lastRenewal = now;
    if (result.internal) entry.internal = result.internal;
    // A revocation queued meanwhile (expires_at -infinity) wins over the renewal.
    await this.query(
      `UPDATE ${this.table} SET expires_at = CASE WHEN expires_at = '-infinity' THEN expires_at ELSE $2 END, data = $3, claimed_until = '-infinity' WHERE lease_id = $1`,
      [
      leaseId,
      new Date(entry.expireTime).toISOString(),
        seal(barrier, leaseId, entry),
      ],
    );
    return { id: leaseId, duration: granted, renewable: entry.renewable, warnings };
  }

  /**
   * `sys/leases/revoke`: with `sync`, the plugin revokes before this returns (an error is the client's, and the lease
   * stays for the retries); without, the lease is only made due and the next pass revokes it. Unknown ids are fine.
   */
  async revoke(leaseId: string, sync: boolean): Promise<void> {
    this.barrier();
    if (!leaseId) throw invalid('lease_id must be specified');
    await this.revokeWhere('lease_id = $1', [leaseId], sync, false);
  }

  /** `revoke-prefix` and `revoke-force`: every lease whose id starts with the prefix. Returns how many went. */
  async revokePrefix(prefix: string, options: { sync: boolean; force: boolean }): Promise<number> {
    this.barrier();
    return this.revokeWhere('starts_with(lease_id, $1)', [prefix], options.sync || options.force, options.force);
  }

  /**
   * `sys/leases/tidy`: the leases of mounts that no longer exist can never be revoked by their plugin; they are
   * dropped (their secrets went with the mount's plugin), and the count is logged.
   */
  async tidy(): Promise<number> {
    this.barrier();
    const exists = this.options.mountExists;
    if (!exists) return 0;
    const mounts = await this.query(`SELECT DISTINCT mount_uuid FROM ${this.table}`);
    const gone = mounts.map((m) => m.mount_uuid).filter((uuid) => !exists(uuid));
    if (gone.length === 0) return 0;
    const deleted = await this.query(`DELETE FROM ${this.table} WHERE mount_uuid = ANY($1::uuid[]) RETURNING lease_id`, [gone]);
    this.options.log.info({ leases: deleted.length, mounts: gone.length }, 'lease tidy dropped the leases of disabled mounts');
    return deleted.length;
  }

  /**
   * One pass of this instance: leases whose token is gone become due, then due leases are claimed `batch` at a time
   * (skipping those another instance holds) and revoked, until a batch comes back short. Returns how many were revoked.
   */
  async expireDue(): Promise<number> {
    const barrier = this.barrier();
    await this.query(
      `UPDATE ${this.table} l SET expires_at = '-infinity'
        WHERE l.token_hmac IS NOT NULL AND l.expires_at > now()
          AND NOT EXISTS (SELECT 1 FROM ${this.tokens} t WHERE t.accessor_hmac = l.token_hmac AND (t.expires_at IS NULL OR t.expires_at > now()))`,
    );
    let revoked = 0;
    for (;;) {
      const rows = await this.claim('TRUE', [], { due: true });
      const results = await Promise.all(rows.map((row) => this.revokeRow(barrier, row, false).then(() => 1, () => 0)));
      revoked += results.reduce<number>((a, b) => a + b, 0);
      // A full batch means more may be due (a backlog: a restart after downtime, a large revoke-prefix queued): the
      // next batch is claimed now rather than a tick later. This ends: a revoked row is deleted and a failed one is
      // pushed into backoff, so no row is claimed twice in one pass. Stopping or sealing ends the pass after a batch.
      if (rows.length < this.batch || this.stopping || !this.options.barrier()) return revoked;
    }
  }

  /**
   * Claims, in one statement, the leases matching `where` (its parameters are `$1`…) that no one holds: `due` adds
   * "expired and not in backoff" and the batch limit. Returns the rows claimed, for this instance alone.
   */
  private async claim(where: string, params: unknown[], options: { due: boolean }): Promise<LeaseRow[]> {
    const now = params.length + 1;
    const until = params.length + 2;
    const due = options.due ? ` AND expires_at <= $${now} AND retry_at <= $${now}` : '';
    const limit = options.due ? ` ORDER BY expires_at LIMIT ${this.batch}` : '';
    return this.query(
      `UPDATE ${this.table} SET claimed_until = $${until}
        WHERE lease_id IN (SELECT lease_id FROM ${this.table} WHERE (${where}) AND claimed_until <= $${now}${due}${limit} FOR UPDATE SKIP LOCKED)
        RETURNING ${COLUMNS}`,
      [...params, new Date(this.now()).toISOString(), new Date(this.now() + CLAIM_MS).toISOString()],
    );
  }

  private async revokeWhere(where: string, params: unknown[], sync: boolean, force: boolean): Promise<number> {
    const barrier = this.barrier();
    if (!sync) {
      const rows = await this.query(`UPDATE ${this.table} SET expires_at = '-infinity', retry_at = '-infinity' WHERE ${where} RETURNING lease_id`, params);
      return rows.length;
    }
    // Claimed as expiry claims them; a lease another instance is revoking right now is left to it. A failure is
    // reported after all were tried, so the revocations that worked and the retry state of those that did not both stay.
    const rows = await this.claim(where, params, { due: false });
    let failure: unknown;
    for (const row of rows.sort((a, b) => (a.lease_id < b.lease_id ? -1 : 1))) {
      try {
        await this.revokeRow(barrier, row, force);
      } catch (err) {
        failure ??= err;
      }
    }
    // Those another call holds (a renewal, another instance's revocation) are queued: the next pass after its claim.
    const held = await this.query(
      `UPDATE ${this.table} SET expires_at = '-infinity', retry_at = '-infinity' WHERE (${where}) AND claimed_until > $${params.length + 1} RETURNING lease_id`,
      [...params, new Date(this.now()).toISOString()],
    );
    const count = rows.length + held.length;
    if (failure) {
      const message = failure instanceof CofferError && failure.message ? failure.message : 'internal error';
      throw new CofferError('internal', `failed to revoke lease: ${message}`);
    }
    return count;
  }

  /** The plugin revokes; the row goes. On failure the row stays, due again after a backoff (or goes anyway, forced). */
  private async revokeRow(barrier: Barrier, row: LeaseRow, force: boolean): Promise<void> {
    try {
      const entry = open(barrier, row);
      await this.options.bus.request(runnerSubjects.revoke, this.call(row, entry) satisfies LeaseCall, { timeoutMs: PLUGIN_CALL_TIMEOUT_MS });
    } catch (err) {
      if (!force) {
        const attempts = row.attempts + 1;
        const backoffMs = Math.min(this.maxBackoffMs, 1000 * 2 ** Math.min(attempts - 1, 20));
        await this.query(`UPDATE ${this.table} SET attempts = $2, retry_at = $3, expires_at = least(expires_at, $4), claimed_until = '-infinity' WHERE lease_id = $1`, [
          row.lease_id,
          attempts,
          new Date(this.now() + backoffMs).toISOString(),
          new Date(this.now()).toISOString(),
        ]);
        this.options.log.warn({ lease: row.lease_id, attempts, retryInMs: backoffMs, err: (err as Error).message }, 'lease revocation failed; will retry');
        throw err;
      }
      this.options.log.warn({ lease: row.lease_id, err: (err as Error).message }, 'lease revocation failed; forced, the lease is dropped');
    }
    await this.query(`DELETE FROM ${this.table} WHERE lease_id = $1`, [row.lease_id]);
  }

  private call(row: LeaseRow, entry: LeaseEntry): LeaseCall {
    return {
      mount: row.mount_uuid,
      lease: { id: row.lease_id, type: entry.type, internal: entry.internal, issueTime: new Date(entry.issueTime).toISOString(), ttl: entry.ttl },
    };
  }

  private barrier(): Barrier {
    const barrier = this.options.barrier();
    if (!barrier) throw sealedError();
    return barrier;
  }

  private get table(): string {
    this.tableName ??= qualifiedTable(this.dataSource, 'coffer_leases');
    return this.tableName;
  }

  private get tokens(): string {
    this.tokensTable ??= qualifiedTable(this.dataSource, 'coffer_tokens');
    return this.tokensTable;
  }

  private async query(sql: string, params?: unknown[]): Promise<LeaseRow[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return ((await runner.query(sql, params, true)).records ?? []) as LeaseRow[];
    } finally {
      await runner.release();
    }
  }
}

/** Vault's lease id suffix: 24 base62 characters. */
function randomId(): string {
  let id = '';
  for (let i = 0; i < 24; i++) id += BASE62[randomInt(BASE62.length)];
  return id;
}

function seal(barrier: Barrier, leaseId: string, entry: LeaseEntry): Buffer {
  return barrier.encrypt(Buffer.from(JSON.stringify(entry), 'utf8'), `lease:${leaseId}`);
}

function open(barrier: Barrier, row: LeaseRow): LeaseEntry {
  return JSON.parse(barrier.decrypt(row.data, `lease:${row.lease_id}`).toString('utf8')) as LeaseEntry;
}

function invalid(message: string): CofferError {
  return new CofferError('invalid-request', message);
}
