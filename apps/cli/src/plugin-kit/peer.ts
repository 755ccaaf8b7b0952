/**
 * The conformance kit's side of one plugin process: it plays the host at the level of protocol lines (not through
 * launchPlugin, which would hide exactly the mistakes the kit is there to name), serves the plugin's storage and
 * system calls from memory, and records every breach of the protocol it sees.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  LIMITS,
  RPC_ERRORS,
  helloSchema,
  pluginEnvironment,
  pluginToHostSchemas,
  rpcErrorSchema,
  validate,
  type Hello,
  type MountInfo,
} from '#plugin-protocol';

export type Reply =
  | { kind: 'result'; result: unknown; ms: number }
  | { kind: 'error'; code: number; message: string; errorKind?: string; ms: number }
  | { kind: 'timeout'; ms: number }
  | { kind: 'exited'; ms: number; how: string };

export interface StorageCall {
  method: string;
  mount: string;
  key?: string;
  /** The host calls in flight when it arrived (their mounts): scoping is judged against them. */
  during: string[];
}

/** How the kit answers storage calls: at once, after a delay, or held and answered in reverse order. */
export interface StoragePolicy {
  delayMs?: number;
  /** Hold up to this many calls (or 25 ms) and answer them last first: a plugin must match replies by id. */
  reverseBatch?: number;
}

interface Pending {
  method: string;
  mount?: string;
  started: number;
  resolve: (reply: Reply) => void;
  timer: NodeJS.Timeout;
}

export class Peer {
  readonly child: ChildProcess;
  readonly violations: string[] = [];
  readonly storageCalls: StorageCall[] = [];
  /** Each mount's storage: key → base64 value. */
  readonly storage = new Map<string, Map<string, string>>();
  /** Mounts set up and not cleaned up: the only ones the plugin may name. */
  readonly mounts = new Set<string>();
  hello: Hello | undefined;
  policy: StoragePolicy = {};
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
  stdoutLinesAfterShutdown = 0;
  shutDown = false;

  #stderr: string[] = [];
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #answered = new Set<number>();
  #helloWaiter: ((line: Buffer | null) => void) | undefined;
  #helloLine: Buffer | null | undefined;
  #held: (() => void)[] = [];
  #holdTimer: NodeJS.Timeout | undefined;

