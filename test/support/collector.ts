import { once } from 'node:events';
import net from 'node:net';

/**
 * A TCP audit collector, as a log shipper would run one: keeps every line it is sent, can stop (closing the
 * connections it has) and start again on the same port.
 */
export class Collector {
  readonly lines: string[] = [];
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private partial = '';

  private constructor(public port: number) {}

  static async start(port = 0): Promise<Collector> {
    const c = new Collector(port);
    await c.resume();
    return c;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Parsed entries received so far. */
  entries(): any[] {
    return this.lines.map((l) => JSON.parse(l));
  }

  async resume(): Promise<void> {
    const server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('data', (d: Buffer) => {
        const text = this.partial + d.toString('utf8');
        const parts = text.split('\n');
        this.partial = parts.pop()!;
        this.lines.push(...parts.filter((p) => p !== ''));
      });
      socket.on('error', () => undefined);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
