import { pino } from 'pino';
import type { Logger as TypeOrmLogger } from 'typeorm';

/** The slice of a pino logger the event store writes to; a pino logger fits as it is. */
export interface StoreLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export function defaultLogger(): StoreLogger {
  return pino({ name: 'event-store' });
}

/**
 * TypeORM's logger, minus everything that could carry event data: bound parameters are the encoded events, so they
 * are never passed on, and successful queries are not logged at all.
 */
export function typeOrmLogger(logger: StoreLogger): TypeOrmLogger {
  return {
    logQuery() {},
    // Debug only: a lost optimistic-concurrency race is a failed query too, and its caller reports it.
    logQueryError: (error, query) => logger.debug({ err: describeError(error), query }, 'event store query failed'),
    logQuerySlow: (ms, query) => logger.warn({ ms, query }, 'slow event store query'),
    logSchemaBuild: (message) => logger.debug({}, message),
    logMigration: (message) => logger.info({}, message),
    log: (level, message) => (level === 'warn' ? logger.warn({}, String(message)) : logger.info({}, String(message))),
  };
}

/** A connect to a host with several addresses fails with an AggregateError whose own message is empty. */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && !error.message) return error.errors.map(describeError).join('; ');
  return error instanceof Error ? error.message : String(error);
}

/** The URL as it may appear in a log: with the password replaced, and never echoed back when it cannot be parsed. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

/** Driver errors may quote the connection string; strip the password wherever it appears. */
export function redactPassword(text: string, url: string): string {
  return passwordSpellings(url).reduce((redacted, password) => redacted.replaceAll(password, '***'), text);
}

/** As written in the URL and decoded: a message may quote either. */
function passwordSpellings(url: string): string[] {
  try {
    const { password } = new URL(url);
    return password ? [password, decodeURIComponent(password)] : [];
  } catch {
    return [];
  }
}