  constructor(file: string, args: string[], options: { magic?: boolean } = {}) {
    const { env } = pluginEnvironment();
    if (options.magic === false) {
      delete env.COFFER_PLUGIN_MAGIC;
      delete env.COFFER_PLUGIN_PROTOCOL;
    }
    this.child = spawn(file, args, { env, cwd: '/', stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        for (const [id, p] of this.#pending) {
          clearTimeout(p.timer);
          p.resolve({ kind: 'exited', ms: Date.now() - p.started, how: this.exitText() });
          this.#pending.delete(id);
        }
        this.#helloWaiter?.(null);
        resolve();
      });
      this.child.on('error', (err) => {
        this.violations.push(`could not be started: ${err.message}`);
        this.exit = { code: -1, signal: null };
        this.#helloWaiter?.(null);
        resolve();
      });
    });
    this.child.stdin!.on('error', () => {});
    const errSplit = new LineSplitter(4096, (line) => {
      this.#stderr.push(line.toString('utf8'));
      if (this.#stderr.length > 50) this.#stderr.shift();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => errSplit.push(chunk));
    const split = new LineSplitter(LIMITS.maxMessageBytes, (line, discarded) => {
      if (discarded > 0) {
        this.violations.push(`wrote a line longer than ${LIMITS.maxMessageBytes} bytes`);
        return;
      }
      this.#onLine(line);
    });
    this.child.stdout!.on('data', (chunk: Buffer) => split.push(chunk));
  }

  exitText(): string {
    if (!this.exit) return 'still running';
    return this.exit.signal ? `signal ${this.exit.signal}` : `code ${this.exit.code}`;
  }

  /** The plugin's last stderr lines, for a failure's detail. */
  stderrTail(lines = 5): string {
    return this.#stderr.slice(-lines).join('\n');
  }

  get stderrLines(): string[] {
    return [...this.#stderr];
  }

  /** The first stdout line, or null when the process ended or the time ran out first. */
  helloLine(timeoutMs: number): Promise<Buffer | null | 'timeout'> {
    if (this.#helloLine !== undefined) return Promise.resolve(this.#helloLine);
    if (this.exit) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), timeoutMs);
      this.#helloWaiter = (line) => {
        clearTimeout(timer);
        this.#helloWaiter = undefined;
        resolve(line);
      };
    });
  }

  /** Reads and checks the hello; returns what is wrong, or null. */
  async handshake(timeoutMs: number): Promise<string | null> {
    const line = await this.helloLine(timeoutMs);
    if (line === 'timeout') return `did not complete its handshake within ${timeoutMs} ms (no first line on stdout)`;
    if (line === null) {
      const said = this.stderrTail(3);
      const all = this.stderrLines.join('\n');
      // The host, like this kit, runs a copy of the file elsewhere: what it imports from beside itself is not there.
      const hint = /ERR_MODULE_NOT_FOUND|Cannot find module|ModuleNotFoundError|No module named/.test(all)
        ? ' (it imports a module that is not inside the file: the host runs a copy of the file elsewhere, so a plugin must be ONE file; bundle it)'
        : '';
      return `exited with ${this.exitText()} before its handshake${hint}${said ? `; stderr: ${said}` : ''}`;
    }
    let hello: unknown;
    try {
      hello = JSON.parse(line.toString('utf8'));
    } catch {
      return `sent a garbage handshake (not JSON): ${quote(line.toString('utf8'))}`;
    }
    const wrong = validate(helloSchema, hello, 'hello');
    if (wrong) return `sent an invalid handshake (${wrong}): ${quote(line.toString('utf8'))}`;
    this.hello = hello as Hello;
    return null;
  }

  #onLine(line: Buffer): void {
    if (this.#helloLine === undefined) {
      this.#helloLine = line;
      this.#helloWaiter?.(line);
      return;
    }
    if (this.shutDown) this.stdoutLinesAfterShutdown++;
    const text = line.toString('utf8').trim();
    if (!text) return;
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.violations.push(`wrote a line that is not JSON on stdout (log to stderr instead): ${quote(text)}`);
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message) || message.jsonrpc !== '2.0') {
      this.violations.push(`wrote a line that is not a JSON-RPC 2.0 object: ${quote(text)}`);
      return;
    }
    if (typeof message.method === 'string') {
      this.#onRequest(message, text);
      return;
    }
    this.#onReply(message, text);
  }

  #onReply(message: Record<string, unknown>, text: string): void {
    const id = message.id;
    const pending = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (!pending) {
      const again = typeof id === 'number' && this.#answered.has(id);
      this.violations.push(`${again ? 'answered a call twice' : 'replied to an id the host never issued'} (id ${JSON.stringify(id)}): ${quote(text)}`);
      return;
    }
    this.#pending.delete(id as number);
    this.#answered.add(id as number);
    clearTimeout(pending.timer);
    const ms = Date.now() - pending.started;
    const hasResult = Object.prototype.hasOwnProperty.call(message, 'result');
    const hasError = Object.prototype.hasOwnProperty.call(message, 'error');
    if (hasResult === hasError) {
      this.violations.push(`reply to ${pending.method} must carry exactly one of result and error: ${quote(text)}`);
      pending.resolve({ kind: 'error', code: NaN, message: 'malformed reply', ms });
      return;
    }
    if (hasResult) {
      pending.resolve({ kind: 'result', result: message.result, ms });
      return;
    }
    const wrong = validate(rpcErrorSchema, message.error, 'error');
    if (wrong) this.violations.push(`error reply to ${pending.method} is malformed (${wrong}): ${quote(text)}`);
    const error = (message.error ?? {}) as { code?: unknown; message?: unknown; data?: { kind?: unknown } };
    if (error.code === RPC_ERRORS.plugin && typeof error.data?.kind !== 'string') {
      this.violations.push(`error reply to ${pending.method} has code -32000 without data.kind: ${quote(text)}`);
    }
    pending.resolve({
      kind: 'error',
      code: typeof error.code === 'number' ? error.code : NaN,
      message: typeof error.message === 'string' ? error.message : '',
      errorKind: typeof error.data?.kind === 'string' ? error.data.kind : undefined,
      ms,
    });
  }

  #onRequest(message: Record<string, unknown>, text: string): void {
    const id = message.id;
    const method = message.method as string;
    if (id === undefined || id === null) {
      this.violations.push(`sent a notification (a request without id), which protocol 1 does not define: ${quote(text)}`);
      return;
    }
    const reply = (body: object) => this.#write({ jsonrpc: '2.0', id, ...body });
    const refuse = (code: number, kind: string, why: string) => reply({ error: { code, message: why, data: { kind } } });
    const schemas = (pluginToHostSchemas as Record<string, { params: object } | undefined>)[method];
    if (!schemas) {
      this.violations.push(`called a host method that does not exist: ${JSON.stringify(method)}`);
      refuse(RPC_ERRORS.methodNotFound, 'unsupported-operation', `unknown method ${JSON.stringify(method)}`);
      return;
    }
    const params = (message.params ?? {}) as Record<string, unknown>;
    const wrong = validate(schemas.params as never, params, 'params');
    if (wrong) {
      this.violations.push(`called ${method} with invalid params (${wrong}): ${quote(text)}`);
      refuse(RPC_ERRORS.invalidParams, 'invalid-request', wrong);
      return;
    }
    const mount = params.mount as string;
    this.storageCalls.push({
      method,
      mount,
      key: typeof params.key === 'string' ? params.key : typeof params.prefix === 'string' ? params.prefix : undefined,
      during: [...this.#pending.values()].map((p) => p.mount ?? ''),
    });
    if (!this.mounts.has(mount)) {
      this.violations.push(`called ${method} for mount ${JSON.stringify(mount)}, which is not set up on this process`);
      refuse(RPC_ERRORS.plugin, 'permission-denied', 'unknown mount');
      return;
    }
    const answer = () => {
      const store = this.storage.get(mount)!;
      switch (method) {
        case 'storage.get':
          return reply({ result: { value: store.get(params.key as string) ?? null } });
        case 'storage.put':
          store.set(params.key as string, params.value as string);
          return reply({ result: {} });
        case 'storage.delete':
          store.delete(params.key as string);
          return reply({ result: {} });
        case 'storage.list':
          return reply({ result: { keys: listKeys(store, params.prefix as string) } });
        case 'storage.exists':
          // Protocol 2: a yes or no, never the value.
          return reply({ result: { exists: store.has(params.key as string) } });
        case 'storage.txn': {
          // Protocol 2: every check against what is stored now, then every op, or nothing (one process, so atomic).
          const checks = params.checks as ({ key: string; exists: boolean } | { key: string; value: string })[];
          const failed = checks.findIndex((c) => ('exists' in c ? store.has(c.key) !== c.exists : store.get(c.key) !== c.value));
          if (failed >= 0) return reply({ result: { ok: false, failed } });
          for (const op of params.ops as ({ op: 'put'; key: string; value: string } | { op: 'delete'; key: string })[]) {
            if (op.op === 'put') store.set(op.key, op.value);
            else store.delete(op.key);
          }
          return reply({ result: { ok: true } });
        }
        case 'system.info':
          return reply({ result: { defaultLeaseTtl: 2_764_800, maxLeaseTtl: 2_764_800, version: '0.0.0-conformance' } });
        default:
          // A method of the schemas this kit does not serve yet: answered as a host without it would.
          return refuse(RPC_ERRORS.methodNotFound, 'unsupported-operation', `the conformance kit does not serve ${method}`);
      }
    };
    this.#schedule(answer);
  }

  #schedule(answer: () => void): void {
    const { delayMs, reverseBatch } = this.policy;
    if (delayMs) {
      setTimeout(answer, delayMs);
      return;
    }
    if (reverseBatch) {
      this.#held.push(answer);
      const release = () => {
        clearTimeout(this.#holdTimer);
        this.#holdTimer = undefined;
        const batch = this.#held.reverse();
        this.#held = [];
        for (const a of batch) a();
      };
      if (this.#held.length >= reverseBatch) release();
      else if (!this.#holdTimer) this.#holdTimer = setTimeout(release, 25);
      return;
    }
    answer();
  }

  #write(message: object): void {
    if (this.child.stdin!.writable) this.child.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  /** Sends one call; resolves with its reply, a timeout, or the process's exit. Never rejects. */
  call(method: string, params: unknown, timeoutMs: number, mount?: string): Promise<Reply> {
    const id = this.#nextId++;
    const started = Date.now();
    return new Promise((resolve) => {
      if (this.exit) {
        resolve({ kind: 'exited', ms: 0, how: this.exitText() });
        return;
      }
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve({ kind: 'timeout', ms: Date.now() - started });
      }, timeoutMs);
      this.#pending.set(id, { method, mount, started, resolve, timer });
      this.#write({ jsonrpc: '2.0', id, method, params });
    });
  }

  /** A mount as the host describes it; `setupMount` sends it and opens its storage. */
  newMount(name: string): MountInfo {
    const id = `conformance-${name}-${randomUUID()}`;
    return {
      id,
      path: `${name}/`,
      accessor: `${this.hello?.name ?? 'plugin'}_${id.slice(-8)}`,
      type: this.hello?.name ?? 'plugin',
      config: { defaultLeaseTtl: 0, maxLeaseTtl: 0 },
      options: {},
    };
  }

  open(mount: MountInfo): void {
    this.mounts.add(mount.id);
    if (!this.storage.has(mount.id)) this.storage.set(mount.id, new Map());
  }

  closeStdin(): void {
    this.child.stdin!.end();
  }

  async kill(): Promise<void> {
    if (this.exit) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Vault's listing rule: the names directly under `prefix`, deeper keys folded into `folder/`, sorted. */
function listKeys(store: Map<string, string>, prefix: string): string[] {
  const names = new Set<string>();
  for (const key of store.keys()) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const slash = rest.indexOf('/');
    names.add(slash === -1 ? rest : rest.slice(0, slash + 1));
  }
  return [...names].sort();
}

/** A string for a message: at most 100 characters of `text`, JSON-quoted so control characters show. */
export function quote(text: string, max = 100): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/** Newline framing that keeps at most `maxBytes` of a line and says how much of it was dropped. */
class LineSplitter {
  #chunks: Buffer[] = [];
  #size = 0;
  #dropped = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: Buffer, dropped: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl;
      const room = this.maxBytes - this.#size;
      const take = Math.min(room, end - start);
      if (take > 0) {
        this.#chunks.push(Buffer.from(chunk.subarray(start, start + take)));
        this.#size += take;
      }
      this.#dropped += end - start - Math.max(take, 0);
      if (nl === -1) return;
      const line = Buffer.concat(this.#chunks, this.#size);
      const dropped = this.#dropped;
      this.#chunks = [];
      this.#size = 0;
      this.#dropped = 0;
      this.onLine(line, dropped);
      start = nl + 1;
    }
  }
}
