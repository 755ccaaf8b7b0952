import type { DataSource } from 'typeorm';
import type { Barrier } from '#barrier';
import { CofferError, sealedError } from '#contracts';
import { qualifiedTable } from '#event-store';
import { accessorHmacOf, idHmacOf, openEntry, sealEntry } from './token-sealing.js';
import { issuancePolicies, newTokenId, orphanEntry, planChildToken, planLoginToken, randomBase62, TOKEN_LENGTH, checkCustomId, type TokenLimits } from './token-rules.js';
import { calculateTtl, parseDurationSeconds } from './ttl.js';

/**
 * A service token as stored (encrypted) and as handlers see it. The token itself is never part of it: the store
 * only ever holds an HMAC of it, so an entry read back cannot be turned into a credential.
 */
export interface TokenEntry {
  id?: never;
  accessor: string;
  /** Sorted, deduplicated, lower case; `['root']` alone for root tokens. */
  policies: string[];
  /** The path that issued it: `auth/token/create`, `auth/token/root`, ... */
  path: string;
  meta: Record<string, string> | null;
  displayName: string;
  /** 0 = unlimited. -1 = this request was its last use: it is already revoked (Vault's "revocation pending"). */
  numUses: number;
  /** Unix seconds. */
  creationTime: number;
  /** Seconds; the TTL granted at creation (Vault's `creation_ttl`). */
  creationTtl: number;
  explicitMaxTtl: number;
  /** Seconds; 0 unless periodic. */
  period: number;
  /** Seconds; the TTL last granted (creation or renewal): a renewal without an increment grants it again. */
  ttl: number;
  renewable: boolean;
  /** ISO time, or null for a token that never expires (root tokens without a TTL). */
  expireTime: string | null;
  /** ISO time of creation (Vault's lease issue time). */
  issueTime: string;
  /** Unix seconds of the last renewal, if any. */
  lastRenewalTime: number | null;
  orphan: boolean;
  parentAccessor?: string;
  type: 'service';
  entityId: '';
  /** CIDRs (or IPs) the token may be used from (Vault's `bound_cidrs`, set by logins with `token_bound_cidrs`). */
  boundCidrs?: string[];
  /** A response-wrapping token's wrapped response, sealed with the entry (Vault keeps it in the token's cubbyhole). */
  wrapped?: WrappedResponse;
  /**
   * A login's token: what the auth plugin returned, kept (sealed with the entry) for its `renewAuth` on every
   * renewal (Vault keeps the login's Auth in the token's lease entry). Never shown to a client.
   */
  login?: LoginOrigin;
}

/** The login behind a token, as the auth plugin's `renewAuth` needs it back. */
export interface LoginOrigin {
  /** The auth mount's uuid: the renewal goes to the plugin serving it. */
  mount: string;
  /** The login's path relative to the mount (`login/alice`). */
  path: string;
  /** The policies the plugin returned (before `default` was added). */
  policies: string[];
  displayName: string;
  /** The plugin's `auth.internal` (protocol 3), if any. */
  internal?: Record<string, unknown>;
}

/** An auth plugin's answer to a renewal: its TTLs (seconds, 0 = none of its own) and warnings. */
export interface AuthRenewal {
  ttl?: number;
  maxTtl?: number;
  warnings?: string[];
}

/** What a response-wrapping token holds: the response it replaced, and where it was made. */
export interface WrappedResponse {
  data: unknown;
  auth: unknown;
  warnings?: string[];
  mountType?: string;
  creationPath: string;
}

/** The token a request came with, looked up: its entry plus the token, which only the request itself carries. */
export type CallerToken = TokenEntry & { token: string };

