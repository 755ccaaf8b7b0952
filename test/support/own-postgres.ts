import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cluster.js';

/** The newest PostgreSQL server binaries Debian installed (`/usr/lib/postgresql/<major>/bin`). */
function serverBinaries(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => /^\d+$/.test(d)) : [];
  majors.sort((a, b) => Number(b) - Number(a));
  for (const major of majors) {
    const bin = join(root, major, 'bin');
    if (existsSync(join(bin, 'initdb'))) return bin;
  }
  throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql (scripts/ensure-services.sh installs them)');
}

/** initdb and postgres refuse to run as root: as root, the cluster runs as the `postgres` user Debian creates. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export type OwnPostgresAuth = 'trust' | 'scram-sha-256';

/**
 * A PostgreSQL cluster of the test's own, in a temporary folder on a free port: a test can stop it under running
 * services (the machine's is shared by every test), or require passwords (`scram-sha-256`; the machine's trusts
 * loopback and so ignores them). The superuser is `postgres`, with `superPassword` when auth is scram.
 */
export class OwnPostgres {
  private child?: ChildProcess;

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    readonly auth: OwnPostgresAuth,
    readonly superPassword: string,
    private readonly bin: string,
    private readonly user: { uid: number; gid: number } | undefined,
  ) {}

  /** A connection URL as the superuser, to `database` (default `postgres`). */
  url(database = 'postgres', user = 'postgres', password: string | undefined = this.superPassword): string {
    const secret = this.auth === 'trust' || password === undefined ? '' : `:${encodeURIComponent(password)}`;
    return `postgres://${encodeURIComponent(user)}${secret}@127.0.0.1:${this.port}/${database}`;
  }

  static async start(options: { auth?: OwnPostgresAuth; superPassword?: string; port?: number } = {}): Promise<OwnPostgres> {
    const auth = options.auth ?? 'trust';
    const bin = serverBinaries();
    const user = runAs();
    const base = mkdtempSync(join(tmpdir(), 'coffer-pg-'));
    chmodSync(base, 0o755);
    const dataDir = join(base, 'data');
    const superPassword = options.superPassword ?? 'coffer-test-superuser';
    const pwFile = join(base, 'pwfile');
    writeFileSync(pwFile, `${superPassword}\n`, { mode: 0o600 });
    if (user) {
      chownSync(base, user.uid, user.gid);
      chownSync(pwFile, user.uid, user.gid);
    }
    execFileSync(
      join(bin, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '--pwfile', pwFile, '--auth', auth, '--auth-local', auth, '-E', 'UTF8', '--no-sync'],
      { stdio: 'ignore', ...(user ?? {}) },
    );
    rmSync(pwFile);
    // Only loopback TCP, sockets in the cluster's own folder: nothing of the machine's cluster is touched.
    writeFileSync(
      join(dataDir, 'pg_hba.conf'),
      [`local all all ${auth}`, `host all all 127.0.0.1/32 ${auth}`, `host all all ::1/128 ${auth}`, ''].join('\n'),
    );
    if (user) chownSync(join(dataDir, 'pg_hba.conf'), user.uid, user.gid);
    const server = new OwnPostgres(options.port ?? (await freePort()), dataDir, auth, superPassword, bin, user);
    await server.restart();
    return server;
  }

  /** Starts the postmaster (again, after `stop`) and waits until it accepts connections. */
  async restart(): Promise<void> {
    if (this.child && this.child.exitCode === null) return;
    this.child = spawn(
      join(this.bin, 'postgres'),
      ['-D', this.dataDir, '-p', String(this.port), '-h', '127.0.0.1', '-k', this.dataDir, '-c', 'fsync=off', '-c', 'max_connections=200'],
      { stdio: 'ignore', ...(this.user ?? {}) },
    );
    const deadline = Date.now() + 20_000;
    while (!(await this.ready())) {
      if (this.child.exitCode !== null) throw new Error(`postgres on ${this.port} exited with ${this.child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`postgres did not start on ${this.port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** pg_isready, which answers without a password whatever the auth method. */
  private async ready(): Promise<boolean> {
    if (!(await answers(this.port))) return false;
    try {
      execFileSync(join(this.bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(this.port), '-q'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }

  /** Stops the postmaster: `fast` (the default) ends sessions cleanly, `kill` is SIGKILL, a crash. */
  async stop(mode: 'fast' | 'kill' = 'fast'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(mode === 'kill' ? 'SIGKILL' : 'SIGINT');
    await exited;
    if (mode === 'kill') {
      // the postmaster's children outlive a SIGKILL of it; they exit when they see it gone, but a restart must
      // not find the old shared memory in use: wait until the port is free.
      const deadline = Date.now() + 10_000;
      while ((await answers(this.port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops the cluster and deletes its folder. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(join(this.dataDir, '..'), { recursive: true, force: true });
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
