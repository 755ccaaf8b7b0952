import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InProcessBus, NatsBus } from '#bus';
import { LOG_FORMATS, LOG_LEVELS, PLUGIN_SANDBOXES, loadConfig, parseListenAddress, readTunables, watchConfig, type CofferConfig, type LogFormat, type LogLevel, type PluginSandboxSetting, type Tunables } from '#config';
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
import { createLogger, setLogLevel, startHealthPort } from '#runtime';
import { parseFlags, type FlagSpec } from '../flags.js';
import { readBusCredentials, type BusCredentials } from '../server/bus-credentials.js';
import { startServices } from '../server/runtime.js';
import { makeDevTls, type DevTlsFiles } from '../dev/dev-tls.js';
import type { RunningGateway } from '../../../gateway/src/main.js';
import type { RunningPluginRunner } from '../../../plugin-runner/src/main.js';
import type { SandboxPlan } from '../../../plugin-runner/src/sandbox.js';

const FLAGS: Record<string, FlagSpec> = {
  config: { kind: 'strings', usage: 'Path to a configuration file or directory (may repeat).' },
  service: { kind: 'strings', usage: 'Service(s) to start: gateway, catalog, mount-manager, plugin-runner (comma separated or repeated). All when absent.' },
  dev: { kind: 'bool', usage: 'Start the all-in-one dev server: embedded store, in-process bus, auto-unsealed.', default: false },
  'dev-listen-address': { kind: 'string', usage: 'Address the dev server listens on.', default: '127.0.0.1:8200' },
  'dev-root-token-id': { kind: 'string', usage: 'Root token of the dev server (random when absent).' },
  'dev-plugin-dir': { kind: 'string', usage: 'Plugin directory of the dev server.' },
  'dev-data-dir': { kind: 'string', usage: 'Keep the dev server\'s data in this directory (in memory when absent).' },
  'log-format': { kind: 'string', usage: 'Log format: standard (readable lines) or json (env COFFER_LOG_FORMAT or VAULT_LOG_FORMAT; overrides log_format). Standard on a terminal, json otherwise, when unset.' },
  'dev-tls': { kind: 'bool', usage: 'Serve the dev server over TLS with a CA and certificate made at start (VAULT_CACERT is printed).', default: false },
  'dev-tls-cert-dir': { kind: 'string', usage: 'Directory the -dev-tls CA, certificate and key are written to (a new temporary one when absent).' },
  'dev-plugin-sandbox': {
    kind: 'string',
    usage: `The dev server's plugin_sandbox: ${PLUGIN_SANDBOXES.join(', ')} (default auto). uid gives plugins the network a dynamic-secrets engine such as database needs; bwrap (auto's pick where bubblewrap works) gives them none.`,
  },
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
  const logFormat = logFormatOf(flags['log-format'] as string | undefined);
  if (flags.dev) {
    return runDevServer(
      flags,
      logLevel ?? logLevelOf(process.env.COFFER_LOG_LEVEL ?? process.env.VAULT_LOG_LEVEL) ?? 'info',
      logFormat ?? logFormatOf(process.env.COFFER_LOG_FORMAT ?? process.env.VAULT_LOG_FORMAT),
    );
  }
  const paths = flags.config as string[];
  if (paths.length === 0) throw new CofferError('invalid-request', 'A configuration file must be specified with -config, or use -dev.');
  return runConfiguredServer(paths, serviceNames(flags.service as string[]), logLevel, logFormat);
}

function logFormatOf(raw: string | undefined): LogFormat | undefined {
  if (raw === undefined || raw === '') return undefined;
  const format = raw.trim().toLowerCase();
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new CofferError('invalid-request', `unknown log format "${raw}"; expected one of ${LOG_FORMATS.join(', ')}`);
  }
  return format as LogFormat;
}

function sandboxOf(raw: string | undefined): PluginSandboxSetting | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!(PLUGIN_SANDBOXES as readonly string[]).includes(raw)) {
    throw new CofferError('invalid-request', `unknown plugin sandbox "${raw}"; expected one of ${PLUGIN_SANDBOXES.join(', ')}`);
  }
  return raw as PluginSandboxSetting;
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

