import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InProcessBus, NatsBus } from '#bus';
import { LOG_LEVELS, loadConfig, parseListenAddress, watchConfig, type CofferConfig, type LogLevel } from '#config';
import {
  COFFER_VERSION,
  CofferError,
  SERVICE_NAMES,
  catalogSubjects,
  isServiceName,
  mountSubjects,
  type CatalogRegisterRequest,
  type MountEnableRequest,
  type ServiceName,
} from '#contracts';
import { connectWithRetry, createDataSource, runMigrations } from '#event-store';
import { loadBuiltins } from '#plugin-catalog';
import { createLogger } from '#runtime';
import { parseFlags, type FlagSpec } from '../flags.js';
import { startServices } from '../server/runtime.js';
import { makeDevTls, type DevTlsFiles } from '../dev/dev-tls.js';
import type { RunningGateway } from '../../../gateway/src/main.js';

const FLAGS: Record<string, FlagSpec> = {
  config: { kind: 'strings', usage: 'Path to a configuration file or directory (may repeat).' },
  service: { kind: 'strings', usage: 'Service(s) to start: gateway, catalog, mount-manager, plugin-runner (comma separated or repeated). All when absent.' },
  dev: { kind: 'bool', usage: 'Start the all-in-one dev server: embedded store, in-process bus, auto-unsealed.', default: false },
  'dev-listen-address': { kind: 'string', usage: 'Address the dev server listens on.', default: '127.0.0.1:8200' },
  'dev-root-token-id': { kind: 'string', usage: 'Root token of the dev server (random when absent).' },
  'dev-plugin-dir': { kind: 'string', usage: 'Plugin directory of the dev server.' },
  'dev-data-dir': { kind: 'string', usage: 'Keep the dev server\'s data in this directory (in memory when absent).' },
  'dev-tls': { kind: 'bool', usage: 'Serve the dev server over TLS with a CA and certificate made at start (VAULT_CACERT is printed).', default: false },
  'dev-tls-cert-dir': { kind: 'string', usage: 'Directory the -dev-tls CA, certificate and key are written to (a new temporary one when absent).' },
  'log-level': { kind: 'string', usage: `Log verbosity: ${LOG_LEVELS.join(', ')} (env COFFER_LOG_LEVEL or VAULT_LOG_LEVEL; overrides the config file's log_level).` },
};

export const SERVER_HELP = `Usage: coffer server [options]

  Starts Coffer services. With -config, the services named by -service (or all
  four) run in this process against the configured Postgres and NATS. With -dev,
  everything runs in one process on an embedded store.

Examples:
  $ coffer server -dev
  $ coffer server -config=/etc/coffer/config.d -service=gateway

Options:
${Object.entries(FLAGS).map(([n, f]) => `  -${n}\n      ${f.usage}`).join('\n')}
`;

export async function serverCommand(argv: string[]): Promise<number> {
  if (argv.some((a) => ['-h', '-help', '--help'].includes(a))) {
    process.stdout.write(SERVER_HELP);
    return 0;
  }
  const { flags, args } = parseFlags(argv, FLAGS);
  if (args.length > 0) throw new CofferError('invalid-request', `Too many arguments (expected 0, got ${args.length})`);
  const logLevel = logLevelOf(flags['log-level'] as string | undefined);
  if (flags.dev) return runDevServer(flags, logLevel ?? logLevelOf(process.env.COFFER_LOG_LEVEL ?? process.env.VAULT_LOG_LEVEL) ?? 'info');
  const paths = flags.config as string[];
  if (paths.length === 0) throw new CofferError('invalid-request', 'A configuration file must be specified with -config, or use -dev.');
  return runConfiguredServer(paths, serviceNames(flags.service as string[]), logLevel);
}