/** `auth/token/create` parameters, typed. Durations are Vault's: "1h", "30m", "90s", "2d" or integer seconds. */
export interface CreateTokenParams {
  /** A chosen token id (root or sudo only); random `hvs.` + 24 base62 characters otherwise. */
  id?: string;
  policies?: string[];
  meta?: Record<string, string> | null;
  noParent?: boolean;
  noDefaultPolicy?: boolean;
  renewable?: boolean;
  ttl?: string | number;
  /** Vault's deprecated spelling of `ttl`, used only when `ttl` is absent. */
  lease?: string;
  explicitMaxTtl?: string | number;
  period?: string | number;
  displayName?: string;
  numUses?: number;
  /** "service" (or empty). Batch tokens are not implemented. */
  type?: string;
  /** Only valid with token roles, which are not implemented: always refused, in Vault's words. */
  entityAlias?: string;
  /** Issued through `create-orphan`: the ACL on that path is the gate, so no sudo is needed. */
  orphan?: boolean;
  /** The caller holds `sudo` on the creation path. Root tokens always count as sudo. */
  parentHasSudo?: boolean;
  /** The issuing path, recorded in the entry. Default `auth/token/create`. */
  path?: string;
}

/** What an auth method's login asks for (its `auth` block), with the mount's TTLs: the input of a login's token. */
export interface LoginGrant {
  policies: string[];
  meta?: Record<string, string>;
  displayName: string;
  path: string;
  ttl?: number;
  maxTtl?: number;
  renewable?: boolean;
  numUses?: number;
  /** Vault's `token_bound_cidrs`: the token is refused on requests from elsewhere. */
  boundCidrs?: string[];
  mountDefaultTtl?: number;
  mountMaxTtl?: number;
  /** Which mount and login issued it, for the plugin's renewal callback. */
  origin?: LoginOrigin;
}

export interface IssuedToken {
  token: string;
  entry: TokenEntry;
  warnings: string[];
}

export interface RenewedToken {
  entry: TokenEntry;
  warnings: string[];
}

export interface TokenStoreOptions {
  /** The unsealed barrier, or undefined while sealed: every method then refuses with `sealed`. */
  barrier: () => Barrier | undefined;
  /** Vault's `default_lease_ttl`, seconds: the TTL of a token created without one. Vault's default is 768h. */
  defaultLeaseTtl?: number;
  /** Vault's `max_lease_ttl`, seconds: no non-periodic token lives longer. Vault's default is 768h. */
  maxLeaseTtl?: number;
  /**
   * Both TTLs as they are now, asked at every use: a SIGHUP that changes them takes effect on the next token. Wins
   * over the fixed `defaultLeaseTtl` / `maxLeaseTtl`.
   */
  leaseTtls?: () => { defaultLeaseTtl: number; maxLeaseTtl: number };
  /** Milliseconds since the epoch; tests move it instead of sleeping. */
  now?: () => number;
  /**
   * Called after this store revoked, renewed or used up tokens, so the gateway can tell its peers to forget what
   * they cached (`forgetCached`). Without it, only the bounded cache age protects other gateways.
   */
  onChange?: () => void;
  /** How long a looked-up entry may be answered from memory, milliseconds; 0 turns the cache off. Default 2 s. */
  cacheMs?: number;
  /**
   * Told the accessors of every token revocation deletes (revoke, expiry found on lookup, sweep, last use), once the
   * deletes have run, so what lives per token elsewhere (cubbyholes) goes with it. Must not throw or block.
   */
  onRevoked?: (accessors: string[]) => void;
  /**
   * Asks the auth plugin whose login issued a token before the token is renewed (protocol 3 `renewAuth`, Vault's
   * AuthRenew): its answer feeds the TTL, a throw refuses the renewal (the token keeps its expiry). Undefined: the
   * plugin has no such callback, and the token renews by the store's rules alone. Never called inside a transaction:
   * the plugin's storage calls may need the dev server's single connection.
   */
  renewAuth?: (entry: TokenEntry, increment: number) => Promise<AuthRenewal | undefined>;
}

const DEFAULT_LEASE_TTL = 768 * 3600;
const DEFAULT_CACHE_MS = 2_000;
const CACHE_MAX_ENTRIES = 10_000;
const UNIQUE_VIOLATION = '23505';

interface TokenRow {
  id_hmac: string;
  accessor_hmac: string;
  parent_hmac: string | null;
  expires_at: Date | null;
  data: Buffer;
}

