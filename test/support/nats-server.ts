import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { freePort } from './cluster.js';

export function natsServerBinary(): string {
  for (const candidate of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next place
    }
  }
  return 'nats-server';
}

/**
 * A nats-server of the test's own on a free port, so a test can stop and restart it under running services
 * without disturbing anyone else using the machine's server.
 */
export class OwnNatsServer {
  private child?: ChildProcess;
  /** The server's process id while it runs (benches read its CPU time from /proc). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private constructor(
    readonly port: number,
    /** A nats-server config file (`-c`): its `listen` must name this port. */
    private readonly configFile?: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** `port` and `configFile` go together: a config (from bus-config) names the port it listens on. */
  static async start(options: { port?: number; configFile?: string } = {}): Promise<OwnNatsServer> {
    const server = new OwnNatsServer(options.port ?? (await freePort()), options.configFile);
    await server.restart();
    return server;
  }

  async restart(): Promise<void> {
    const args = this.configFile ? ['-c', this.configFile] : ['-a', '127.0.0.1', '-p', String(this.port)];
    this.child = spawn(natsServerBinary(), args, { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await answers(this.port))) {
      if (Date.now() > deadline) throw new Error(`nats-server did not start on ${this.port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('INFO'));
    });
    socket.once('error', () => resolve(false));
  });
}