function logLevelOf(raw: string | undefined): LogLevel | undefined {
  if (raw === undefined || raw === '') return undefined;
  const level = raw.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new CofferError('invalid-request', `unknown log level "${raw}"; expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return level as LogLevel;
}

function serviceNames(raw: string[]): ServiceName[] | undefined {
  const names = raw.flatMap((r) => r.split(',')).map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!isServiceName(n)) throw new CofferError('invalid-request', `unknown service "${n}"; expected one of ${SERVICE_NAMES.join(', ')}`);
  }
  return names.length ? (names as ServiceName[]) : undefined;
}

async function runConfiguredServer(paths: string[], requested: ServiceName[] | undefined, logLevel: LogLevel | undefined): Promise<number> {
  let config: CofferConfig;
  try {
    config = await loadConfig(paths);
  } catch (err) {
    process.stderr.write(`Error loading configuration from ${paths.join(', ')}: ${(err as Error).message}\n`);
    return 1;
  }
  if (logLevel) config = { ...config, logLevel };
  const names = requested ?? (config.services.length ? config.services : [...SERVICE_NAMES]);
  const log = createLogger('coffer', config.logLevel).child({ process: names.join('+') });
  if (!config.storage) return fail(log, 'no storage "postgresql" block in the configuration');
  if (!config.bus) return fail(log, 'no bus "nats" block in the configuration');

  const bus = await NatsBus.connect({
    url: config.bus.servers.join(','),
    name: `coffer ${names.join('+')} ${process.pid}`,
    user: config.bus.user,
    password: config.bus.password,
    token: config.bus.token,
    namespace: config.bus.namespace,
    tls: config.bus.tlsCaFile || config.bus.tlsCertFile ? { caFile: config.bus.tlsCaFile, certFile: config.bus.tlsCertFile, keyFile: config.bus.tlsKeyFile } : undefined,
    log,
  });
  const dataSource = createDataSource({
    url: config.storage.connectionUrl,
    poolSize: config.storage.maxConnections,
    applicationName: `coffer-${names.join('+')}`,
    logger: log,
  });
  await connectWithRetry(dataSource, { attempts: 60, logger: log });
  await runMigrations(dataSource);
  const running = await startServices(names, { config, bus, dataSource, storageType: 'postgresql', log });
  const gateway = running.services.find((s) => s.service === 'gateway') as RunningGateway | undefined;
  const reload = watchConfig(paths, config, {
    log,
    onChange: (next) => {
      // Throws when a certificate or key cannot be read: the reload then fails and the running ones stay in use.
      gateway?.reloadTls(next);
      // A -log-level given on the command line outlives reloads of the file.
      log.level = logLevel ?? next.logLevel;
    },
  });
  await untilSignal(log, async () => {
    reload.close();
    await running.close();
    await bus.close();
    await dataSource.destroy().catch(() => undefined);
  });
  return 0;
}

async function runDevServer(flags: Record<string, unknown>, logLevel: LogLevel): Promise<number> {
  const started = Date.now();
  const log = createLogger('coffer', logLevel).child({ process: 'dev' });
  const { startEmbeddedStore } = await import('../dev/embedded-store.js');
  const store = await startEmbeddedStore({ dataDir: flags['dev-data-dir'] as string | undefined, logger: log });
  const dataSource = createDataSource({ url: store.url, poolSize: 1, applicationName: 'coffer-dev', logger: log });
  await connectWithRetry(dataSource, { attempts: 5, logger: log });
  await runMigrations(dataSource);
  const bus = new InProcessBus();
  const address = flags['dev-listen-address'] as string;
  const tls = flags['dev-tls'] ? makeDevTls(parseListenAddress(address).host, flags['dev-tls-cert-dir'] as string | undefined) : undefined;
  const config = devConfig(address, (flags['dev-plugin-dir'] as string | undefined) ?? defaultPluginDir(), logLevel, tls);
  const running = await startServices([...SERVICE_NAMES], {
    config,
    bus,
    dataSource,
    storageType: 'pglite',
    log,
    catchUpIntervalMs: 60_000,
  });
  const gateway = running.services.find((s) => s.service === 'gateway') as RunningGateway;
  // The certificate names localhost and the loopback addresses; a wildcard bind is reached through 127.0.0.1.
  const host = ['0.0.0.0', '::', ''].includes(gateway.address.host) ? '127.0.0.1' : gateway.address.host;
  const apiAddr = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${gateway.address.port}`;
  const keys = await devUnseal(gateway, flags['dev-data-dir'] as string | undefined, flags['dev-root-token-id'] as string | undefined);
  await registerDevPlugins(bus, config.pluginDirectory!, log);
  await mountDevEngines(bus, flags['dev-data-dir'] !== undefined, log);
  process.stdout.write(devBanner(apiAddr, config, Date.now() - started, keys, tls));
  await untilSignal(log, async () => {
    await running.close();
    await bus.close();
    await dataSource.destroy().catch(() => undefined);
    await store.close();
  });
  return 0;
}

interface DevKeys {
  unsealKey: string;
  rootToken: string;
}

/**
 * The dev server initializes itself with one key share and unseals at once. With a data directory the keys are kept
 * beside the data (dev mode only: that is exactly what production must never do), so a restart can unseal again.
 */
async function devUnseal(gateway: RunningGateway, dataDir: string | undefined, rootTokenId: string | undefined): Promise<DevKeys> {
  const keyFile = dataDir ? join(dataDir, 'dev-keys.json') : undefined;
  let keys: DevKeys;
  if (await gateway.seal.initialized()) {
    if (!keyFile || !existsSync(keyFile)) throw new Error('the dev data directory is initialized but its dev-keys.json is missing');
    keys = JSON.parse(readFileSync(keyFile, 'utf8')) as DevKeys;
  } else {
    const init = await gateway.seal.init({ secretShares: 1, secretThreshold: 1, rootTokenId });
    keys = { unsealKey: init.keys_base64[0], rootToken: init.root_token };
    if (keyFile) writeFileSync(keyFile, JSON.stringify(keys), { mode: 0o600 });
  }
  await gateway.seal.unseal(keys.unsealKey, false);
  return keys;
}

/**
 * As Vault's dev server: `secret/` is a KV version 2 mount of the builtin kv. A data directory that already has it
 * (a restart) keeps what it has; a server built without the kv bundle starts without it, and says so.
 */
async function mountDevEngines(bus: InProcessBus, persistent: boolean, log: Logger): Promise<void> {
  const request: MountEnableRequest = { table: 'secret', path: 'secret/', type: 'kv', description: 'key/value secret storage', options: { version: '2' } };
  try {
    await bus.request(mountSubjects.enable, request, { timeoutMs: 30_000 });
  } catch (err) {
    const message = (err as Error).message;
    if (persistent && /already in use/.test(message)) return;
    log.warn({ err: message }, 'secret/ (kv version 2) not mounted');
  }
}

/**
 * As Vault's dev server with -dev-plugin-dir: every executable in the plugin directory is registered by its hash,
 * except this build's builtins themselves (the default plugin directory is where they are built): registered, they
 * would shadow the builtin entry with an identical external one.
 */
async function registerDevPlugins(bus: InProcessBus, dir: string, log: Logger): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name);
  } catch {
    log.warn({ dir }, 'no plugin directory; no plugins registered');
    return;
  }
  const builtinHashes = new Set(Object.values(loadBuiltins()).map((b) => b.sha256));
  for (const name of names.sort()) {
    const sha256 = createHash('sha256').update(readFileSync(join(dir, name))).digest('hex');
    if (builtinHashes.has(sha256)) continue;
    try {
      await bus.request(catalogSubjects.register, { name, sha256, command: name } satisfies CatalogRegisterRequest, { timeoutMs: 30_000 });
      log.info({ plugin: name, sha256 }, 'registered dev plugin');
    } catch (err) {
      log.warn({ plugin: name, err: (err as Error).message }, 'dev plugin not registered');
    }
  }
}

