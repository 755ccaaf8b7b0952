import { Counter, Gauge, Registry } from 'prom-client';
import type { PluginPool, PoolEvents } from './plugin-pool.js';

/**
 * One runner's metrics (prom-client), served as Prometheus text on the process's health port (`/metrics` on
 * `COFFER_HEALTH_ADDR`): plugin launches by outcome, crashes, calls and call timeouts by method, and the processes
 * the pool runs now.
 * Labelled by catalog plugin name only (the operator's words, bounded), never by mount path or request. A registry
 * of its own, as the gateway's, so two runners in one test process never mix.
 */
export class RunnerMetrics implements PoolEvents {
  readonly registry = new Registry();
  private readonly launches: Counter<'plugin' | 'outcome'>;
  private readonly crashes: Counter<'plugin'>;
  private readonly timeouts: Counter<'plugin' | 'method'>;
  private readonly calls: Counter<'plugin' | 'method'>;
  private readonly storageReads: Counter<'source'>;

  constructor(instance: string, pool: () => PluginPool | undefined, cachedEntries: () => number = () => 0) {
    this.registry.setDefaultLabels({ service: 'plugin-runner', instance });
    this.launches = new Counter({
      name: 'coffer_plugin_launches_total',
      help: 'Plugin processes launched, by plugin and outcome (started, failed).',
      labelNames: ['plugin', 'outcome'],
      registers: [this.registry],
    });
    this.crashes = new Counter({
      name: 'coffer_plugin_crashes_total',
      help: 'Plugin processes that exited without being asked to, by plugin.',
      labelNames: ['plugin'],
      registers: [this.registry],
    });
    this.timeouts = new Counter({
      name: 'coffer_plugin_call_timeouts_total',
      help: 'Calls that outlived the plugin call timeout (the process is then replaced), by plugin and method.',
      labelNames: ['plugin', 'method'],
      registers: [this.registry],
    });
    this.calls = new Counter({
      name: 'coffer_plugin_calls_total',
      help: 'Calls sent to plugin processes (each a round trip through the pipes), by plugin and method.',
      labelNames: ['plugin', 'method'],
      registers: [this.registry],
    });
    this.storageReads = new Counter({
      name: 'coffer_storage_reads_total',
      help: "Plugin storage reads (get and exists), by where the answer came from: this runner's read cache or Postgres.",
      labelNames: ['source'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'coffer_storage_cache_entries',
      help: "Keys this runner's plugin-storage read cache holds now.",
      registers: [this.registry],
      collect() {
        this.set(cachedEntries());
      },
    });
    const processes = new Gauge({
      name: 'coffer_plugin_processes',
      help: 'Plugin processes serving calls on this runner now, by plugin.',
      labelNames: ['plugin'],
      registers: [this.registry],
      collect() {
        processes.reset();
        for (const p of pool()?.processes() ?? []) processes.inc({ plugin: p.plugin });
      },
    });
    const inFlight = new Gauge({
      name: 'coffer_plugin_calls_in_flight',
      help: 'Calls being served by plugin processes on this runner now, by plugin.',
      labelNames: ['plugin'],
      registers: [this.registry],
      collect() {
        inFlight.reset();
        for (const p of pool()?.processes() ?? []) inFlight.inc({ plugin: p.plugin }, p.inFlight);
      },
    });
  }

  launched(plugin: string, outcome: 'started' | 'failed'): void {
    this.launches.inc({ plugin, outcome });
  }

  crashed(plugin: string): void {
    this.crashes.inc({ plugin });
  }

  timedOut(plugin: string, method: string): void {
    this.timeouts.inc({ plugin, method });
  }

  called(plugin: string, method: string): void {
    this.calls.inc({ plugin, method });
  }

  storageRead(fromCache: boolean): void {
    this.storageReads.inc({ source: fromCache ? 'cache' : 'store' });
  }
}
