/** Coffer's server config: HCL/JSON files or directories of them, merged, checked, and reloaded on SIGHUP. */
export { loadConfig, type LoadOptions } from './load.js';
export { watchConfig, type ConfigLog, type ConfigWatcher, type ReloadOutcome, type WatchOptions } from './watch.js';
export { compareConfigs, type ConfigChanges } from './changes.js';
export { redactConfig } from './redact.js';
export { REDACTED } from './schema.js';
export { ConfigError } from './errors.js';
export { GO_CIPHER_SUITES, parseListenAddress, type ListenAddress } from './values.js';
export type { Environment } from './assemble.js';
export {
  LOG_LEVELS,
  type CofferConfig,
  type LogLevel,
  type NatsBusConfig,
  type PostgresStorageConfig,
  type ServiceName,
  type TcpListenerConfig,
  type TlsVersion,
} from './types.js';