async function runConfiguredServer(
  paths: string[],
  requested: ServiceName[] | undefined,
  logLevel: LogLevel | undefined,
  logFormat: LogFormat | undefined,
): Promise<number> {
  let config: CofferConfig;
  let tunables: Tunables;
  try {
    config = await loadConfig(paths);
    tunables = readTunables();
  } catch (err) {
    // Said twice on purpose: plainly on stderr for whoever typed the command, as one JSON line for the log collector.
    const message = (err as Error).message;
    process.stderr.write(`Error loading configuration from ${paths.join(', ')}: ${message}\n`);
    createLogger('coffer', 'info', { format: logFormat }).fatal({ exitCode: 1 }, `cannot start: configuration: ${message}`);
    return 1;
  }
  if (logLevel) config = { ...config, logLevel };
  const names = requested ?? (config.services.length ? config.services : [...SERVICE_NAMES]);
  const log = createLogger('coffer', config.logLevel, { format: logFormat ?? config.logFormat }).child({ process: names.join('+') });
  if (!config.storage) return fail(log, 'no storage "postgresql" block in the configuration');
  if (!config.bus) return fail(log, 'no bus "nats" block in the configuration');
  const storage = config.storage;
  const busConfig = config.bus;
  const fatal = fatalOnCrash(log);

  // Everything opened so far, closed in reverse when a later step fails: a process that cannot start must exit, and
  // an open NATS connection or pool would keep it alive (and keep its subscriptions answering) forever.
  const opened: { what: string; close: () => Promise<unknown> }[] = [];
  const closeOpened = async () => {
    for (const o of opened.splice(0).reverse()) {
      await o.close().catch((err: unknown) => log.warn({ closing: o.what, err: describeError(err) }, 'close failed'));
    }
  };
  let running;
  let gateway: RunningGateway | undefined;
  try {
    const credentials: BusCredentials = readBusCredentials(busConfig);
    // The database first: it is the dependency a process gives up on, and nothing has subscribed yet when it does.
    const dataSource = createDataSource({
      url: storage.connectionUrl,
      poolSize: storage.maxConnections,
      applicationName: `coffer-${names.join('+')}`,
      logger: log,
    });
    await connectWithRetry(dataSource, { attempts: tunables.storageConnectAttempts, logger: log });
    opened.push({ what: 'store', close: () => dataSource.destroy() });
    await runMigrations(dataSource);
    const bus = await NatsBus.connect({
      url: busConfig.servers.join(','),
      name: `coffer ${names.join('+')} ${process.pid}`,
      user: busConfig.user,
      password: busConfig.password,
      token: busConfig.token,
      nkeySeed: credentials.nkeySeed,
      inboxPrefix: busConfig.inboxPrefix,
      namespace: busConfig.namespace,
      tls: busConfig.tlsCaFile || busConfig.tlsCertFile ? { caFile: busConfig.tlsCaFile, certFile: busConfig.tlsCertFile, keyFile: busConfig.tlsKeyFile } : undefined,
      log,
    });
    opened.push({ what: 'bus', close: () => bus.close() });
    running = await startServices(names, { config, tunables, bus, dataSource, storageType: 'postgresql', log, membershipKey: credentials.membershipKey });
    opened.push({ what: 'services', close: () => running!.close() });
    gateway = running.services.find((s) => s.service === 'gateway') as RunningGateway | undefined;
    if (tunables.healthAddress) {
      const services = running;
      const withMetrics = services.services.filter((s) => s.metrics);
      const metrics = withMetrics.length ? async () => (await Promise.all(withMetrics.map((s) => s.metrics!()))).join('\n') : undefined;
      const health = await startHealthPort(tunables.healthAddress, { services: names, sealed: () => !services.barrier.ready, metrics }, log);
      opened.push({ what: 'health port', close: () => health.close() });
    }
  } catch (err) {
    log.fatal({ exitCode: 1 }, `cannot start: ${describeError(err)}`);
    await closeOpened();
    fatal.dispose();
    return 1;
  }
  const reload = watchConfig(paths, config, {
    log,
    onChange: (next) => {
      // Throws when a certificate or key cannot be read: the reload then fails and the running ones stay in use.
      gateway?.reloadTls(next);
      // In place: every service holds this object and reads the reloadable fields where it uses them.
      applyReloadable(config, next);
      // A -log-level given on the command line outlives reloads of the file.
      if (logLevel) config.logLevel = logLevel;
      setLogLevel(log, config.logLevel);
    },
  });
  await untilSignal(log, async () => {
    reload.close();
    await closeOpened();
  });
  fatal.dispose();
  return 0;
}