type Query = (sql: string, params?: unknown[]) => Promise<TokenRow[]>;

const COLUMNS = 'id_hmac, accessor_hmac, parent_hmac, expires_at, data';

/**
 * Vault's token store over `coffer_tokens`. A row is found by `hmac('id:' + token)` or `hmac('accessor:' +
 * accessor)` and holds the entry encrypted under the barrier, bound to its row by the associated data, so the table
 * never holds a token, an accessor, a policy or metadata in the clear. `expires_at` and `parent_hmac` stay plain so
 * expiry and subtrees can be found in SQL; the encrypted `expireTime` is still the authority, so editing the
 * plain column cannot extend a token's life.
 *
 * There are no timers: expiry is enforced when a token is looked up (an expired token is revoked on sight) and
 * `sweepExpired()` is for a periodic clean-up. Every read-modify-write locks its row, so concurrent renewals and
 * uses do not lose each other's updates.
 */
export class TokenStore {
  readonly now: () => number;
  private tableName?: string;
  /**
   * Every authenticated request looks its token up: without this, each one costs a round trip to Postgres. Entries
   * of unlimited-use tokens are kept by id HMAC for a short time, forgotten at once when any gateway revokes or
   * renews (see `onChange`), and never trusted past the token's own expiry. Bound to the barrier they were read
   * under: a seal or a new keyring empties it.
   */
  private readonly cache = new Map<string, { entry: TokenEntry; until: number }>();
  private cacheBarrier?: Barrier;
  private readonly cacheMs: number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: TokenStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.cacheMs = options.cacheMs ?? DEFAULT_CACHE_MS;
  }

  /** Both TTLs as they are now: asked at every use, so a SIGHUP that changes them applies to the next token. */
  private get limits(): TokenLimits {
    const now = this.options.leaseTtls?.();
    const defaultLeaseTtl = now?.defaultLeaseTtl ?? this.options.defaultLeaseTtl ?? DEFAULT_LEASE_TTL;
    return { defaultLeaseTtl, maxLeaseTtl: now?.maxLeaseTtl ?? this.options.maxLeaseTtl ?? defaultLeaseTtl };
  }

  /** Drops every cached entry: a token may have been revoked or renewed elsewhere. */
  forgetCached(): void {
    this.cache.clear();
  }

  /** After a change to stored tokens: forget locally, and let the gateway tell the others. */
  private changed(): void {
    this.cache.clear();
    this.options.onChange?.();
  }

  /**
   * The root token: policies `['root']`, no TTL, no parent, display name `root`, path `auth/token/root`. `barrier`
   * overrides the store's, for `sys/init`, which issues it before the cluster is unsealed; `id` is the dev server's
   * `-dev-root-token-id`.
   */
  async createRoot(options: { id?: string; barrier?: Barrier } = {}): Promise<IssuedToken> {
    const barrier = this.barrier(options.barrier);
    const nowMs = this.now();
    const token = options.id === undefined ? newTokenId() : checkCustomId(options.id);
    const entry: TokenEntry = {
      accessor: randomBase62(TOKEN_LENGTH),
      ...orphanEntry(nowMs, {
      policies: ['root'],
      path: 'auth/token/root',
      meta: null,
      displayName: 'root',
      numUses: 0,
      ttl: 0,
      renewable: false,
      }),
    };
    await this.insert((sql, params) => this.query(sql, params), barrier, token, entry, null);
    return { token, entry, warnings: [] };
  }

  /**
   * The token an auth method's login issues: an orphan (no token asked for it) with the method's policies plus
   * `default`, its TTL capped by the mount's max TTL and the server's, as Vault's `core.RegisterAuth`.
   */
  async createForLogin(login: LoginGrant): Promise<IssuedToken> {
    const barrier = this.barrier();
    const entry: TokenEntry = { accessor: randomBase62(TOKEN_LENGTH), ...planLoginToken(login, this.now(), this.limits) };
    const token = newTokenId();
    await this.insert((sql, params) => this.query(sql, params), barrier, token, entry, null);
    return { token, entry, warnings: [] };
  }

  /**
   * A response-wrapping token (Vault's): an orphan with the `response-wrapping` policy alone (the issuance rule's
   * `wrapping` issuer), one use, not renewable, living `ttl` seconds, holding `wrapped`.
   */
  async createWrapping(ttl: number, wrapped: WrappedResponse): Promise<IssuedToken> {
    const barrier = this.barrier();
    const planned = orphanEntry(this.now(), {
      policies: issuancePolicies([], { kind: 'wrapping' }),
      path: wrapped.creationPath,
      meta: null,
      displayName: 'response-wrapping',
      numUses: 1,
      ttl,
      renewable: false,
    });
    const entry: TokenEntry = { accessor: randomBase62(TOKEN_LENGTH), ...planned, wrapped };
    const token = newTokenId();
    await this.insert((sql, params) => this.query(sql, params), barrier, token, entry, null);
    return { token, entry, warnings: [] };
  }

  /**
   * Takes a response-wrapping token: its entry, with the row deleted in the same transaction, so two unwraps of one
   * token never both succeed. Undefined for anything that is not a live wrapping token (which is left alone).
   */
  async takeWrapped(token: string): Promise<TokenEntry | undefined> {
    const barrier = this.barrier();
    if (!token) return undefined;
    const idHmac = idHmacOf(barrier, token);
    const nowMs = this.now();
    return this.changing(
      this.transaction(async (q) => {
        const [row] = await q(`SELECT ${COLUMNS} FROM ${this.table} WHERE id_hmac = $1 FOR UPDATE`, [idHmac]);
        if (!row) return undefined;
        const entry = this.open(barrier, row);
        if (isExpired(row, entry, nowMs)) {
          await this.deleteTrees(q, 'id_hmac = $1', [idHmac]);
          return undefined;
        }
        if (!entry.wrapped) return undefined;
        await this.deleteTrees(q, 'id_hmac = $1', [idHmac]);
        return entry;
      }),
    );
  }

  /**
   * A child of `parent` (or an orphan), by Vault's rules (`handleCreateCommon`): policies default to the parent's
   * and must be a subset of them unless the caller has sudo; `default` is added as Vault adds it; the TTL defaults to
   * the default lease TTL (none for root tokens), never exceeds the max lease TTL or the explicit max TTL, and, unless
   * the token is an orphan, never outlives the parent. The parent is re-read and share-locked, so a token revoked
   * meanwhile cannot gain a child, and a revocation running at the same time sees the child and takes it too.
   */
  async create(params: CreateTokenParams, parent: CallerToken): Promise<IssuedToken> {
    const barrier = this.barrier();
    const nowMs = this.now();
    const parentIdHmac = idHmacOf(barrier, parent.token);
    return this.transaction(async (q) => {
      const [parentRow] = await q(`SELECT ${COLUMNS} FROM ${this.table} WHERE id_hmac = $1 FOR SHARE`, [parentIdHmac]);
      const from = parentRow && this.open(barrier, parentRow);
      if (!parentRow || !from || isExpired(parentRow, from, nowMs)) throw invalid('parent token lookup failed: no parent found');
      const parentExpiry = expiryOf(parentRow, from);
      if (from.numUses > 0) throw invalid('restricted use token cannot generate child tokens');
      const planned = planChildToken(params, from, parentExpiry, nowMs, this.limits);
      const { orphan } = planned.entry;
      const entry: TokenEntry = { accessor: randomBase62(TOKEN_LENGTH), ...planned.entry, ...(orphan ? {} : { parentAccessor: from.accessor }) };
      const id = planned.token ?? newTokenId();
      await this.insert(q, barrier, id, entry, orphan ? null : parentIdHmac);
      return { token: id, entry, warnings: planned.warnings };
    });
  }

  /** The entry of a live token; an expired one is revoked (with its subtree) on sight and reads as absent. */
  async lookup(token: string): Promise<TokenEntry | undefined> {
    const barrier = this.barrier();
    if (!token) return undefined;
    const idHmac = idHmacOf(barrier, token);
    if (barrier !== this.cacheBarrier) {
      this.cache.clear();
      this.cacheBarrier = barrier;
    }
    const nowMs = this.now();
    const cached = this.cache.get(idHmac);
    if (cached && nowMs < cached.until && !isExpiredEntry(cached.entry, nowMs)) return { ...cached.entry };
    const entry = await this.lookupWhere(barrier, 'id_hmac', idHmac);
    // Limited-use tokens are counted in the row on every use: their entries are never answered from memory.
    if (entry && entry.numUses === 0 && this.cacheMs > 0 && this.cacheBarrier === barrier) {
      if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.clear();
      this.cache.set(idHmac, { entry: { ...entry }, until: nowMs + this.cacheMs });
    }
    return entry;
  }

  async lookupByAccessor(accessor: string): Promise<TokenEntry | undefined> {
    const barrier = this.barrier();
    if (!accessor) return undefined;
    return this.lookupWhere(barrier, 'accessor_hmac', accessorHmacOf(barrier, accessor));
  }

  /**
   * Vault's token renewal: the increment (a duration; else the TTL last granted; else the default) from now, bounded
   * by the max lease TTL or explicit max TTL counted from issue, and by the parent's remaining life. A periodic token
   * gets its period. `undefined` when there is no such live token; `lease is not renewable` for a token created
   * non-renewable or one that never expires.
   */
  async renew(token: string, increment?: string | number): Promise<RenewedToken | undefined> {
    const barrier = this.barrier();
    if (!token) return undefined;
    return this.renewAsked(barrier, 'id_hmac', idHmacOf(barrier, token), increment);
  }

  async renewByAccessor(accessor: string, increment?: string | number): Promise<RenewedToken | undefined> {
    const barrier = this.barrier();
    if (!accessor) return undefined;
    return this.renewAsked(barrier, 'accessor_hmac', accessorHmacOf(barrier, accessor), increment);
  }

  /**
   * A login's token is renewed only if its auth plugin agrees: it is asked first, outside any transaction (its
   * storage calls may need the one connection of the dev server), then the row is renewed under its lock with the
   * plugin's TTLs. A token revoked meanwhile is simply not found by the second step.
   */
  private async renewAsked(
    barrier: Barrier,
    column: 'id_hmac' | 'accessor_hmac',
    hmac: string,
    increment: string | number | undefined,
  ): Promise<RenewedToken | undefined> {
    const requested = parseDurationSeconds(increment) ?? 0;
    if (requested < 0) throw invalid('increment must be positive');
    let renewal: AuthRenewal | undefined;
    if (this.options.renewAuth) {
      const entry = await this.lookupWhere(barrier, column, hmac);
      if (!entry) return undefined;
      // Refusals that need no plugin come first, in the store's words.
      if (entry.expireTime === null || !entry.renewable) throw invalid('lease is not renewable');
      if (entry.login) renewal = await this.options.renewAuth(entry, requested);
    }
    return this.renewWhere(barrier, column, hmac, requested, renewal);
  }

  /** Revokes the token and every descendant, in one transaction. Returns how many tokens went (0: none known). */
  async revoke(token: string): Promise<number> {
    const barrier = this.barrier();
    if (!token) return 0;
    return this.changing(this.transaction((q) => this.deleteTrees(q, 'id_hmac = $1', [idHmacOf(barrier, token)])));
  }

  async revokeByAccessor(accessor: string): Promise<number> {
    const barrier = this.barrier();
    if (!accessor) return 0;
    return this.changing(this.transaction((q) => this.deleteTrees(q, 'accessor_hmac = $1', [accessorHmacOf(barrier, accessor)])));
  }

  /**
   * Revokes the token alone; its children become orphans (their entries re-encrypted without the parent). False when
   * there is no such live token. The lock on the row keeps a concurrent create from adding a child this misses.
   */
  async revokeOrphan(token: string): Promise<boolean> {
    const barrier = this.barrier();
    if (!token) return false;
    const idHmac = idHmacOf(barrier, token);
    const nowMs = this.now();
    return this.changing(this.transaction(async (q) => {
      const [row] = await q(`SELECT ${COLUMNS} FROM ${this.table} WHERE id_hmac = $1 FOR UPDATE`, [idHmac]);
      if (!row) return false;
      if (isExpired(row, this.open(barrier, row), nowMs)) {
        await this.deleteTrees(q, 'id_hmac = $1', [idHmac]);
        return false;
      }
      await q(`DELETE FROM ${this.table} WHERE id_hmac = $1`, [idHmac]);
      const children = await q(`SELECT ${COLUMNS} FROM ${this.table} WHERE parent_hmac = $1 FOR UPDATE`, [idHmac]);
      for (const child of children) {
        const entry = this.open(barrier, child);
        entry.orphan = true;
        delete entry.parentAccessor;
        await q(`UPDATE ${this.table} SET parent_hmac = NULL, data = $2 WHERE id_hmac = $1`, [
          child.id_hmac,
          sealEntry(barrier, child.id_hmac, entry),
        ]);
      }
      return true;
    }));
  }

  /**
   * One use of a token, for every authenticated request: the entry as of this request, or undefined when the token
   * is not (or no longer) valid. A limited token's count goes down under a row lock, so N concurrent requests on an
   * N-use token all pass and the next fails; on the last use the token (and subtree) is revoked at once and the
   * returned entry says `numUses: -1`.
   */
  async useOnce(token: string, admit?: (entry: TokenEntry) => boolean): Promise<TokenEntry | undefined> {
    const entry = await this.lookup(token);
    // Refused before a use is spent, so a request from a wrong address cannot use up a limited token.
    if (entry && admit && !admit(entry)) return undefined;
    if (!entry || entry.numUses === 0) return entry;
    const barrier = this.barrier();
    const idHmac = idHmacOf(barrier, token);
    const nowMs = this.now();
    return this.changing(this.transaction(async (q) => {
      const [row] = await q(`SELECT ${COLUMNS} FROM ${this.table} WHERE id_hmac = $1 FOR UPDATE`, [idHmac]);
      if (!row) return undefined;
      const current = this.open(barrier, row);
      if (isExpired(row, current, nowMs)) {
        await this.deleteTrees(q, 'id_hmac = $1', [idHmac]);
        return undefined;
      }
      if (current.numUses === 0) return current;
      if (current.numUses > 1) {
        current.numUses -= 1;
        await q(`UPDATE ${this.table} SET data = $2 WHERE id_hmac = $1`, [idHmac, sealEntry(barrier, idHmac, current)]);
        return current;
      }
      await this.deleteTrees(q, 'id_hmac = $1', [idHmac]);
      return { ...current, numUses: -1 };
    }));
  }

  /** Revokes every token past its expiry, with its subtree. Returns how many tokens went. */
  async sweepExpired(): Promise<number> {
    this.barrier();
    const now = new Date(this.now()).toISOString();
    const swept = await this.transaction((q) => this.deleteTrees(q, 'expires_at <= $1', [now]));
    if (swept > 0) this.changed();
    return swept;
  }

  /** Runs a change to stored tokens, then forgets cached entries here and (through onChange) on the other gateways. */
  private async changing<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } finally {
      this.changed();
    }
  }

  private get table(): string {
    this.tableName ??= qualifiedTable(this.dataSource, 'coffer_tokens');
    return this.tableName;
  }

  private barrier(override?: Barrier): Barrier {
    const barrier = override ?? this.options.barrier();
    if (!barrier) throw sealedError();
    return barrier;
  }

  private open(barrier: Barrier, row: TokenRow): TokenEntry {
    return openEntry(barrier, row.id_hmac, row.data);
  }

  private async lookupWhere(barrier: Barrier, column: 'id_hmac' | 'accessor_hmac', hmac: string): Promise<TokenEntry | undefined> {
    const [row] = await this.query(`SELECT ${COLUMNS} FROM ${this.table} WHERE ${column} = $1`, [hmac]);
    if (!row) return undefined;
    const entry = this.open(barrier, row);
    if (isExpired(row, entry, this.now())) {
      await this.changing(this.transaction((q) => this.deleteTrees(q, 'id_hmac = $1', [row.id_hmac])));
      return undefined;
    }
    return entry;
  }

  private async renewWhere(
    barrier: Barrier,
    column: 'id_hmac' | 'accessor_hmac',
    hmac: string,
    requested: number,
    renewal: AuthRenewal | undefined,
  ): Promise<RenewedToken | undefined> {
    const nowMs = this.now();
    const now = Math.floor(nowMs / 1000);
    return this.changing(this.transaction(async (q) => {
      const [row] = await q(`SELECT ${COLUMNS} FROM ${this.table} WHERE ${column} = $1 FOR UPDATE`, [hmac]);
      if (!row) return undefined;
      const entry = this.open(barrier, row);
      if (isExpired(row, entry, nowMs)) {
        await this.deleteTrees(q, 'id_hmac = $1', [row.id_hmac]);
        return undefined;
      }
      if (entry.expireTime === null || !entry.renewable) throw invalid('lease is not renewable');
      // The auth plugin's TTL stands in for the token's own, and its max TTL caps the server's (Vault's CalculateTTL
      // with the AuthRenew response's TTL and MaxTTL).
      const pluginMax = renewal?.maxTtl && renewal.maxTtl > 0 ? renewal.maxTtl : Infinity;
      const { ttl, warnings: ttlWarnings } = calculateTtl({
        increment: requested,
        backendTtl: renewal?.ttl && renewal.ttl > 0 ? renewal.ttl : entry.ttl,
        period: entry.period,
        explicitMaxTtl: entry.explicitMaxTtl,
        start: entry.creationTime,
        now,
        defaultLeaseTtl: this.limits.defaultLeaseTtl,
        maxLeaseTtl: Math.min(this.limits.maxLeaseTtl, pluginMax),
      });
      const warnings = [...(renewal?.warnings ?? []), ...ttlWarnings];
      let expiresAt = nowMs + ttl * 1000;
      let granted = ttl;
      if (row.parent_hmac !== null) {
        const [parentRow] = await q(`SELECT ${COLUMNS} FROM ${this.table} WHERE id_hmac = $1`, [row.parent_hmac]);
        const parentExpiry = parentRow ? expiryOf(parentRow, this.open(barrier, parentRow)) : null;
        if (parentExpiry !== null && parentExpiry < expiresAt) {
          expiresAt = parentExpiry;
          granted = Math.max(0, Math.floor((parentExpiry - nowMs) / 1000));
        }
      }
      entry.ttl = granted;
      entry.expireTime = new Date(expiresAt).toISOString();
      entry.lastRenewalTime = now;
      await q(`UPDATE ${this.table} SET expires_at = $2, data = $3 WHERE id_hmac = $1`, [
        row.id_hmac,
        entry.expireTime,
        sealEntry(barrier, row.id_hmac, entry),
      ]);
      return { entry, warnings };
    }));
  }

  private async insert(q: Query, barrier: Barrier, token: string, entry: TokenEntry, parentIdHmac: string | null): Promise<void> {
    const idHmac = idHmacOf(barrier, token);
    try {
      await q(
        `INSERT INTO ${this.table} (id_hmac, accessor_hmac, parent_hmac, expires_at, data) VALUES ($1, $2, $3, $4, $5)`,
        [idHmac, accessorHmacOf(barrier, entry.accessor), parentIdHmac, entry.expireTime, sealEntry(barrier, idHmac, entry)],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw invalid('cannot create a token with a duplicate ID');
      throw err;
    }
  }

  /**
   * Deletes the rows matching `seed` and all their descendants. One recursive statement takes the subtree as it
   * stands; a create that had already share-locked a parent commits its child while the delete waits on that lock,
   * so further rounds take the children of what the previous round deleted until none are left. A create arriving
   * after the delete waits on the deleted parent and then finds it gone.
   */
  private async deleteTrees(q: Query, seed: string, params: unknown[]): Promise<number> {
    let total = 0;
    let where = seed;
    let args = params;
    for (;;) {
      const deleted = await q(
        `WITH RECURSIVE tree(id_hmac) AS (
           SELECT id_hmac FROM ${this.table} WHERE ${where}
           UNION
           SELECT c.id_hmac FROM ${this.table} c JOIN tree p ON c.parent_hmac = p.id_hmac
         )
         DELETE FROM ${this.table} WHERE id_hmac IN (SELECT id_hmac FROM tree) RETURNING id_hmac, data`,
        args,
      );
      if (deleted.length === 0) return total;
      this.options.onRevoked?.(revokedAccessors(this.options.barrier(), deleted));
      total += deleted.length;
      where = 'parent_hmac = ANY($1::text[])';
      args = [deleted.map((row) => row.id_hmac)];
    }
  }

  private async query(sql: string, params?: unknown[]): Promise<TokenRow[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return ((await runner.query(sql, params, true)).records ?? []) as TokenRow[];
    } finally {
      await runner.release();
    }
  }

  /**
   * Runs `work` in a transaction, again when Postgres aborts it as a deadlock: two revocations of overlapping
   * subtrees may lock the same rows in opposite orders, and every piece of work here is safe to repeat.
   */
  private async transaction<T>(work: (q: Query) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const runner = this.dataSource.createQueryRunner();
      try {
        await runner.startTransaction();
        try {
          const result = await work(async (sql, params) => ((await runner.query(sql, params, true)).records ?? []) as TokenRow[]);
          await runner.commitTransaction();
          return result;
        } catch (err) {
          if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
          throw err;
        }
      } catch (err) {
        if (attempt >= MAX_ATTEMPTS || !isRetryable(err)) throw err;
      } finally {
        await runner.release();
      }
    }
  }
}

