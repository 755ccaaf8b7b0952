import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { closeSync, constants as fsc, fchmodSync, fstatSync, openSync, statSync, writeSync, type Stats } from 'node:fs';
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
 * Appends to the file with synchronous writes on a descriptor kept open: a small append to the page cache costs
 * microseconds, far less than a trip through libuv's thread pool, and Vault's file sink writes synchronously too.
 *
 * Before each write (one per batch, see `write`) the open file itself is fstat'ed: a file that was deleted, or
 * replaced (by a directory, or by another file renamed over it), has no link left, and would otherwise keep taking
 * entries into an inode nobody can read while every request succeeded; the device then reopens the path, and a path
 * that cannot be opened fails the write, and so the request. A file found executable is never written. The fstat
 * (no path walk, ~half a path stat's cost) is what every batch pays; the path itself is stat'ed at most once every
 * `PATH_CHECK_MS`, to follow a rotation by rename: a file renamed away still has its link, so its entries stay
 * readable where it went until the device notices that the path names another file (or none) and reopens it.
 */
class FileSink implements Sink {
  private fd?: number;
  private ino = -1;
  private dev = -1;
  /** When the path is to be stat'ed again (a `performance.now()` time). */
  private pathCheckAt = 0;

  constructor(
    private readonly path: string,
    private readonly mode: number,
  ) {}

  /** Set once the device is disabled: a late response entry still goes out, without keeping a descriptor. */
  private closed = false;

  /** Entries handed in during this turn of the event loop, written together by `flush`, and their one answer. */
  private batch?: { text: string[]; written: Promise<void>; resolve: () => void; reject: (err: unknown) => void };

  /**
   * Resolves once the entry is in the file. Entries of the requests in flight (the loop serves many connections in
   * one turn) are gathered until setImmediate and written with one fstat and one write: the profile showed the
   * check+write pair was most of audit's cost once entries were cheap. The entries of a batch share one promise
   * (not one each: a promise and its two functions per entry were a visible share of the sink's own time). Each
   * caller still hears only after its bytes were written, and every caller of a failed write is refused, so fail
   * closed holds entry by entry.
   */
  write(lines: string): Promise<void> {
    let batch = this.batch;
    if (!batch) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const written = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = this.batch = { text: [], written, resolve, reject };
      setImmediate(() => this.flush());
    }
    batch.text.push(lines);
    return batch.written;
  }

  private flush(): void {
    const batch = this.batch!;
    this.batch = undefined;
    try {
      this.append(batch.text.length === 1 ? batch.text[0] : batch.text.join(''));
    } catch (err) {
      batch.reject(err);
      return;
    } finally {
      if (this.closed) this.closeFd();
    }
    batch.resolve();
  }

  private append(text: string): void {
    let current: Stats | undefined;
    if (this.fd !== undefined) {
      try {
        current = fstatSync(this.fd);
      } catch {
        current = undefined;
      }
      if (current && current.nlink > 0 && this.pathMoved()) current = undefined;
    }
    if (!current || current.nlink === 0) current = this.reopen();
    if (current.mode & 0o7111) throw new Error(`${this.path} is executable; refusing to write audit entries to it`);
    writeSync(this.fd!, text);
  }

  /** Whether the path (looked at only every `PATH_CHECK_MS`) names another file than the one open, or none. */
  private pathMoved(): boolean {
    const now = performance.now();
    if (now < this.pathCheckAt) return false;
    this.pathCheckAt = now + PATH_CHECK_MS;
    let atPath: Stats | undefined;
    try {
      // No exception for a missing path: throwing and catching one cost more than the stat itself.
      atPath = statSync(this.path, { throwIfNoEntry: false });
    } catch {
      atPath = undefined;
    }
    return !atPath || atPath.ino !== this.ino || atPath.dev !== this.dev;
  }

  private reopen(): Stats {
    this.closeFd();
    // O_NOFOLLOW: a symlink planted at the path would send entries (and the chmod below) somewhere else.
    const fd = openSync(this.path, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | fsc.O_NOFOLLOW, this.mode || 0o600);
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new Error(`${this.path} is not a regular file`);
      if (this.mode !== 0 && (stat.mode & 0o7777) !== this.mode) fchmodSync(fd, this.mode);
      const after = fstatSync(fd);
      this.fd = fd;
      this.ino = after.ino;
      this.dev = after.dev;
      this.pathCheckAt = performance.now() + PATH_CHECK_MS;
      return after;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private closeFd(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already gone
      }
    }
    this.fd = undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closeFd();
  }
}

/**
 * How often a file device looks at its path for a rotation by rename (see `FileSink`). Entries written meanwhile go
 * to the renamed file, which is still readable; a deleted or replaced file is noticed on the very next write.
 */
const PATH_CHECK_MS = 1000;

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