/** The fields a SIGHUP may change (libs/config marks them reloadable), copied into the config every service holds. */
function applyReloadable(live: CofferConfig, next: CofferConfig): void {
  live.logLevel = next.logLevel;
  live.defaultLeaseTtl = next.defaultLeaseTtl;
  live.maxLeaseTtl = next.maxLeaseTtl;
  live.sources = next.sources;
  next.listeners.forEach((l, i) => {
    if (live.listeners[i]?.address === l.address) live.listeners[i] = { ...live.listeners[i]!, tlsCertFile: l.tlsCertFile, tlsKeyFile: l.tlsKeyFile };
  });
}

/** An error as one line for the log: its message, with the cause a wrapped error carries. */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err instanceof CofferError) return err.message;
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}

/**
 * After start, an exception nothing caught means the process is in an unknown state: log it as one JSON line and
 * exit non-zero so the supervisor restarts it, rather than Node's plain-text dump (or, for a rejection, nothing).
 */
function fatalOnCrash(log: Logger): { dispose(): void } {
  const onCrash = (err: unknown) => {
    log.fatal({ exitCode: 1 }, `crashed: ${describeError(err)}`);
    process.exit(1);
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  return {
    dispose() {
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
    },
  };
}

async function runDevServer(flags: Record<string, unknown>, logLevel: LogLevel, logFormat: LogFormat | undefined): Promise<number> {
  const started = Date.now();
  // /proc/<pid>/cmdline is readable by every local user, plugins included: -dev-root-token-id must not stay in it.
  // Setting the title overwrites the argv memory the kernel shows there; it happens before any plugin can start.
  process.title = 'coffer server -dev';
  const log = createLogger('coffer', logLevel, { format: logFormat }).child({ process: 'dev' });
  const { startEmbeddedStore } = await import('../dev/embedded-store.js');
  const store = await startEmbeddedStore({ dataDir: flags['dev-data-dir'] as string | undefined, logger: log });
  const dataSource = createDataSource({ url: store.url, poolSize: 1, applicationName: 'coffer-dev', logger: log });
  await connectWithRetry(dataSource, { attempts: 5, logger: log });
  await runMigrations(dataSource);
  const bus = new InProcessBus();
  const address = flags['dev-listen-address'] as string;
  const tls = flags['dev-tls'] ? makeDevTls(parseListenAddress(address).host, flags['dev-tls-cert-dir'] as string | undefined) : undefined;
  const sandbox = sandboxOf(flags['dev-plugin-sandbox'] as string | undefined);
  const config = { ...devConfig(address, (flags['dev-plugin-dir'] as string | undefined) ?? defaultPluginDir(), logLevel, tls), ...(sandbox ? { pluginSandbox: sandbox } : {}) };
  const running = await startServices([...SERVICE_NAMES], {
    config,
    tunables: readTunables(),
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
  // As Vault's dev server, it serves `cubbyhole/` from the first request on (the mount-manager mounts the builtin).
  await bus.request(mountSubjects.ensureRequired, null, { timeoutMs: 30_000 }).catch((err: unknown) => {
    log.warn({ err: (err as Error).message }, 'cubbyhole/ not mounted');
  });
  const runner = running.services.find((s) => s.service === 'plugin-runner') as RunningPluginRunner;
  process.stdout.write(devBanner(apiAddr, config, Date.now() - started, keys, runner.sandbox, tls));
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

function sandboxLine(plan: SandboxPlan): string {
  const who = plan.user ? ` as ${plan.user.name} (uid ${plan.user.uid})` : ' as this user';
  return `${plan.level}${who}${plan.level === 'bwrap' ? ', no network' : ''}`;
}

function devBanner(apiAddr: string, config: CofferConfig, ms: number, keys: DevKeys, sandbox: SandboxPlan, tls?: DevTlsFiles): string {
  return `==> Coffer server configuration:

             Api Address: ${apiAddr}
                     Cgo: disabled
         Cluster Address: ${apiAddr}
              Listener 1: tcp (addr: "${config.listeners[0].address}", tls: "${tls ? 'enabled' : 'disabled'}")
               Log Level: ${config.logLevel}
        Plugin Directory: ${config.pluginDirectory}
          Plugin Sandbox: ${sandboxLine(sandbox)}
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

function fail(log: { fatal: (o: object, m: string) => void }, message: string): number {
  log.fatal({ exitCode: 1 }, `cannot start: ${message}`);
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
