/**
 * The production docker-compose.yml, Dockerfile and deploy/config.d, checked statically: no Docker engine runs on
 * the machines that run the tests, so the files are parsed and their promises asserted (one image for four
 * services, only the gateway published and scalable, NATS and Postgres unreachable from outside, read-only config
 * and plugins, the config loading with Coffer's own loader and pointing at the compose services).
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { SERVICE_NAMES } from '#contracts';
import { loadConfig, type CofferConfig } from '#config';

/** The repository root: the nearest folder above this file with package.json and docker-compose.yml. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'docker-compose.yml'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no folder above ${fileURLToPath(import.meta.url)} holds package.json and docker-compose.yml`);
    dir = up;
  }
}

const ROOT = findRoot();
const CONFIG_DIR_IN_CONTAINER = '/etc/coffer/config.d';
const COFFER_SERVICES: readonly string[] = SERVICE_NAMES;
const INFRA_SERVICES = ['postgres', 'nats'] as const;

type Obj = Record<string, unknown>;
interface Mount {
  source?: string;
  target: string;
  readOnly: boolean;
  type: 'bind' | 'volume' | 'other';
}

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function obj(value: unknown, what: string): Obj {
  assert.ok(isObj(value), `${what} is a mapping`);
  return value;
}

/** Compose's own interpolation, for the forms this file uses: `${VAR:-default}` with nothing set in the environment. */
function interpolateDefaults(text: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_all, _name: string, fallback?: string) => fallback ?? '');
}

/** A `command:` as argv (compose accepts a list or a string). */
function argv(command: unknown): string[] {
  if (Array.isArray(command)) return command.map(String);
  if (typeof command === 'string') return command.trim().split(/\s+/);
  return [];
}

/** Short (`src:dst[:ro]`) or long (`{type, source, target, read_only}`) volume syntax. */
function mounts(service: Obj): Mount[] {
  const raw = service.volumes;
  if (raw === undefined) return [];
  assert.ok(Array.isArray(raw), 'volumes is a list');
  return raw.map((entry): Mount => {
    if (typeof entry === 'string') {
      const parts = entry.split(':');
      if (parts.length === 1) return { target: parts[0], readOnly: false, type: 'volume' };
      const [source, target, mode = ''] = parts;
      const bind = source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
      return { source, target, readOnly: mode.split(',').includes('ro'), type: bind ? 'bind' : 'volume' };
    }
    const long = obj(entry, 'a volume entry');
    const type = long.type === 'bind' || long.type === 'volume' ? long.type : 'other';
    return { source: long.source as string | undefined, target: String(long.target), readOnly: long.read_only === true, type };
  });
}

/** The networks a service joins (list or mapping syntax); compose's `default` when it names none. */
function networksOf(service: Obj): string[] {
  const raw = service.networks;
  if (raw === undefined) return ['default'];
  if (Array.isArray(raw)) return raw.map(String);
  return Object.keys(obj(raw, 'networks'));
}

/** Published host port(s) of a `ports:` entry and its container port. */
function portEntry(entry: unknown): { published?: string; target: string } {
  if (typeof entry === 'string' || typeof entry === 'number') {
    const text = interpolateDefaults(String(entry)).replace(/\/(tcp|udp)$/, '');
    const cut = text.lastIndexOf(':');
    if (cut < 0) return { target: text };
    const target = text.slice(cut + 1);
    const hostPart = text.slice(0, cut);
    const published = hostPart.slice(hostPart.lastIndexOf(':') + 1);
    return { published, target };
  }
  const long = obj(entry, 'a ports entry');
  return { published: long.published === undefined ? undefined : String(long.published), target: String(long.target) };
}

/** The stages of a Dockerfile: instructions with line continuations joined and comments dropped. */
function dockerfileStages(text: string): { from: string; instructions: { op: string; args: string }[] }[] {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  const stages: { from: string; instructions: { op: string; args: string }[] }[] = [];
  for (const line of lines) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const match = /^(\S+)\s+(.*)$/.exec(trimmed);
    if (!match) continue;
    const op = match[1].toUpperCase();
    const args = match[2].trim();
    if (op === 'FROM') stages.push({ from: args, instructions: [] });
    else if (stages.length === 0) assert.fail(`Dockerfile: ${op} before the first FROM`);
    else stages[stages.length - 1].instructions.push({ op, args });
  }
  return stages;
}

