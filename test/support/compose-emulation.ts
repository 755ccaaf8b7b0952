import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, cpSync, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { freePort } from './cluster.js';
import { natsServerBinary } from './nats-server.js';
import { OwnPostgres } from './own-postgres.js';
import { REPO_ROOT } from './paths.js';

/**
 * docker-compose.yml run without a Docker engine: every service's command and environment as an OS process on this
 * machine. What a container would give is emulated, and nothing else:
 *
 * - **hosts**: a service name in a URL or address (`postgres:5432`, `tls://nats:4222`) becomes `127.0.0.1:<port>`,
 *   one free port per service and container port;
 * - **ports**: what a container listens on (its `ports:` targets, the `COFFER_HEALTH_ADDR` port, nats's listen) gets a
 *   free port per instance, rewritten in its files, environment and healthcheck;
 * - **mounts**: a bind mount is a per-instance copy of its source with the container paths in its text files
 *   rewritten to where the copies are; a named volume is a folder; the image's own paths (Dockerfile: WORKDIR /app,
 *   the plugins in /var/lib/coffer/plugins) are the repository and a copy of dist/plugins;
 * - **images**: `coffer:local` is `node /app/bin/coffer.js` (the Dockerfile's ENTRYPOINT, ENV NODE_ENV), `nats:*` is
 *   this machine's nats-server, `postgres:*` a cluster of the test's own set up as the image's entrypoint does
 *   (POSTGRES_USER a superuser with POSTGRES_PASSWORD, scram-sha-256, POSTGRES_DB);
 * - **scale**: a service compose can scale (no container_name, no fixed host port, no writable named volume that two
 *   replicas would share) starts `replicas` times;
 * - **interpolation**: `${VAR}`, `${VAR:-default}`, `${VAR:?message}` from the project's `.env`, as compose reads it.
 *
 * Not emulated: networks (everything is on loopback), users (every process runs as this test's user), `restart:`,
 * `init:`, `stop_grace_period`.
 */

type Obj = Record<string, unknown>;

export interface Instance {
  /** `gateway-1`, `gateway-2`, `nats-1`... as compose names replicas. */
  name: string;
  service: string;
  /** Container port → host port, for what this instance listens on. */
  ports: Map<number, number>;
  /** Container path → host path. */
  mounts: { target: string; source: string }[];
  env: Record<string, string>;
  dir: string;
  child?: ChildProcess;
  postgres?: OwnPostgres;
  logFile: string;
}

/** Compose's interpolation: `$$` is a literal `$`; a required variable that is unset stops everything, as compose does. */
export function interpolate(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, name?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
    if (all === '$$') return '$';
    const key = (name ?? bare)!;
    const value = vars[key];
    const unset = value === undefined || (colon === ':' && value === '');
    if (op === '-') return unset ? arg! : value!;
    if (op === '?') {
      if (unset) throw new Error(`required variable ${key} is missing a value: ${arg}`);
      return value!;
    }
    return value ?? '';
  });
}

function interpolateDeep(value: unknown, vars: Record<string, string>): unknown {
  if (typeof value === 'string') return interpolate(value, vars);
  if (Array.isArray(value)) return value.map((v) => interpolateDeep(v, vars));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, vars)]));
  return value;
}

