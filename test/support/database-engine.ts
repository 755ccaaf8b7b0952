import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { adminQuery, Cluster, TEST_DATABASE_URL } from './cluster.js';
import type { Envelope } from './http.js';

export interface Answer {
  status: number;
  body: Envelope;
}

/**
 * The database secrets engine's tests on the services as processes, against the machine's Postgres: a database of
 * the test's own (in which the engine creates real roles, dropped at stop with every role it issued), and a cluster of
 * two gateways (the lease owners) and two runners with the builtin `database` mounted at `database/`. Postgres trusts
 * local connections, so "the credentials work" is: connecting as the role succeeds; "revoked" is: the role is gone.
 * The runners use plugin_sandbox = "uid", the documented level for runners that host a dynamic-secrets engine
 * (bubblewrap gives plugins no network).
 */
export class DatabaseEngineCluster {
  /** Gateway A's and gateway B's base URLs. */
  A = '';
  B = '';
  root: Record<string, string> = {};
  keys: string[] = [];
  cluster!: Cluster;
  /** Connected to the test's database as the admin, for its tables and pg_roles. */
  db!: pg.Client;
  readonly dbName: string;
  /** Every username a `database/creds/...` read handed out: the roles stop drops (roles are cluster-wide). */
  private readonly issued = new Set<string>();

  private constructor(prefix: string) {
    this.dbName = `${prefix}_${randomBytes(4).toString('hex')}`;
  }

  /** Creates the database, starts catalog, mount-manager, two runners and two gateways, inits, unseals, mounts. */
  static async start(prefix: string, options: { extraConfig?: string } = {}): Promise<DatabaseEngineCluster> {
    const t = new DatabaseEngineCluster(prefix);
    await adminQuery(`CREATE DATABASE ${t.dbName}`);
    t.db = new pg.Client({ connectionString: t.dbUrl() });
    await t.db.connect();
    t.cluster = await Cluster.create({ extraConfig: `plugin_sandbox = "uid"\n${options.extraConfig ?? ''}` });
    await t.startServices();
    t.A = t.cluster.urlOf('gateway');
    t.B = t.cluster.urlOf('gateway-b');
    const { keys, rootToken } = await t.cluster.initAndUnseal();
    t.keys = keys;
    t.root = { 'x-vault-token': rootToken };
    await t.ok('POST', 'sys/mounts/database', { type: 'database' });
    return t;
  }

  /** Every service as in start: one catalog, one mount-manager, two runners, two gateways. */
  async startServices(): Promise<void> {
    await this.cluster.startAll();
    await this.cluster.start('plugin-runner', 'plugin-runner-2');
    await this.cluster.start('gateway', 'gateway-b');
  }

  /** The test database's URL as `user` (no password: trust). */
  dbUrl(user = 'postgres'): string {
    const u = new URL(TEST_DATABASE_URL);
    u.username = user;
    u.password = '';
    u.pathname = `/${this.dbName}`;
    return u.toString();
  }

  /** The URL for `database/config`, with Vault's `{{username}}:{{password}}` template. */
  templatedUrl(): string {
    return this.dbUrl().replace('postgres@', '{{username}}:{{password}}@');
  }

  async call(method: string, path: string, body?: unknown, base = this.A, headers = this.root): Promise<Answer> {
    const r = await fetch(`${base}/v1/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    const answer = { status: r.status, body: (text ? JSON.parse(text) : undefined) as Envelope };
    if (path.startsWith('database/creds/') && typeof answer.body?.data?.username === 'string') this.issued.add(answer.body.data.username);
    return answer;
  }

  /** `call`, asserting a 200 or 204. */
  async ok(method: string, path: string, body?: unknown, base = this.A, headers = this.root): Promise<Envelope> {
    const r = await this.call(method, path, body, base, headers);
    assert.ok(r.status === 200 || r.status === 204, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async roleExists(name: string): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1;
  }

  /** Connects to the test database as `user`; returns who Postgres says we are. Rejects when the role is gone. */
  async loginAs(user: string): Promise<string> {
    const client = new pg.Client({ connectionString: this.dbUrl(user) });
    await client.connect();
    try {
      return (await client.query('SELECT current_user AS u')).rows[0].u as string;
    } finally {
      await client.end();
    }
  }

  /** Stops every process, drops the cluster's and the test's databases and the roles issued (and `alsoRoles`). */
  async stop(alsoRoles: string[] = []): Promise<void> {
    await this.cluster?.stop();
    await this.db?.end().catch(() => {});
    await adminQuery(`DROP DATABASE IF EXISTS ${this.dbName} WITH (FORCE)`).catch(() => {});
    for (const role of [...this.issued, ...alsoRoles]) await adminQuery(`DROP ROLE IF EXISTS "${role}"`).catch(() => {});
  }
}