describe('docker-compose.yml', () => {
  let compose: Obj;
  let services: Obj;
  let networks: Obj;
  let volumes: Obj;
  let config: CofferConfig;
  const service = (name: string): Obj => obj(services[name], `service ${name}`);

  before(async () => {
    // `merge: true`: docker compose resolves YAML merge keys (`<<: *anchor`), so the test must see what compose sees.
    compose = obj(parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }), 'docker-compose.yml');
    services = obj(compose.services, 'services');
    networks = obj(compose.networks ?? {}, 'networks');
    volumes = obj(compose.volumes ?? {}, 'volumes');
    config = await loadConfig(join(ROOT, 'deploy', 'config.d'), { env: {} });
  });

  it('has postgres, nats and the four Coffer services', () => {
    for (const name of [...INFRA_SERVICES, ...COFFER_SERVICES]) assert.ok(isObj(services[name]), `service ${name} exists`);
    assert.deepEqual([...COFFER_SERVICES].sort(), ['catalog', 'gateway', 'mount-manager', 'plugin-runner']);
  });

  it('runs the four Coffer services from one image, each with -service=<its name>', () => {
    const images = new Set<string>();
    for (const name of COFFER_SERVICES) {
      const s = service(name);
      const build = isObj(s.build) ? s.build.context : s.build;
      assert.equal(build, '.', `${name} is built from the repository root`);
      assert.equal(typeof s.image, 'string', `${name} names its image, so the four share one build`);
      images.add(s.image as string);
      assert.deepEqual(argv(s.command), ['server', `-config=${CONFIG_DIR_IN_CONTAINER}`, `-service=${name}`], `${name}'s command`);
      assert.equal(s.entrypoint, undefined, `${name} keeps the image's entrypoint (node /app/bin/coffer.js)`);
      assert.equal(s.restart, 'unless-stopped', `${name} restarts`);
      assert.match(String(s.stop_grace_period ?? ''), /^\d+(ms|s|m|h)/, `${name} has a stop_grace_period`);
    }
    assert.deepEqual([...images], ['coffer:local'], 'one image name for all four');
  });

  it('publishes ports on the gateway only, in a way that survives --scale', () => {
    for (const [name, raw] of Object.entries(services)) {
      const s = obj(raw, `service ${name}`);
      assert.equal(s.container_name, undefined, `${name} has no container_name (it would forbid --scale)`);
      assert.notEqual(s.network_mode, 'host', `${name} is not on the host network`);
      if (name !== 'gateway') assert.equal(s.ports, undefined, `${name} publishes no port`);
    }
    const ports = service('gateway').ports;
    assert.ok(Array.isArray(ports) && ports.length > 0, 'the gateway publishes its port');
    for (const entry of ports) {
      const { published, target } = portEntry(entry);
      assert.equal(target, '8200', 'the gateway listens on 8200 inside its container');
      if (published === undefined || published === '') continue; // an ephemeral host port scales too
      const range = /^(\d+)-(\d+)$/.exec(published);
      assert.ok(range, `host port "${published}" is a range, so a second gateway gets a port of its own`);
      assert.ok(Number(range[2]) > Number(range[1]), `host port range "${published}" holds more than one port`);
    }
  });

  it('keeps postgres and nats on an internal network only, and the gateway on internal and public', () => {
    const isInternal = (net: string) => isObj(networks[net]) && (networks[net] as Obj).internal === true;
    for (const [name, raw] of Object.entries(services)) {
      for (const net of networksOf(obj(raw, name))) {
        assert.ok(net in networks, `network ${net} of ${name} is declared at the top level`);
      }
    }
    assert.ok(isInternal('internal'), 'the `internal` network has internal: true');
    for (const name of INFRA_SERVICES) {
      const nets = networksOf(service(name));
      assert.ok(nets.length > 0 && nets.every(isInternal), `${name} is only on internal networks (it is on ${nets.join(', ')})`);
    }
    const gatewayNets = networksOf(service('gateway'));
    assert.ok(gatewayNets.includes('internal'), 'the gateway reaches NATS and Postgres on the internal network');
    assert.ok(gatewayNets.some((n) => !isInternal(n)), 'the gateway is also on a public network, for its port');
    for (const name of COFFER_SERVICES.filter((n) => n !== 'gateway')) {
      const nets = networksOf(service(name));
      assert.ok(nets.includes('internal') && nets.every(isInternal), `${name} is only on internal networks`);
    }
  });

  it('keeps the Postgres data and the JetStream store on named volumes declared at the top level', () => {
    const pgData = mounts(service('postgres')).find((m) => m.target === '/var/lib/postgresql/data');
    assert.ok(pgData, 'postgres mounts /var/lib/postgresql/data');
    assert.equal(pgData.type, 'volume', 'postgres data is on a named volume');
    assert.ok(pgData.source && pgData.source in volumes, `volume ${pgData.source} is declared at the top level`);

    const nats = service('nats');
    assert.match(String(nats.image), /^nats:2(\b|$)/, 'nats runs the nats:2 image');
    const args = argv(nats.command);
    assert.ok(args.includes('-js') || args.includes('--jetstream'), 'nats runs with JetStream');
    const sdAt = args.findIndex((a) => a === '-sd' || a === '--store_dir');
    assert.ok(sdAt >= 0 && args[sdAt + 1], 'nats names its JetStream store directory');
    const storeDir = args[sdAt + 1];
    const store = mounts(nats).find((m) => storeDir === m.target || storeDir.startsWith(`${m.target}/`));
    assert.ok(store, `the JetStream store ${storeDir} is on a mounted volume`);
    assert.equal(store.type, 'volume', 'the JetStream store is on a named volume');
    assert.ok(store.source && store.source in volumes, `volume ${store.source} is declared at the top level`);

    assert.match(String(service('postgres').image), /^postgres:16(\b|$)/, 'postgres runs postgres:16');
    const env = obj(service('postgres').environment, 'postgres environment');
    assert.ok(String(env.POSTGRES_PASSWORD ?? '').includes('${'), 'the Postgres password comes from the environment (.env)');
  });

  it('starts Coffer after a healthy Postgres and a started NATS', () => {
    const health = obj(service('postgres').healthcheck, 'postgres healthcheck');
    assert.ok(argv(health.test).join(' ').includes('pg_isready'), 'postgres has a pg_isready healthcheck');
    for (const name of COFFER_SERVICES) {
      const deps = obj(service(name).depends_on, `${name} depends_on`);
      assert.equal(obj(deps.postgres, `${name} -> postgres`).condition, 'service_healthy', `${name} waits for a healthy postgres`);
      assert.match(String(obj(deps.nats, `${name} -> nats`).condition), /^service_(started|healthy)$/, `${name} waits for nats`);
    }
  });

  it('mounts the config read-only into every Coffer service, and the plugins read-only into the runner', () => {
    assert.ok(statSync(join(ROOT, 'deploy', 'config.d')).isDirectory(), 'deploy/config.d exists');
    for (const name of COFFER_SERVICES) {
      const m = mounts(service(name)).find((v) => v.target === CONFIG_DIR_IN_CONTAINER);
      assert.ok(m, `${name} mounts ${CONFIG_DIR_IN_CONTAINER}`);
      assert.equal(m.type, 'bind', `${name}'s config is a bind mount`);
      assert.equal(m.source?.replace(/\/$/, ''), './deploy/config.d', `${name}'s config comes from ./deploy/config.d`);
      assert.equal(m.readOnly, true, `${name}'s config is read-only`);
    }
    assert.ok(config.pluginDirectory, 'the config names a plugin_directory');
    const plugins = mounts(service('plugin-runner')).find((v) => v.target === config.pluginDirectory);
    assert.ok(plugins, `plugin-runner mounts the plugin directory at ${config.pluginDirectory}`);
    assert.equal(plugins.readOnly, true, 'the plugin directory is read-only');
  });

  it('points deploy/config.d at the compose services, and the gateway listens where the port goes', () => {
    assert.ok(existsSync(join(ROOT, 'deploy', 'config.d', 'coffer.hcl')), 'deploy/config.d/coffer.hcl exists');
    const hcl = readFileSync(join(ROOT, 'deploy', 'config.d', 'coffer.hcl'), 'utf8');
    assert.match(hcl, /^\s*storage\s+"postgresql"\s*\{/m, 'coffer.hcl has a storage "postgresql" block');
    assert.match(hcl, /^\s*bus\s+"nats"\s*\{/m, 'coffer.hcl has a bus "nats" block');

    assert.ok(config.storage, 'the config loads with a storage block');
    assert.ok(config.bus, 'the config loads with a bus block');
    const db = new URL(config.storage.connectionUrl);
    assert.ok(db.hostname in services, `the database host "${db.hostname}" is a compose service`);
    assert.equal(db.port || '5432', '5432');
    const pgEnv = obj(service(db.hostname).environment, 'postgres environment');
    assert.equal(decodeURIComponent(db.username), pgEnv.POSTGRES_USER, 'the config logs in as the role compose creates');
    assert.equal(db.pathname.slice(1), pgEnv.POSTGRES_DB, 'the config uses the database compose creates');
    assert.equal(
      decodeURIComponent(db.password),
      interpolateDefaults(String(pgEnv.POSTGRES_PASSWORD)),
      "the config's default password is compose's default password",
    );

    assert.equal(config.bus.servers.length, 1);
    const bus = new URL(config.bus.servers[0]);
    assert.equal(bus.hostname, 'nats', 'the bus is the compose service nats');
    assert.ok(['', '4222'].includes(bus.port));

    const listener = config.listeners.find((l) => l.address.endsWith(':8200'));
    assert.ok(listener, 'a listener on port 8200, the port compose publishes');
    assert.ok(listener.address.startsWith('0.0.0.0:') || listener.address.startsWith('[::]:'), 'it listens on every interface of the container');
    // Issue 10: it listens on every interface, so it speaks TLS, with files the gateway container has.
    assert.equal(listener.tlsDisable, false, 'the published listener is TLS');
    const tlsDirs = mounts(service('gateway')).filter((m) => m.readOnly && m.target && [listener.tlsCertFile, listener.tlsKeyFile].every((f) => f?.startsWith(`${m.target}/`)));
    assert.equal(tlsDirs.length, 1, 'the gateway mounts the certificate and key read-only');

    // Every Coffer service overrides connection_url from the environment with the same target as the file.
    for (const name of COFFER_SERVICES) {
      const env = service(name).environment;
      if (env === undefined) continue;
      const url = isObj(env) ? env.COFFER_PG_CONNECTION_URL : undefined;
      if (url === undefined) continue;
      const overridden = new URL(interpolateDefaults(String(url)));
      assert.equal(overridden.host, db.host, `${name}'s COFFER_PG_CONNECTION_URL points at the same server`);
      assert.equal(overridden.pathname, db.pathname, `${name}'s COFFER_PG_CONNECTION_URL names the same database`);
      assert.equal(overridden.username, db.username, `${name}'s COFFER_PG_CONNECTION_URL logs in as the same role`);
    }
  });
});

