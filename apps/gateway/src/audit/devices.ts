import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { promises as fs, constants as fsc } from 'node:fs';
import net from 'node:net';
import { checkOptions, fileTarget, socketTarget, syslogTarget, type HostFacts, type SocketTarget } from './options.js';
import type { AuditDevice } from './projection.js';

/**
 * Where entries go. A sink answers each write only once the bytes were handed to the file, the socket or syslog,
 * and rejects when they were not: the broker needs that answer to fail closed. Every sink retries its target on
 * the next write after a failure, so a device that comes back is used again without anyone re-enabling it.
 */
export interface Sink {
  write(lines: string): Promise<void>;
  close(): Promise<void>;
}

/** Opens this gateway's sink for a device, re-checking its options against this host (its plugin directory). */
export function openSink(device: AuditDevice, host: HostFacts): Sink {
  checkOptions(device.type, device.options, host);
  switch (device.type) {
    case 'file': {
      const target = fileTarget(device.options, host);
      if (target.kind === 'discard') return { write: async () => undefined, close: async () => undefined };
      if (target.kind === 'stdout') return new StreamSink((s) => process.stdout.write(s));
      return new FileSink(target.path, target.mode);
    }
    case 'socket': {
      const target = socketTarget(device.options);
      return target.kind === 'udp' ? new UdpSink(target) : new SocketSink(target);
    }
    case 'syslog':
      return new SyslogSink(syslogTarget(device.options));
  }
}

class StreamSink implements Sink {
  constructor(private readonly out: (s: string) => boolean) {}
  async write(lines: string): Promise<void> {
    this.out(lines);
  }
  async close(): Promise<void> {}
}

/**
 * Appends to the file, opening it for each batch of entries. Holding it open would keep writing into a file that
 * was deleted or replaced (the entries would be lost while every request succeeded); opening it each time makes a
 * missing directory, a full disk or a path that became a directory fail the write, and so the request.
 * Writes queue behind each other and go out together, so the cost stays one open per batch, not per entry.
 */
class FileSink implements Sink {
  private pending: { lines: string; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  constructor(
    private readonly path: string,
    private readonly mode: number,
  ) {}

  write(lines: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ lines, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.append(batch.map((b) => b.lines).join(''));
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.flushing = false;
  }

  private async append(text: string): Promise<void> {
    // O_NOFOLLOW: a symlink planted at the path would send entries (and the file mode below) somewhere else.
    const handle = await fs.open(this.path, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | fsc.O_NOFOLLOW, this.mode || 0o600);
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new Error(`${this.path} is not a regular file`);
      if (this.mode !== 0 && (stat.mode & 0o7777) !== this.mode) await handle.chmod(this.mode);
      // Whatever its mode was set to since, an executable audit file is never written to.
      if ((await handle.stat()).mode & 0o7111) throw new Error(`${this.path} is executable; refusing to write audit entries to it`);
      await handle.write(text);
    } finally {
      await handle.close();
    }
  }

  async close(): Promise<void> {}
}

/** TCP or a unix stream socket, connected on first use and again after the collector went away. */
class SocketSink implements Sink {
  private socket?: net.Socket;
  private connecting?: Promise<net.Socket>;

  constructor(private readonly target: SocketTarget) {}

  private connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed && this.socket.writable) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const t = this.target;
      const socket = t.kind === 'unix' ? net.connect({ path: t.path }) : net.connect({ host: t.host, port: t.port });
      const timer = setTimeout(() => socket.destroy(new Error('connect timed out')), t.timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.socket = socket;
        resolve(socket);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      // A collector that hangs up (or dies) is noticed here, so the next write reconnects instead of writing into a
      // socket nobody reads.
      socket.on('end', () => socket.destroy());
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
      });
      socket.on('error', () => undefined);
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  async write(lines: string): Promise<void> {
    const socket = await this.connect();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('write timed out'));
      }, this.target.timeoutMs);
      socket.write(lines, (err) => {
        clearTimeout(timer);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.socket?.end();
    this.socket = undefined;
  }
}

/** One datagram per entry; UDP says nothing of whether anyone listened, only whether it could be sent. */
class UdpSink implements Sink {
  private socket?: dgram.Socket;
  constructor(private readonly target: SocketTarget & { kind: 'tcp' | 'udp' }) {}

  async write(lines: string): Promise<void> {
    const t = this.target;
    this.socket ??= dgram.createSocket(net.isIPv6(t.host) ? 'udp6' : 'udp4').on('error', () => undefined);
    const socket = this.socket;
    for (const line of lines.split('\n').filter((l) => l !== '')) {
      await new Promise<void>((resolve, reject) => socket.send(`${line}\n`, t.port, t.host, (err) => (err ? reject(err) : resolve())));
    }
  }

  async close(): Promise<void> {
    this.socket?.close();
    this.socket = undefined;
  }
}

/**
 * The host's syslog, through util-linux `logger` kept running with entries on its stdin (Node cannot open the
 * datagram socket /dev/log itself). If logger is missing or exits, writes fail until a new one starts.
 */
class SyslogSink implements Sink {
  private child?: ChildProcess;

  constructor(private readonly target: { facility: string; tag: string }) {}

  private process(): ChildProcess {
    if (this.child && this.child.exitCode === null && this.child.stdin?.writable) return this.child;
    const child = spawn('logger', ['-t', this.target.tag, '-p', `${this.target.facility.toLowerCase()}.info`], {
      stdio: ['pipe', 'ignore', 'ignore'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    child.on('error', () => undefined);
    child.stdin!.on('error', () => undefined);
    this.child = child;
    return child;
  }

  async write(lines: string): Promise<void> {
    const child = this.process();
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.stdin!.write(lines, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {
    this.child?.stdin?.end();
    this.child = undefined;
  }
}