function devConfig(address: string, pluginDirectory: string, logLevel: LogLevel, tls?: DevTlsFiles): CofferConfig {
  return {
    pluginDirectory,
    logLevel,
    defaultLeaseTtl: 768 * 3600,
    maxLeaseTtl: 768 * 3600,
    services: [...SERVICE_NAMES],
    ui: true,
    listeners: [
      tls
        ? { type: 'tcp', address, tlsDisable: false, tlsCertFile: tls.certFile, tlsKeyFile: tls.keyFile, maxRequestSize: 32 * 1024 * 1024 }
        : { type: 'tcp', address, tlsDisable: true, maxRequestSize: 32 * 1024 * 1024 },
    ],
    sources: [],
  };
}

function defaultPluginDir(): string {
  return resolve(fileURLToPath(new URL('../../../../plugins', import.meta.url)));
}

function devBanner(apiAddr: string, config: CofferConfig, ms: number, keys: DevKeys, tls?: DevTlsFiles): string {
  return `==> Coffer server configuration:

             Api Address: ${apiAddr}
                     Cgo: disabled
         Cluster Address: ${apiAddr}
              Listener 1: tcp (addr: "${config.listeners[0].address}", tls: "${tls ? 'enabled' : 'disabled'}")
               Log Level: ${config.logLevel}
        Plugin Directory: ${config.pluginDirectory}
                 Storage: pglite (embedded, in-process bus)
                 Version: Coffer v${COFFER_VERSION}

==> Coffer server started in ${ms} ms! Log data will stream in below:

WARNING! dev mode is enabled! In this mode, Coffer runs entirely in one process
on an embedded store, and starts unsealed. Never use it in production.

You may need to set the following environment variables:

    $ export VAULT_ADDR='${apiAddr}'
    $ export COFFER_ADDR='${apiAddr}'
${tls ? `    $ export VAULT_CACERT='${tls.caFile}'\n    $ export COFFER_CACERT='${tls.caFile}'\n` : ''}
The unseal key and root token are displayed below in case you want to
seal/unseal the Vault or re-authenticate.

Unseal Key: ${keys.unsealKey}
Root Token: ${keys.rootToken}

The web UI is available at: ${apiAddr}/ui/

Development mode should NOT be used in production installations!

`;
}

function fail(log: { error: (m: string) => void }, message: string): number {
  log.error(message);
  process.stderr.write(`Error: ${message}\n`);
  return 1;
}

/** Resolves after SIGTERM or SIGINT once `shutdown` has finished; a second signal exits at once. */
function untilSignal(log: { info: (o: object, m: string) => void }, shutdown: () => Promise<void>): Promise<void> {
  return new Promise((done) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(1);
      stopping = true;
      log.info({ signal }, 'shutting down');
      void shutdown().finally(() => {
        log.info({}, 'stopped');
        done();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