/** The accessors of deleted rows, for `onRevoked`; a row that no longer decrypts is skipped (it has no usable token). */
function revokedAccessors(barrier: Barrier | undefined, rows: TokenRow[]): string[] {
  if (!barrier) return [];
  const accessors: string[] = [];
  for (const row of rows) {
    try {
      accessors.push(openEntry(barrier, row.id_hmac, row.data).accessor);
    } catch {
      // tampered or foreign: nothing was reachable through it
    }
  }
  return accessors;
}

/** The earlier of the plain column and the encrypted expiry, in ms; null when neither says the token expires. */
function expiryOf(row: TokenRow, entry: TokenEntry): number | null {
  const times = [row.expires_at?.getTime(), entry.expireTime === null ? undefined : Date.parse(entry.expireTime)].filter(
    (t): t is number => t !== undefined && !Number.isNaN(t),
  );
  return times.length === 0 ? null : Math.min(...times);
}

function isExpired(row: TokenRow, entry: TokenEntry, nowMs: number): boolean {
  const expiry = expiryOf(row, entry);
  return expiry !== null && expiry <= nowMs;
}

const MAX_ATTEMPTS = 5;
const DEADLOCK_DETECTED = '40P01';
const SERIALIZATION_FAILURE = '40001';

function isRetryable(err: unknown): boolean {
  const code = sqlStateOf(err);
  return code === DEADLOCK_DETECTED || code === SERIALIZATION_FAILURE;
}

function sqlStateOf(err: unknown): string | undefined {
  const e = err as { code?: string; driverError?: { code?: string } } | undefined;
  return e?.driverError?.code ?? e?.code;
}

function isUniqueViolation(err: unknown): boolean {
  return sqlStateOf(err) === UNIQUE_VIOLATION;
}

function invalid(message: string): CofferError {
  return new CofferError('invalid-request', message);
}

/** A cached entry carries its own expiry (the encrypted one, the authority): past it, the row is read again. */
function isExpiredEntry(entry: TokenEntry, nowMs: number): boolean {
  return entry.expireTime !== null && Date.parse(entry.expireTime) <= nowMs;
}