/** `.env` as compose reads it: KEY=VALUE lines, `#` comments, optional quotes. */
export function readDotEnv(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(path)) return out;
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || line.trim().startsWith('#')) continue;
    out[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/** A `command:` or healthcheck `test:` as argv. */
function argv(command: unknown): string[] {
  if (Array.isArray(command)) return command.map(String);
  if (typeof command === 'string') return command.trim().split(/\s+/);
  return [];
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class ComposeEmulation {
  readonly services: Record<string, Obj>;
  readonly instances: Instance[] = [];
  /** `service:containerPort` as others reach it → host port (every replica of a scaled service shares the first's). */
  private readonly reachable = new Map<string, number>();
  private readonly volumes: string;

  private constructor(
    readonly projectDir: string,
    readonly workDir: string,
    compose: Obj,
    private readonly replicas: number,
  ) {
    this.services = compose.services as Record<string, Obj>;
    this.volumes = join(workDir, 'volumes');
  }

  /**
   * Reads `composeFile` (the project folder is its folder, holding `.env` and `deploy/`) with compose's merge keys and
   * `.env` interpolation.
   */
  static load(composeFile: string, workDir: string, replicas = 2): ComposeEmulation {
    const projectDir = resolve(composeFile, '..');
    const vars = { ...readDotEnv(join(projectDir, '.env')) };
    const raw = parseYaml(readFileSync(composeFile, 'utf8'), { merge: true }) as Obj;
    return new ComposeEmulation(projectDir, workDir, interpolateDeep(raw, vars) as Obj, replicas);
  }

  /** Whether `docker compose up --scale NAME=2` can run two of it. */
  scalable(name: string): boolean {
    const s = this.services[name]!;
    if (s.container_name !== undefined) return false;
    for (const p of (s.ports as unknown[] | undefined) ?? []) {
      const text = String(p);
      const host = text.split(':').slice(0, -1).pop();
      if (host !== undefined && /^\d+$/.test(host)) return false; // one fixed host port: the second replica cannot bind it
    }
    for (const v of (s.volumes as unknown[] | undefined) ?? []) {
      const [source, , mode = ''] = String(v).split(':');
      const named = source !== undefined && !/^[./~]/.test(source);
      if (named && !mode.split(',').includes('ro')) return false; // two replicas writing one data folder
    }
    return true;
  }

  /** Compose's start order: every `depends_on` first. */
  startOrder(): string[] {
    const order: string[] = [];
    const visit = (name: string) => {
      if (order.includes(name)) return;
      for (const dep of Object.keys(this.dependsOn(name))) visit(dep);
      order.push(name);
    };
    for (const name of Object.keys(this.services)) visit(name);
    return order;
  }

  dependsOn(name: string): Record<string, string> {
    const d = this.services[name]!.depends_on;
    if (Array.isArray(d)) return Object.fromEntries(d.map((n) => [String(n), 'service_started']));
    return Object.fromEntries(Object.entries((d as Record<string, { condition?: string }>) ?? {}).map(([k, v]) => [k, v?.condition ?? 'service_started']));
  }

  /** `service:port` names the compose file and the project's files use, each given a host port. */
  private async planReachable(): Promise<void> {
    const texts = [readFileSync(join(this.projectDir, 'docker-compose.yml'), 'utf8'), ...textFiles(join(this.projectDir, 'deploy')).map((f) => readFileSync(f, 'utf8'))];
    for (const name of Object.keys(this.services)) {
      // An address (`@postgres:5432`, `//nats:4222`, `"nats:4222"`), not an image tag (`image: postgres:16`).
      const re = new RegExp(`(?<!image:\\s*)(?<=^|[@/"'\\s=])${escapeRe(name)}:(\\d{2,5})\\b`, 'gm');
      for (const text of texts) for (const m of text.matchAll(re)) {
        const key = `${name}:${m[1]}`;
        if (!this.reachable.has(key)) this.reachable.set(key, await freePort());
      }
    }
  }

  /** A container's view of `text` made this machine's: other services' addresses, its own ports, its mount paths. */
  rewrite(text: string, instance: Instance): string {
    let out = text;
    for (const [key, port] of this.reachable) {
      out = out.replace(new RegExp(`(?<![\\w.-])${escapeRe(key)}\\b`, 'g'), `127.0.0.1:${port}`);
    }
    for (const [inside, outside] of instance.ports) {
      out = out.replace(new RegExp(`\\b(0\\.0\\.0\\.0|127\\.0\\.0\\.1|localhost):${inside}\\b`, 'g'), `127.0.0.1:${outside}`);
      out = out.replace(new RegExp(`\\bport: ${inside}\\b`, 'g'), `port: ${outside}`);
    }
    for (const { target, source } of [...instance.mounts].sort((a, b) => b.target.length - a.target.length)) {
      out = out.replace(new RegExp(`${escapeRe(target)}(?=[/"'\\s,;]|$)`, 'gm'), source);
    }
    return out;
  }

  /** Starts every service in compose's order, `replicas` of each scalable one, waiting on `depends_on` conditions. */
  async up(): Promise<void> {
    await this.planReachable();
    mkdirSync(this.volumes, { recursive: true });
    for (const name of this.startOrder()) {
      for (const [dep, condition] of Object.entries(this.dependsOn(name))) {
        if (condition === 'service_healthy') await this.waitHealthy(dep);
      }
      const count = this.scalable(name) ? this.replicas : 1;
      // Replicas of one service start together, as compose starts them.
      const made = await Promise.all(Array.from({ length: count }, (_, i) => this.prepare(name, i + 1)));
      for (const instance of made) await this.launch(instance);
    }
  }

  private async prepare(service: string, index: number): Promise<Instance> {
    const s = this.services[service]!;
    const name = `${service}-${index}`;
    const dir = join(this.workDir, name);
    mkdirSync(dir, { recursive: true });
    const env: Record<string, string> = Object.fromEntries(Object.entries((s.environment as Obj | undefined) ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]));
    const ports = new Map<number, number>();
    // Only the first replica answers on the address others use; the second gets a port of its own.
    for (const [key, port] of this.reachable) {
      const [host, p] = key.split(':');
      if (host === service) ports.set(Number(p), index === 1 ? port : await freePort());
    }
    for (const p of (s.ports as unknown[] | undefined) ?? []) {
      const target = Number(String(p).split(':').pop()!.replace(/\/(tcp|udp)$/, ''));
      if (!ports.has(target)) ports.set(target, await freePort());
    }
    const health = /:(\d+)$/.exec(env.COFFER_HEALTH_ADDR ?? '');
    if (health && !ports.has(Number(health[1]))) ports.set(Number(health[1]), await freePort());
    const instance: Instance = { name, service, ports, mounts: [], env, dir, logFile: join(dir, 'output.log') };

    const image = String(s.image ?? '');
    if (image === 'coffer:local') {
      // The image's own paths (Dockerfile): the code under /app, the built plugins in /var/lib/coffer/plugins.
      const plugins = join(this.workDir, 'image-plugins');
      if (!existsSync(plugins)) {
        cpSync(join(REPO_ROOT, 'dist/plugins'), plugins, { recursive: true });
        chmodSync(plugins, 0o755);
        for (const f of readdirSync(plugins)) chmodSync(join(plugins, f), statSync(join(plugins, f)).isDirectory() ? 0o755 : 0o755);
      }
      instance.mounts.push({ target: '/app', source: REPO_ROOT }, { target: '/var/lib/coffer/plugins', source: plugins });
    }
    // Volumes: a bind mount is a copy of its source, made after every mount is known (its text names other mounts).
    const binds: { from: string; to: string }[] = [];
    for (const v of (s.volumes as unknown[] | undefined) ?? []) {
      const [source = '', target = ''] = String(v).split(':');
      if (/^[./~]/.test(source)) {
        const to = join(dir, 'mnt', target);
        binds.push({ from: isAbsolute(source) ? source : join(this.projectDir, source), to });
        instance.mounts.push({ target, source: to });
      } else {
        const to = join(this.volumes, source);
        mkdirSync(to, { recursive: true });
        instance.mounts.push({ target, source: to });
      }
    }
    for (const { from, to } of binds) this.copyRewritten(from, to, instance);
    for (const [k, v] of Object.entries(env)) env[k] = this.rewrite(v, instance);
    return instance;
  }

  /** A bind mount's source copied, modes kept (credentials stay 0600), container paths and addresses rewritten. */
  private copyRewritten(from: string, to: string, instance: Instance): void {
    const st = statSync(from);
    if (st.isDirectory()) {
      mkdirSync(to, { recursive: true, mode: st.mode & 0o777 });
      chmodSync(to, st.mode & 0o777);
      for (const entry of readdirSync(from)) this.copyRewritten(join(from, entry), join(to, entry), instance);
      return;
    }
    const bytes = readFileSync(from);
    const text = bytes.toString('utf8');
    const isText = !bytes.includes(0) && Buffer.from(text, 'utf8').equals(bytes);
    writeFileSync(to, isText ? this.rewrite(text, instance) : bytes, { mode: st.mode & 0o777 });
    chmodSync(to, st.mode & 0o777);
  }

  private async launch(instance: Instance): Promise<void> {
    const s = this.services[instance.service]!;
    const image = String(s.image ?? '');
    this.instances.push(instance);
    const log = createWriteStream(instance.logFile, { flags: 'a' });
    const command = argv(s.command).map((a) => this.rewrite(a, instance));
    const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: instance.dir };
    if (image === 'coffer:local') {
      // ENTRYPOINT ["node", "/app/bin/coffer.js"], ENV NODE_ENV=production, then the service's own environment.
      const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), ...command], {
        cwd: REPO_ROOT,
        env: { ...base, NODE_ENV: 'production', ...instance.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.pipe(log);
      child.stderr!.pipe(log);
      instance.child = child;
    } else if (image.startsWith('nats:')) {
      const child = spawn(natsServerBinary(), command, { cwd: instance.dir, env: { ...base, ...instance.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.pipe(log);
      child.stderr!.pipe(log);
      instance.child = child;
    } else if (image.startsWith('postgres:')) {
      const password = instance.env.POSTGRES_PASSWORD;
      if (!password) throw new Error('the postgres image refuses to start without POSTGRES_PASSWORD');
      const user = instance.env.POSTGRES_USER || 'postgres';
      const db = instance.env.POSTGRES_DB || user;
      const port = instance.ports.get(5432);
      const pg = await OwnPostgres.start({ auth: 'scram-sha-256', superPassword: password, port });
      instance.postgres = pg;
      // As docker-entrypoint.sh: POSTGRES_USER is a superuser with POSTGRES_PASSWORD, POSTGRES_DB is created.
      const { default: pgLib } = await import('pg');
      const admin = new pgLib.Client({ connectionString: pg.url('postgres') });
      await admin.connect();
      try {
        if (user !== 'postgres') await admin.query(`CREATE ROLE "${user}" LOGIN SUPERUSER PASSWORD '${password.replace(/'/g, "''")}'`);
        if (db !== 'postgres') await admin.query(`CREATE DATABASE "${db}" OWNER "${user}"`);
      } finally {
        await admin.end();
      }
    } else {
      throw new Error(`no emulation of image ${image} (service ${instance.service})`);
    }
  }

  /** Runs the service's healthcheck `test` as the container would; true when it exits 0. */
  async healthcheck(instance: Instance): Promise<boolean> {
    const check = (this.services[instance.service]!.healthcheck as Obj | undefined)?.test;
    const args = argv(check).map((a) => this.rewrite(a, instance));
    if (args.length === 0) throw new Error(`${instance.service} has no healthcheck`);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...instance.env };
    // A postgres container's tools find the server on its default port: here that is the instance's own.
    if (instance.ports.has(5432)) env.PGPORT = String(instance.ports.get(5432));
    let cmd: string;
    let rest: string[];
    if (args[0] === 'CMD-SHELL') [cmd, rest] = ['sh', ['-c', args.slice(1).join(' ')]];
    else if (args[0] === 'CMD') [cmd, rest] = [args[1] === 'node' ? process.execPath : args[1]!, args.slice(2)];
    else throw new Error(`healthcheck test ${args[0]} is not run (NONE or unknown)`);
    const child = spawn(cmd, rest, { env, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    return code === 0;
  }

  hasHealthcheck(service: string): boolean {
    return argv((this.services[service]!.healthcheck as Obj | undefined)?.test).length > 0;
  }

  of(service: string): Instance[] {
    return this.instances.filter((i) => i.service === service);
  }

  /** The host port an instance's container port is at. */
  port(instance: Instance, containerPort: number): number {
    const p = instance.ports.get(containerPort);
    if (p === undefined) throw new Error(`${instance.name} has no port ${containerPort}`);
    return p;
  }

  private async waitHealthy(service: string): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (const instance of this.of(service)) {
      while (!(await this.healthcheck(instance))) {
        this.assertRunning(instance);
        if (Date.now() > deadline) throw new Error(`${instance.name} never turned healthy\n${this.logOf(instance).slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  assertRunning(instance: Instance): void {
    if (instance.child && instance.child.exitCode !== null) {
      throw new Error(`${instance.name} exited with ${instance.child.exitCode}\n${this.logOf(instance).slice(-3000)}`);
    }
  }

  logOf(instance: Instance): string {
    try {
      return readFileSync(instance.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** `docker compose down`: SIGTERM, in reverse start order. */
  async down(): Promise<void> {
    for (const instance of [...this.instances].reverse()) {
      if (instance.child && instance.child.exitCode === null && instance.child.signalCode === null) {
        const exited = once(instance.child, 'exit');
        instance.child.kill('SIGTERM');
        const timer = setTimeout(() => instance.child!.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      }
      await instance.postgres?.destroy();
    }
  }
}

function textFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...textFiles(path));
    else if (entry.isFile() && statSync(path).size < 1_000_000) out.push(path);
  }
  return out;
}

