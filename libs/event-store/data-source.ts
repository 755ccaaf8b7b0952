import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource, MigrationExecutor } from 'typeorm';
import { CofferError } from '../contracts/errors.js';
import {
  defaultLogger,
  describeError,
  redactPassword,
  redactUrl,
  typeOrmLogger,
  type StoreLogger,
} from './logger.js';
import { migrations } from './migrations/index.js';
import { quoteIdentifier, schemaOf } from './sql.js';

export interface DataSourceSettings {
  /** `postgres://user:password@host:port/database` */
  url: string;
  /** Where the tables live; the connection's current schema (usually `public`) when absent. */
  schema?: string;
  /** Connections in the pool (pg's default is 10). The embedded dev store needs 1. */
  poolSize?: number;
  /** Shown in pg_stat_activity, so an operator can tell Coffer's connections (and each service's) apart. */
  applicationName?: string;
  logger?: StoreLogger;
}

/** Queries slower than this are logged as a warning (text only, never parameters). */
const SLOW_QUERY_MS = 1000;
const CONNECT_TIMEOUT_MS = 5000;

/** A TypeORM data source for the event store. It is not connected yet: see `connectWithRetry` and `runMigrations`. */
export function createDataSource(settings: DataSourceSettings): DataSource {
  const logger = settings.logger ?? defaultLogger();
  return new DataSource({
    type: 'postgres',
    url: settings.url,
    schema: settings.schema,
    poolSize: settings.poolSize,
    applicationName: settings.applicationName ?? 'coffer',
    connectTimeoutMS: CONNECT_TIMEOUT_MS,
    maxQueryExecutionTime: SLOW_QUERY_MS,
    // The schema only ever changes through reviewed migrations, run explicitly by `runMigrations`.
    synchronize: false,
    migrationsRun: false,
    migrations,
    migrationsTableName: 'coffer_migrations',
    logger: typeOrmLogger(logger),
    // An idle pooled connection dies when Postgres restarts or an operator kills it. The pool drops it and opens a
    // new one on the next query; without this handler the error would be unhandled and end the process.
    poolErrorHandler: (error: unknown) =>
      logger.warn(
        { err: redactPassword(describeError(error), settings.url) },
        'lost an idle event store connection; the pool replaces it on next use',
      ),
  });
}

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts?: number;
  /** Wait after the first failure; doubled after each further one, up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  logger?: StoreLogger;
}

/**
 * Connects, retrying with exponential backoff: services start alongside Postgres (compose, Kubernetes) and must
 * wait for it rather than die. Throws CofferError 'unavailable' after the last attempt.
 */
export async function connectWithRetry(dataSource: DataSource, policy: RetryPolicy = {}): Promise<DataSource> {
  const { attempts = 10, initialDelayMs = 250, maxDelayMs = 5000, logger = defaultLogger() } = policy;
  const url = urlOf(dataSource);
  const target = redactUrl(url);
  for (let attempt = 1; ; attempt++) {
    try {
      return await dataSource.initialize();
    } catch (error) {
      const err = redactPassword(describeError(error), url);
      if (attempt >= attempts) {
        logger.error({ target, attempt, attempts, err }, 'cannot connect to the event store database; giving up');
        throw new CofferError('unavailable', `cannot connect to the event store database at ${target}: ${err}`);
      }
      const retryInMs = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
      logger.warn({ target, attempt, attempts, retryInMs, err }, 'cannot connect to the event store database; retrying');
      await sleep(retryInMs);
    }
  }
}

/**
 * Applies pending migrations, all in one transaction, and returns their names. Instances of every service start at
 * once, so an advisory lock makes them take turns; the lock, the schema and the migrations share one connection,
 * which also keeps this working on a pool of one.
 */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const schema = schemaOf(dataSource);
  const lock = `coffer-migrations:${schema}`;
  const runner = dataSource.createQueryRunner();
  try {
    await runner.query('SELECT pg_advisory_lock(hashtext($1))', [lock]);
    try {
      await runner.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
      const executor = new MigrationExecutor(dataSource, runner);
      executor.transaction = 'all';
      const applied = await executor.executePendingMigrations();
      return applied.map((migration) => migration.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [lock]);
    }
  } finally {
    await runner.release();
  }
}

function urlOf(dataSource: DataSource): string {
  return 'url' in dataSource.options && typeof dataSource.options.url === 'string' ? dataSource.options.url : '';
}
