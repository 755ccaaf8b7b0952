import { pino, type Logger, type LevelWithSilent } from 'pino';
import type { LoggerService } from '@nestjs/common';

/**
 * JSON lines on stdout, one logger per process with the service name bound. Secrets never reach a log call: the
 * redact list is the safety net for the field names that could carry one, not the mechanism.
 */
export function createLogger(name: string, level: LevelWithSilent = 'info'): Logger {
  return pino({
    name,
    level: process.env.COFFER_LOG_LEVEL ?? level,
    base: { pid: process.pid },
    redact: {
      paths: ['token', 'password', 'key', 'keys', 'root_token', 'client_token', '*.token', '*.password', 'connection_url'],
      censor: '[redacted]',
    },
  });
}

/** Nest's own messages go through the same JSON logger. */
export function nestLogger(log: Logger): LoggerService {
  const child = log.child({ component: 'nest' });
  const text = (m: unknown) => (typeof m === 'string' ? m : JSON.stringify(m));
  return {
    log: (m, ctx?) => child.debug({ ctx }, text(m)),
    error: (m, trace?, ctx?) => child.error({ ctx, trace }, text(m)),
    warn: (m, ctx?) => child.warn({ ctx }, text(m)),
    debug: (m, ctx?) => child.debug({ ctx }, text(m)),
    verbose: (m, ctx?) => child.trace({ ctx }, text(m)),
  };
}
