import { ConfigError } from './errors.js';
import type { Environment } from './assemble.js';

/**
 * Timing knobs an operator rarely touches, read from the environment in this one place so every service that uses
 * one agrees on it (the plugin-call limit used to be read by the gateway and the runner with different defaults).
 * They are not config-file keys: they change behaviour under failure, not what the server is, and a restart applies
 * them.
 */
export interface Tunables {
  /** A plugin call's limit at the runner; past it the plugin process is replaced and the call fails. */
  pluginCallTimeoutMs: number;
  /** An idle plugin process is stopped after this long. */
  pluginIdleMs: number;
  /** Where runners keep their private copies of plugin executables (unset: `$TMPDIR/coffer-plugin-cache-<uid>`). */
  pluginCacheDir?: string;
  /**
   * How long a caller waits for a sign of life from whoever took its request (an acknowledgement first, then
   * heartbeats) before it gives up on that responder: the bound on a stall when a runner dies or NATS drops.
   */
  busLivenessMs: number;
  /** How often each gateway looks for due leases (leases/lease-manager.ts). */
  leaseTickMs: number;
  /** How often each mount's plugin gets its scheduled `periodic` call (one runner of the cluster makes it). */
  periodicTickMs: number;
  /**
   * How often each runner tells the gateways it serves (`runnerSubjects.presence`); a runner not heard for three
   * periods is taken as gone and its mounts hash to the others.
   */
  runnerPresenceMs: number;
  /** The longest wait between two attempts at a revocation that keeps failing. */
  leaseMaxBackoffMs: number;
  /** Attempts at the first Postgres connection (backoff up to 5 s between them) before the process gives up and exits. */
  storageConnectAttempts: number;
  /** `COFFER_ACCESS_LOG=1`: the gateway logs one line per request (no body, no query, no header). */
  accessLog: boolean;
  /**
   * `COFFER_HEALTH_ADDR=host:port`: every process answers `GET /health/live` and `GET /health/ready` there, for
   * container healthchecks. Unset: no such port.
   */
  healthAddress?: string;
}

/** Each tunable: its variable, default and lower bound. One line each, so the docs table can be checked against it. */
export const TUNABLES = {
  pluginCallTimeoutMs: { env: 'COFFER_PLUGIN_CALL_TIMEOUT_MS', default: 30_000, min: 100 },
  pluginIdleMs: { env: 'COFFER_PLUGIN_IDLE_MS', default: 5 * 60_000, min: 100 },
  busLivenessMs: { env: 'COFFER_BUS_LIVENESS_MS', default: 2_000, min: 200 },
  storageConnectAttempts: { env: 'COFFER_PG_CONNECT_ATTEMPTS', default: 60, min: 1 },
  leaseTickMs: { env: 'COFFER_LEASE_TICK_MS', default: 1_000, min: 50 },
  leaseMaxBackoffMs: { env: 'COFFER_LEASE_MAX_BACKOFF_MS', default: 300_000, min: 100 },
  periodicTickMs: { env: 'COFFER_PERIODIC_TICK_MS', default: 5_000, min: 50 },
  runnerPresenceMs: { env: 'COFFER_RUNNER_PRESENCE_MS', default: 1_000, min: 50 },
} as const satisfies Record<string, { env: string; default: number; min: number }>;

/**
 * How much longer than the runner's own limit the gateway waits for a plugin call: the runner's timeout error (which
 * says what happened) then reaches the client before the gateway's own (which can only say "no answer").
 */
export const GATEWAY_CALL_MARGIN_MS = 5_000;

/** Reads every tunable; a value that is set but not a whole number at or above its bound is an error, not a default. */
export function readTunables(env: Environment = process.env): Tunables {
  const out: Record<string, number | string | undefined> = {};
  for (const [field, spec] of Object.entries(TUNABLES)) {
    const raw = env[spec.env]?.trim();
    if (raw === undefined || raw === '') {
      out[field] = spec.default;
      continue;
    }
    const value = Number(raw);
    if (!Number.isInteger(value) || value < spec.min) {
      throw new ConfigError(`$${spec.env}`, undefined, `must be a whole number of at least ${spec.min} (got "${raw}")`);
    }
    out[field] = value;
  }
  const cacheDir = env.COFFER_PLUGIN_CACHE_DIR?.trim();
  if (cacheDir) out.pluginCacheDir = cacheDir;
  const access = env.COFFER_ACCESS_LOG?.trim().toLowerCase() ?? '';
  if (!['', '0', 'false', '1', 'true'].includes(access)) throw new ConfigError('$COFFER_ACCESS_LOG', undefined, `must be 1/true or 0/false (got "${access}")`);
  const health = env.COFFER_HEALTH_ADDR?.trim();
  if (health) {
    if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(health)) throw new ConfigError('$COFFER_HEALTH_ADDR', undefined, `must be host:port (got "${health}")`);
    out.healthAddress = health;
  }
  return { ...(out as unknown as Tunables), accessLog: access === '1' || access === 'true' };
}
