import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { NatsBus } from '#bus';
import { subjects, type ServiceName, type ServiceStatus } from '#contracts';
import { createLogger } from '#runtime';
import { REPO_ROOT } from './paths.js';

export const TEST_DATABASE_URL = process.env.COFFER_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_NATS_URL = process.env.COFFER_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

export interface ClusterOptions {
  natsUrl?: string;
  /** Extra HCL appended to the generated config. */
  extraConfig?: string;
  /** The services' log_level: debug for tests (their logs explain failures), quieter for benchmarks. */
  logLevel?: string;
  /** Options for each service's Node (e.g. `--cpu-prof`, which NODE_OPTIONS refuses). */
  nodeArgs?: string[];
  /**
   * A secured bus: no `bus` block in the shared config; each service gets its role's own files (bus-config's
   * `<role>/bus.hcl`) as a second -config.
   */
  busConfigFor?: (service: ServiceName) => string;
  /**
   * The Postgres server to make the cluster's database on, as a URL to a database there that exists (default
   * TEST_DATABASE_URL, the machine's): an OwnPostgres's `url()` for a test that stops its Postgres.
   */
  adminDatabaseUrl?: string;
}

interface Member {
  name: string;
  service: ServiceName;
  child: ChildProcess;
}

/**
 * Coffer's services as separate OS processes, started once per test file: each `coffer server -service=NAME`
 * against a database of its own (created here, dropped at stop) and a real NATS server.
 */
