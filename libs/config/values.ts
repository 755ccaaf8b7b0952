import { parseDurationSeconds as parseVaultDuration } from '../duration/index.js';
import { isAbsolute } from 'node:path';
import { parseGoBool } from '../vault-rules/index.js';
import { ValueProblem } from './errors.js';

/**
 * The kinds of value a config key can hold. A kind turns what the parser produced (HCL and JSON both give strings,
 * numbers, booleans, lists) into the typed value, or throws a ValueProblem that says what was expected. Problems
 * never quote the value: the caller adds it for keys that are not secret.
 */
export type Kind<T> = (raw: unknown) => T;

export const text: Kind<string> = (raw) => {
  if (typeof raw !== 'string') throw new ValueProblem('must be a string');
  return raw;
};

/** Vault decodes HCL numbers from strings too ("1000"), so a config written for Vault keeps working. */
export function integer(minimum: number): Kind<number> {
  return (raw) => {
    const value = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new ValueProblem('must be an integer');
    if (value < minimum) throw new ValueProblem(minimum === 1 ? 'must be a positive integer' : `must be at least ${minimum}`);
    return value;
  };
}

export const boolean: Kind<boolean> = (raw) => {
  if (typeof raw === 'boolean') return raw;
  const word = typeof raw === 'number' ? String(raw) : raw;
  // Go's strconv.ParseBool spellings, which is what Vault's parseutil.ParseBool uses.
  const parsed = typeof word === 'string' ? parseGoBool(word) : undefined;
  if (parsed !== undefined) return parsed;
  throw new ValueProblem('must be a boolean (true or false)');
};

/**
 * Vault's parseutil.ParseDurationSecond (seconds, "7d", or a Go duration such as "768h" or "1h30m"), never negative.
 * Sub-second remainders are dropped, as Vault's `/ time.Second` does.
 */
export function parseDurationSeconds(raw: unknown): number {
  if (typeof raw === 'number' && !Number.isSafeInteger(raw)) throw new ValueProblem('must be a whole number of seconds');
  if (typeof raw !== 'number' && (typeof raw !== 'string' || raw.trim() === '')) throw new ValueProblem(DURATION_EXPECTED);
  let seconds: number;
  try {
    seconds = parseVaultDuration(raw);
  } catch {
    throw new ValueProblem(DURATION_EXPECTED);
  }
  if (seconds < 0 || (typeof raw === 'string' && raw.trim().startsWith('-'))) throw new ValueProblem('must not be negative');
  return seconds;
}
const DURATION_EXPECTED = 'must be a duration such as "768h", "30m", "90s" or a number of seconds';

export const duration: Kind<number> = parseDurationSeconds;

/**
 * A file mode written in octal ("0755", "755"). Vault parses the string base 8; a bare HCL number 0755 reaches us as
 * 755 (the parser drops the zero), which base 8 reads the same way.
 */
export const octalMode: Kind<number> = (raw) => {
  const digits = typeof raw === 'number' && Number.isInteger(raw) ? String(raw) : raw;
  if (typeof digits !== 'string' || !/^(0o)?[0-7]{1,5}$/.test(digits.trim())) {
    throw new ValueProblem('must be an octal file mode such as "0755"');
  }
  const mode = parseInt(digits.trim().replace(/^0o/, ''), 8);
  if (mode > 0o7777) throw new ValueProblem('must be an octal file mode no larger than 7777');
  return mode;
};

export const absolutePath: Kind<string> = (raw) => {
  const path = text(raw);
  if (!isAbsolute(path)) throw new ValueProblem('must be an absolute path');
  return path;
};

export function oneOf<const T extends string>(choices: readonly T[]): Kind<T> {
  return (raw) => {
    if (typeof raw !== 'string' || !(choices as readonly string[]).includes(raw)) {
      throw new ValueProblem(`must be one of ${choices.join(', ')}`);
    }
    return raw as T;
  };
}

