import { compareConfigs, type ConfigChanges } from './changes.js';
import { ConfigError } from './errors.js';
import { loadConfig, type LoadOptions } from './load.js';
import type { CofferConfig } from './types.js';

/** The logging the watcher needs; a pino logger fits. */
export interface ConfigLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface WatchOptions extends LoadOptions {
  /**
   * Called after every successful reload, even when no key changed: a SIGHUP is also how an operator says "the
   * certificate files were replaced", so the listeners should re-read them each time. If it throws, the reload
   * counts as failed and the previous config stays in force.
   */
  onChange(config: CofferConfig, changes: ConfigChanges): void | Promise<void>;
  log: ConfigLog;
}

export type ReloadOutcome =
  | { ok: true; config: CofferConfig; changes: ConfigChanges }
  | { ok: false; config: CofferConfig; error: Error };

export interface ConfigWatcher {
  /** The config in force: the last one applied. */
  readonly config: CofferConfig;
  /** Re-reads the paths now, as a SIGHUP does. Never rejects: a failure is logged and returned. */
  reload(): Promise<ReloadOutcome>;
  /** Stops listening for SIGHUP. */
  close(): void;
}

/**
 * Reloads the config on SIGHUP, as Vault does. A config that fails to load leaves the running one in force (the
 * process keeps serving; the log says which file and key to fix). Keys that cannot change at run time are reported,
 * not applied.
 */
export function watchConfig(paths: string | readonly string[], current: CofferConfig, options: WatchOptions): ConfigWatcher {
  const { log } = options;
  let running = current;
  // One reload at a time: two quick SIGHUPs must not apply an older read over a newer one.
  let queue: Promise<unknown> = Promise.resolve();

  async function reloadNow(): Promise<ReloadOutcome> {
    log.info({ paths }, 'config reload triggered');
    let onDisk: CofferConfig;
    try {
      onDisk = await loadConfig(paths, options);
    } catch (err) {
      return failed(err, 'config reload failed, keeping the running config');
    }
    const { applied, changes } = compareConfigs(running, onDisk);
    try {
      await options.onChange(applied, changes);
    } catch (err) {
      return failed(err, 'config reload could not be applied, keeping the running config');
    }
    running = applied;
    log.info({ reloaded: changes.reloaded, sources: applied.sources }, 'config reloaded');
    if (changes.needsRestart.length > 0) {
      const keys = changes.needsRestart.join(', ');
      log.warn({ keys: changes.needsRestart }, `config changed on disk but needs a restart: ${keys}`);
    }
    return { ok: true, config: applied, changes };
  }

  function failed(err: unknown, summary: string): ReloadOutcome {
    const error = err instanceof Error ? err : new Error(String(err));
    const where = err instanceof ConfigError ? { file: err.source, key: err.key } : {};
    log.error({ ...where, error: error.message }, `${summary}: ${error.message}`);
    return { ok: false, config: running, error };
  }

  function reload(): Promise<ReloadOutcome> {
    const outcome = queue.then(reloadNow);
    queue = outcome;
    return outcome;
  }

  const onSignal = (): void => void reload();
  process.on('SIGHUP', onSignal);
  return {
    get config() {
      return running;
    },
    reload,
    close: () => void process.off('SIGHUP', onSignal),
  };
}