export class Cluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'coffer-e2e-'));
  readonly configPath = join(this.dir, 'coffer.hcl');
  readonly databaseUrl: string;
  private readonly members = new Map<string, Member>();
  private probeBus?: NatsBus;
  private exitLog: string[] = [];

  private constructor(
    readonly databaseName: string,
    readonly port: number,
    readonly natsUrl: string,
    readonly logLevel: string,
    readonly nodeArgs: string[],
    private readonly busConfigFor?: (service: ServiceName) => string,
    private readonly adminDatabaseUrl: string = TEST_DATABASE_URL,
  ) {
    const u = new URL(adminDatabaseUrl);
    u.pathname = `/${databaseName}`;
    this.databaseUrl = u.toString();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async create(options: ClusterOptions = {}): Promise<Cluster> {
    const databaseName = `coffer_e2e_${process.pid}_${Date.now().toString(36)}`;
    await adminQuery(`CREATE DATABASE ${databaseName}`, [], options.adminDatabaseUrl);
    const cluster = new Cluster(
      databaseName,
      await freePort(),
      options.natsUrl ?? TEST_NATS_URL,
      options.logLevel ?? 'debug',
      options.nodeArgs ?? [],
      options.busConfigFor,
      options.adminDatabaseUrl,
    );
    cluster.writeConfig(options.extraConfig ?? '');
    return cluster;
  }

  /** Each gateway instance listens on a port of its own, so each gets a config file of its own. */
  private readonly gatewayPorts = new Map<string, number>();

  urlOf(gatewayName: string): string {
    return `http://127.0.0.1:${this.gatewayPorts.get(gatewayName) ?? this.port}`;
  }

  private configFor(name: string, service: ServiceName): string {
    if (service !== 'gateway' || name === 'gateway') return this.configPath;
    const port = this.gatewayPorts.get(name)!;
    const path = join(this.dir, `${name}.hcl`);
    writeFileSync(path, readFileSync(this.configPath, 'utf8').replace(`127.0.0.1:${this.port}`, `127.0.0.1:${port}`));
    return path;
  }

  writeConfig(extra: string): void {
    writeFileSync(
      this.configPath,
      `storage "postgresql" {\n  connection_url = "${this.databaseUrl}"\n}\n` +
        // A namespace of its own: a cluster of another test file, or a benchmark, on the same NATS is never heard.
        (this.busConfigFor ? '' : `bus "nats" {\n  url = "${this.natsUrl}"\n  namespace = "${this.databaseName}"\n}\n`) +
        `listener "tcp" {\n  address = "127.0.0.1:${this.port}"\n  tls_disable = true\n  max_request_size = 65536\n}\n` +
        `plugin_directory = "${this.dir}"\nlog_level = "${this.logLevel}"\n${extra}`,
    );
  }

  /**
   * Starts one process running `service`; `name` tells apart two instances of one service; `busConfig` replaces its
   * role's bus file; `env` adds to the environment it inherits.
   */
  async start(service: ServiceName, name: string = service, options: { busConfig?: string; env?: Record<string, string> } = {}): Promise<void> {
    if (service === 'gateway' && name !== 'gateway' && !this.gatewayPorts.has(name)) this.gatewayPorts.set(name, await freePort());
    // The log of a restarted member is appended to: readiness is looked for only in what this start writes.
    const offset = this.logOf(name).length;
    const log = createWriteStream(join(this.dir, `${name}.log`), { flags: 'a' });
    const busConfig = options.busConfig ?? this.busConfigFor?.(service);
    const bus = busConfig ? [`-config=${busConfig}`] : [];
    const child = spawn(process.execPath, [...this.nodeArgs, join(REPO_ROOT, 'bin/coffer.js'), 'server', `-config=${this.configFor(name, service)}`, ...bus, `-service=${service}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    child.on('exit', (code, signal) => this.exitLog.push(`${name} exited code=${code} signal=${signal}`));
    this.members.set(name, { name, service, child });
    await this.waitReady(service, name, offset);
  }

  /** Starts `service` with its health port (COFFER_HEALTH_ADDR) on a free port, and answers that port's URL. */
  async startWithHealthPort(service: ServiceName, name: string = service): Promise<string> {
    const addr = `127.0.0.1:${await freePort()}`;
    await this.start(service, name, { env: { COFFER_HEALTH_ADDR: addr } });
    return `http://${addr}`;
  }

  async startAll(): Promise<void> {
    for (const s of ['catalog', 'mount-manager', 'plugin-runner', 'gateway'] as ServiceName[]) await this.start(s);
  }

  /** Every member, as it was started, in start order. */
  running(): { name: string; service: ServiceName }[] {
    return [...this.members.values()].map(({ name, service }) => ({ name, service }));
  }

  /** `sys/init` then `sys/unseal` with the first `threshold` keys, through the gateway named. */
  async initAndUnseal(shares = 1, threshold = 1, gateway = 'gateway'): Promise<{ keys: string[]; rootToken: string }> {
    const init = await fetch(`${this.urlOf(gateway)}/v1/sys/init`, {
      method: 'PUT',
      body: JSON.stringify({ secret_shares: shares, secret_threshold: threshold }),
    });
    if (init.status !== 200) throw new Error(`init failed: ${init.status} ${await init.text()}`);
    const { keys_base64: keys, root_token: rootToken } = (await init.json()) as { keys_base64: string[]; root_token: string };
    await this.unseal(keys.slice(0, threshold), gateway);
    return { keys, rootToken };
  }

  async unseal(keys: string[], gateway = 'gateway'): Promise<void> {
    for (const key of keys) {
      const r = await fetch(`${this.urlOf(gateway)}/v1/sys/unseal`, { method: 'PUT', body: JSON.stringify({ key }) });
      if (r.status !== 200) throw new Error(`unseal failed: ${r.status} ${await r.text()}`);
    }
  }

  pid(name: string): number | undefined {
    return this.members.get(name)?.child.pid;
  }

  /** SIGKILL: the process gets no chance to clean up, as in a crash. */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const m = this.members.get(name);
    if (!m) return null;
    this.members.delete(name);
    if (m.child.exitCode !== null || m.child.signalCode !== null) return m.child.exitCode;
    const exited = once(m.child, 'exit');
    m.child.kill(signal);
    const [code] = await exited;
    return code as number | null;
  }

  logOf(name: string): string {
    try {
      return readFileSync(join(this.dir, `${name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  /** Asks a service for its status over NATS, as the gateway does. */
  async status(service: ServiceName): Promise<ServiceStatus> {
    return (await this.probe()).request<ServiceStatus>(subjects.status(service), null, { timeoutMs: 2_000 });
  }

  /** A request on `coffer.<subject>` in the cluster's namespace, as a service would send it. */
  async busRequest<T = unknown>(subject: string, data: unknown): Promise<T> {
    return (await this.probe()).request<T>(`coffer.${subject}`, data, { timeoutMs: 10_000 });
  }

  private async probe(): Promise<NatsBus> {
    this.probeBus ??= await NatsBus.connect({
      url: this.natsUrl,
      name: 'coffer-test-probe',
      namespace: this.databaseName,
      log: createLogger('test', 'silent'),
    });
    return this.probeBus;
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.url}${path}`, init);
  }

  async stop(): Promise<void> {
    for (const name of [...this.members.keys()]) await this.kill(name, 'SIGTERM');
    await this.probeBus?.close();
    await adminQuery(`DROP DATABASE IF EXISTS ${this.databaseName} WITH (FORCE)`, [], this.adminDatabaseUrl).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Why a start failed: the exits seen and the member's log tail. */
  describe(name: string): string {
    return `${this.exitLog.join('; ')}\n--- ${name}.log ---\n${this.logOf(name).slice(-4000)}`;
  }

  private async waitReady(service: ServiceName, name: string, offset: number): Promise<void> {
    // Generous: six processes restarted at once beside a Postgres in crash recovery took over 20 s on a busy 2-core
    // machine (test/fault-suite.e2e.test.ts).
    const deadline = Date.now() + 60_000;
    const m = this.members.get(name)!;
    while (Date.now() < deadline) {
      if (m.child.exitCode !== null) throw new Error(`${name} exited during start\n${this.describe(name)}`);
      if (this.logOf(name).slice(offset).includes('"msg":"service started"')) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${name} (${service}) did not start within 60 s\n${this.describe(name)}`);
  }
}

export async function adminQuery(sql: string, params: unknown[] = [], url = TEST_DATABASE_URL): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

/**
 * A port nothing listens on, below Linux's ephemeral range (32768-60999): a port the kernel handed out for `listen(0)`
 * is in that range, and between our close and the service's bind an outbound connection (to NATS, Postgres) may take
 * it (EADDRINUSE, seen in CI). Ports below the range are never given to outbound sockets.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    server.close();
    await once(server, 'close');
    return port;
  }
  throw new Error('no free port found in 20000-31999');
}