/** A list of distinct values; a repeated entry is dropped rather than refused, since it changes nothing. */
export function listOf<T>(item: Kind<T>): Kind<T[]> {
  return (raw) => {
    if (!Array.isArray(raw)) throw new ValueProblem('must be a list, e.g. ["gateway", "catalog"]');
    return [...new Set(raw.map(item))];
  };
}

export const httpUrl: Kind<string> = (raw) => {
  const url = parseUrl(text(raw));
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
    throw new ValueProblem('must be a URL such as "https://coffer.example.com:8200"');
  }
  return text(raw);
};

/** Only the URL form: node-postgres reads it, and redactConfig can find the password in it. */
export const postgresUrl: Kind<string> = (raw) => {
  const url = parseUrl(text(raw));
  if (url?.protocol !== 'postgres:' && url?.protocol !== 'postgresql:') {
    throw new ValueProblem('must be a URL starting with postgres:// or postgresql://');
  }
  return text(raw);
};

export interface ListenAddress {
  host: string;
  port: number;
}

/** Splits a listener address ("0.0.0.0:8200", "[::]:8200") into what `listen()` takes. */
export function parseListenAddress(address: string): ListenAddress {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address);
  const port = Number(match?.[3]);
  if (!match || port > 65_535) {
    throw new ValueProblem('must be host:port, such as "127.0.0.1:8200" or "[::]:8200"');
  }
  return { host: match[1] ?? match[2]!, port };
}

export const listenAddress: Kind<string> = (raw) => {
  const address = text(raw).trim();
  parseListenAddress(address);
  return address;
};

const NATS_SCHEMES = new Set(['nats:', 'tls:', 'ws:', 'wss:']);

/** One server or several separated by commas, as the NATS clients accept; each with a scheme or as host:port. */
/** One token of a NATS subject: letters, digits, `_` and `-`, so it can never add a level or a wildcard. */
export const subjectToken: Kind<string> = (raw) => {
  const value = text(raw).trim();
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) throw new ValueProblem('must be 1 to 64 letters, digits, "_" or "-"');
  return value;
};

export const natsServers: Kind<string[]> = (raw) => {
  const servers = text(raw)
    .split(',')
    .map((server) => server.trim())
    .filter((server) => server !== '');
  if (servers.length === 0) throw new ValueProblem('must name at least one server');
  for (const server of servers) {
    const valid = server.includes('://') ? NATS_SCHEMES.has(parseUrl(server)?.protocol ?? '') : /^[^\s/]+:\d{1,5}$/.test(server);
    if (!valid) throw new ValueProblem('must be nats://host:port (or tls://, ws://, wss://), several separated by commas');
  }
  return servers;
};

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

export const tlsVersion: Kind<'tls10' | 'tls11' | 'tls12' | 'tls13'> = oneOf(['tls10', 'tls11', 'tls12', 'tls13'] as const);

/**
 * Go's cipher suite names (what Vault's `tls_cipher_suites` takes) and OpenSSL's for the same suite. Go does not let
 * TLS 1.3 suites be chosen; Node does, so they are accepted here too.
 */
export const GO_CIPHER_SUITES: Readonly<Record<string, string>> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_AES_128_GCM_SHA256: 'TLS_AES_128_GCM_SHA256',
  TLS_AES_256_GCM_SHA384: 'TLS_AES_256_GCM_SHA384',
  TLS_CHACHA20_POLY1305_SHA256: 'TLS_CHACHA20_POLY1305_SHA256',
};

/** Vault's comma-separated list of Go suite names (a list is taken too) → OpenSSL's names. */
export const cipherSuites: Kind<string[]> = (raw) => {
  const names = Array.isArray(raw) ? raw.map(text) : text(raw).split(',');
  const suites = names.map((n) => n.trim()).filter((n) => n !== '');
  if (suites.length === 0) throw new ValueProblem('must name at least one cipher suite');
  return [
    ...new Set(
      suites.map((name) => {
        const openssl = GO_CIPHER_SUITES[name];
        if (!openssl) throw new ValueProblem(`names an unknown cipher suite "${name.slice(0, 64)}" (use Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)`);
        return openssl;
      }),
    ),
  ];
};
