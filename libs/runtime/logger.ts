import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import type { LoggerService } from '@nestjs/common';

/** Vault's `log_format`. */
export type LogFormat = 'standard' | 'json';

export interface LoggerOptions {
  /** Unset: `standard` when stdout is a terminal, `json` otherwise (a collector reads JSON, a person reads lines). */
  format?: LogFormat;
  /** Where lines go; stdout when unset. Tests pass a collector. */
  destination?: DestinationStream;
}

/**
 * Field names whose values are secrets wherever they appear. Secrets never reach a log call: this list is the safety
 * net, not the mechanism. Deliberately not `key` / `keys`: config reload lines name config keys with them, and a
 * storage key or a key name is not a secret; what is (unseal keys, shares) is never logged under any name.
 */
export const REDACTED_FIELDS = [
  'token',
  'password',
  'secret',
  'root_token',
  'client_token',
  'unseal_key',
  'keys_base64',
  'connection_url',
  '*.token',
  '*.password',
  '*.secret',
  '*.client_token',
  '*.connection_url',
];

/**
 * One logger per process with the service name bound. Its level can be changed later with `setLogLevel`, which
 * reaches every child made from it (pino children otherwise keep the level they were born with).
 */
export function createLogger(name: string, level: LevelWithSilent = 'info', options: LoggerOptions = {}): Logger {
  const format = options.format ?? (process.stdout.isTTY ? 'standard' : 'json');
  const destination = options.destination ?? (format === 'standard' ? readableLines(1) : pino.destination({ fd: 1, sync: true }));
  const family = new Set<WeakRef<Logger>>();
  const root = pino(
    {
      name,
      level: process.env.COFFER_LOG_LEVEL ?? level,
      base: { pid: process.pid },
      redact: { paths: REDACTED_FIELDS, censor: '[redacted]' },
      onChild: (child) => {
        family.add(new WeakRef(child));
        (child as unknown as Record<symbol, unknown>)[FAMILY] = family;
      },
    },
    destination,
  );
  family.add(new WeakRef(root));
  (root as unknown as Record<symbol, unknown>)[FAMILY] = family;
  return root;
}

const FAMILY = Symbol('coffer.logger-family');

/** Sets the level of a logger made by createLogger and of every logger derived from it (a SIGHUP's `log_level`). */
export function setLogLevel(log: Logger, level: LevelWithSilent): void {
  const family = (log as unknown as Record<symbol, Set<WeakRef<Logger>> | undefined>)[FAMILY];
  if (!family) {
    log.level = level;
    return;
  }
  for (const ref of family) {
    const member = ref.deref();
    if (member) member.level = level;
    else family.delete(ref);
  }
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Bound in every line, or said by the prefix already: not repeated as fields. */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'service', 'process', 'component']);

/**
 * Vault-like readable lines: `2024-01-01T00:00:00.000Z [INFO]  gateway: gateway listening: address=127.0.0.1:8200`.
 * pino has already serialized (and redacted) the object; this only rearranges it.
 */
export function formatReadable(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = `[${LEVEL_NAMES[o.level as number] ?? String(o.level)}]`.padEnd(7);
  const time = typeof o.time === 'number' ? new Date(o.time).toISOString() : '';
  const who = String(o.service ?? o.component ?? o.process ?? o.name ?? 'coffer');
  const fields = Object.entries(o)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`);
  return `${time} ${level} ${who}: ${String(o.msg ?? '')}${fields.length ? `: ${fields.join(' ')}` : ''}\n`;
}

function readableLines(fd: number): DestinationStream {
  return {
    write(chunk: string) {
      // Synchronous, like pino's own default: a line written before an exit is never lost.
      writeSync(fd, formatReadable(chunk));
    },
  };
}

/** Nest's own messages go through the same logger. */
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