describe('Dockerfile', () => {
  const text = () => readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

  it('builds with npm ci and npm run build, from node:20-bookworm-slim', () => {
    const stages = dockerfileStages(text());
    assert.ok(stages.length >= 2, 'multi-stage');
    for (const stage of stages) assert.match(stage.from, /^node:20-bookworm-slim\b/, `FROM ${stage.from}`);
    const runs = stages.flatMap((s) => s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args));
    assert.ok(runs.some((r) => /\bnpm ci\b/.test(r)), 'runs npm ci');
    assert.ok(runs.some((r) => /\bnpm run build\b/.test(r)), 'runs npm run build');
    assert.ok(runs.some((r) => /\bnpm prune\b.*--omit=dev|\bnpm prune\b.*--production/.test(r)), 'prunes dev dependencies');
  });

  it('runs bin/coffer.js as a non-root user and exposes 8200', () => {
    const stages = dockerfileStages(text());
    const final = stages[stages.length - 1].instructions;
    const entrypoint = final.filter((i) => i.op === 'ENTRYPOINT').at(-1);
    assert.ok(entrypoint, 'the final stage has an ENTRYPOINT');
    assert.deepEqual(JSON.parse(entrypoint.args), ['node', '/app/bin/coffer.js'], 'ENTRYPOINT runs bin/coffer.js (exec form)');
    const user = final.filter((i) => i.op === 'USER').at(-1);
    assert.ok(user, 'the final stage sets a USER');
    assert.ok(!/^(root|0)(:|$)/.test(user.args), `USER ${user.args} is not root`);
    assert.ok(final.some((i) => i.op === 'EXPOSE' && i.args.split(/\s+/).includes('8200')), 'EXPOSE 8200');
    const copied = final.filter((i) => i.op === 'COPY').map((i) => i.args).join('\n');
    for (const what of ['dist', 'bin', 'node_modules', 'package.json']) {
      assert.match(copied, new RegExp(`/app/${what.replace('.', '\\.')}\\b`), `the final stage copies ${what}`);
    }
  });

  it('.dockerignore keeps node_modules, dist, .git and .coffer out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim().replace(/^\/|\/$/g, ''))
      .filter((l) => l && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', '.git', '.coffer']) assert.ok(ignored.includes(entry), `.dockerignore has ${entry}`);
  });
});
