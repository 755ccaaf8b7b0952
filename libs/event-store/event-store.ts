import { QueryFailedError, type DataSource } from 'typeorm';
import { CofferError } from '../contracts/errors.js';
import { jsonCodec, type EventCodec } from './codec.js';
import { qualifiedTable } from './sql.js';

/** Non-secret facts about where an event came from (request id, actor accessor). Stored in the clear. */
export type EventMetadata = Record<string, unknown>;

export interface NewEvent {
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: EventMetadata;
}

export interface StoredEvent {
  /** Global order across streams. A bigserial: safe as a number up to 2^53 events. */
  readonly position: number;
  readonly stream: string;
  /** 1, 2, 3, ... within the stream, without gaps. */
  readonly version: number;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
}

export interface Appended {
  readonly fromVersion: number;
  readonly toVersion: number;
  /** Position of the last appended event. */
  readonly position: number;
}

export interface StreamReadOptions {
  /** Only events with a greater version; 0 (the default) reads from the start. */
  afterVersion?: number;
  limit?: number;
}

export interface GlobalReadOptions {
  /** Only events with a greater position; 0 (the default) reads from the start. */
  afterPosition?: number;
  limit?: number;
}

export interface PageReadOptions {
  /** Only events with a smaller position (older ones); absent: from the newest. */
  beforePosition?: number;
  /** How many events at most. Required: a page is always bounded. */
  limit: number;
  /** Only these streams; absent: every stream. */
  streams?: readonly string[];
}

export interface EventStoreOptions {
  /** Rows per query when reading, so a long stream never needs one giant result. */
  pageSize?: number;
}

interface EventRow {
  position: string;
  stream: string;
  version: number;
  type: string;
  data: Buffer;
  metadata: EventMetadata;
  recorded_at: Date;
}

const DEFAULT_PAGE_SIZE = 1000;
const UNIQUE_VIOLATION = '23505';
const COLUMNS = 'position, stream, version, type, data, metadata, recorded_at';

/** Append-only streams of events with optimistic concurrency, in the `coffer_events` table. */
export class EventStore {
  private readonly pageSize: number;
  private readonly sql: Record<'append' | 'version' | 'readStream' | 'readAll' | 'readPage', string>;

  /**
   * The data source must be initialized and migrated. The codec turns event data into stored bytes: JSON until the
   * barrier supplies its encrypting codec.
   */
  constructor(
    private readonly dataSource: DataSource,
    private readonly codec: EventCodec = jsonCodec,
    options: EventStoreOptions = {},
  ) {
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    requireCount(this.pageSize, 'pageSize');
    const events = qualifiedTable(dataSource, 'coffer_events');
    this.sql = {
      // One statement, so one transaction: the guard sees the stream's version as of the statement's start, and an
      // appender that commits the same versions meanwhile makes this insert fail on unique (stream, version).
      append: `
        INSERT INTO ${events} (stream, version, type, data, metadata)
        SELECT $1, $2::integer + e.ordinality::integer, e.type, e.data, e.metadata
        FROM unnest($3::text[], $4::bytea[], $5::jsonb[]) WITH ORDINALITY AS e(type, data, metadata, ordinality)
        WHERE (SELECT coalesce(max(version), 0) FROM ${events} WHERE stream = $1) = $2
        ORDER BY e.ordinality
        RETURNING position`,
      version: `SELECT coalesce(max(version), 0) AS version FROM ${events} WHERE stream = $1`,
      readStream: `SELECT ${COLUMNS} FROM ${events} WHERE stream = $1 AND version > $2 ORDER BY version LIMIT $3`,
      readAll: `SELECT ${COLUMNS} FROM ${events} WHERE position > $1 ORDER BY position LIMIT $2`,
      // Newest first, for a history view. NULL parameters mean "no bound" and "every stream"; the casts keep them
      // typed for Postgres and for the embedded store alike.
      readPage: `
        SELECT ${COLUMNS} FROM ${events}
        WHERE ($1::bigint IS NULL OR position < $1::bigint) AND ($2::text[] IS NULL OR stream = ANY($2::text[]))
        ORDER BY position DESC LIMIT $3`,
    };
  }

  /**
   * Appends events to a stream that must be at `expectedVersion` (0 for a new stream), all or none. Throws
   * CofferError 'conflict' when the stream has moved on: the caller re-reads its projection and decides again.
   */
  async append(stream: string, expectedVersion: number, events: readonly NewEvent[]): Promise<Appended> {
    requireVersion(expectedVersion, 'expectedVersion');
    if (events.length === 0) throw new RangeError(`append to ${stream} needs at least one event`);
    const versioned = events.map((event, index) => ({ ...event, version: expectedVersion + 1 + index }));
    let rows: { position: string }[];
    try {
      rows = await this.dataSource.query(this.sql.append, [
        stream,
        expectedVersion,
        versioned.map((event) => event.type),
        versioned.map((event) => this.codec.encode({ stream, version: event.version, type: event.type }, event.data)),
        versioned.map((event) => JSON.stringify(event.metadata ?? {})),
      ]);
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new CofferError('conflict', `stream ${stream} moved past version ${expectedVersion} during the append`);
      }
      throw withoutEventData(error);
    }
    if (rows.length === 0) {
      const actual = await this.version(stream);
      throw new CofferError('conflict', `stream ${stream} is at version ${actual}, not ${expectedVersion}`);
    }
    return {
      fromVersion: expectedVersion + 1,
      toVersion: expectedVersion + events.length,
      position: rows.reduce((last, row) => Math.max(last, Number(row.position)), 0),
    };
  }

  /** The stream's current version: 0 when it has no events. */
  async version(stream: string): Promise<number> {
    const [row]: { version: number }[] = await this.dataSource.query(this.sql.version, [stream]);
    return row.version;
  }

  /** A stream's events in version order, decoded. */
  async read(stream: string, options: StreamReadOptions = {}): Promise<StoredEvent[]> {
    return collect(this.readPages(stream, options));
  }

  /** Like `read`, a page at a time, for folding long streams without holding them whole. */
  readPages(stream: string, { afterVersion = 0, limit = Infinity }: StreamReadOptions = {}): AsyncGenerator<StoredEvent[]> {
    requireVersion(afterVersion, 'afterVersion');
    return this.pages(this.sql.readStream, [stream], afterVersion, limit, (row) => row.version);
  }

  /**
   * Every stream's events in position order, decoded. Positions are handed out before commit, so they can become
   * visible out of order: a reader that remembers the last position it saw may skip a late one. Projections catch
   * up by stream version instead (see ProjectionKeeper); this is for tools that walk the whole log.
   */
  async readAll({ afterPosition = 0, limit = Infinity }: GlobalReadOptions = {}): Promise<StoredEvent[]> {
    requireVersion(afterPosition, 'afterPosition');
    return collect(this.pages(this.sql.readAll, [], afterPosition, limit, (row) => Number(row.position)));
  }

  /**
   * One page of every stream's events (or of the streams named), newest first: the page after `beforePosition` in
   * that order. Walking back this way misses nothing that committed before the page was read: a position handed out
   * early but committed late is below the cursor, so a later page still finds it (only a first page read just before
   * it committed lacks it, as any snapshot would).
   */
  async readPage({ beforePosition, limit, streams }: PageReadOptions): Promise<StoredEvent[]> {
    if (beforePosition !== undefined) requireVersion(beforePosition, 'beforePosition');
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be an integer >= 1, got ${limit}`);
    if (streams !== undefined && streams.length === 0) return [];
    const rows: EventRow[] = await this.dataSource.query(this.sql.readPage, [beforePosition ?? null, streams ? [...streams] : null, limit]);
    return rows.map((row) => this.toEvent(row));
  }

  /**
   * Keyset pagination: each page starts after the cursor of the previous page's last row. The next page is asked
   * for before this one is decoded and handed out, so Postgres reads while the caller decrypts and folds (replay
   * after unseal spends about as long on each).
   */
  private async *pages(
    sql: string,
    filter: unknown[],
    after: number,
    limit: number,
    cursorOf: (row: EventRow) => number,
  ): AsyncGenerator<StoredEvent[]> {
    requireCount(limit, 'limit');
    const fetch = (from: number, size: number): Promise<EventRow[]> => this.dataSource.query(sql, [...filter, from, size]);
    let remaining = limit;
    let size = Math.min(this.pageSize, remaining);
    let next: Promise<EventRow[]> | undefined = fetch(after, size);
    while (next) {
      const rows = await next;
      next = undefined;
      remaining -= rows.length;
      if (rows.length === size && remaining > 0) {
        size = Math.min(this.pageSize, remaining);
        next = fetch(cursorOf(rows[rows.length - 1]), size);
        // A caller that stops early never awaits it: its failure must not surface as an unhandled rejection.
        next.catch(() => undefined);
      }
      if (rows.length > 0) yield rows.map((row) => this.toEvent(row));
    }
  }

  private toEvent(row: EventRow): StoredEvent {
    const context = { stream: row.stream, version: row.version, type: row.type };
    return {
      position: Number(row.position),
      ...context,
      data: this.codec.decode(context, row.data),
      metadata: row.metadata,
      recordedAt: row.recorded_at,
    };
  }
}

async function collect<T>(pages: AsyncIterable<T[]>): Promise<T[]> {
  const all: T[] = [];
  for await (const page of pages) all.push(...page);
  return all;
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof QueryFailedError && (error.driverError as { code?: unknown }).code === UNIQUE_VIOLATION;
}

/** TypeORM's error keeps the bound parameters, which are event data: whoever logs the error must not log them. */
function withoutEventData(error: unknown): unknown {
  if (error instanceof QueryFailedError) Object.defineProperty(error, 'parameters', { value: undefined });
  return error;
}

function requireVersion(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be an integer >= 0, got ${value}`);
}

function requireCount(value: number, name: string): void {
  if (value !== Infinity && (!Number.isSafeInteger(value) || value < 1)) {
    throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
  }
}
