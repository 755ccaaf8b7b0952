/**
 * The host side of the plugin protocol: find a plugin's file inside the plugin directory, check its SHA-256,
 * execute exactly the bytes that were checked with a clean environment, and speak JSON-RPC with it, treating
 * every byte it writes as untrusted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { constants, promises as fsp } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { CofferError, type ErrorCode } from '../contracts/errors.js';
import { COFFER_VERSION } from '../contracts/version.js';
import { LineBatcher, LineSplitter, quote } from './framing.js';
import { checkPluginEnv } from './plugin-env.js';
import {
  MAGIC_ENV,
  MAGIC_VALUE,
  PROTOCOL_2_METHODS,
  PROTOCOL_3_HOST_METHODS,
  CHOOSE_PROTOCOL,
  PROTOCOL_ENV,
  PROTOCOL_VERSIONS,
  PROTOCOLS_ENV,
  versionList,
  RPC_ERRORS,
  type Hello,
  type HostToPlugin,
  type PluginErrorKind,
  type PluginResponse,
  type PluginToHost,
} from './messages.js';
import { checker, checkHello, hostToPluginChecks, methodChecker, type Check } from './compiled.js';
import { LIMITS, pluginToHostSchemas, rpcRequestSchema, rpcResponseSchema } from './schemas.js';
import * as generated from './validators.generated.js';

/** Compiled checks (compiled.ts) only the host uses: the envelopes the host receives and the params of plugin → host calls. */
const checkRpcRequest: Check = /* @__PURE__ */ checker(rpcRequestSchema, generated.rpc_request);
const checkRpcResponse: Check = /* @__PURE__ */ checker(rpcResponseSchema, generated.rpc_response);
const pluginToHostParamChecks: Record<keyof PluginToHost, Check> = {
  'storage.get': /* @__PURE__ */ methodChecker(pluginToHostSchemas, 'storage.get', 'params', generated.storage_get_params),
  'storage.put': /* @__PURE__ */ methodChecker(pluginToHostSchemas, 'storage.put', 'params', generated.storage_put_params),
  'storage.delete': /* @__PURE__ */ methodChecker(pluginToHostSchemas, 'storage.delete', 'params', generated.storage_delete_params),
  'storage.list': /* @__PURE__ */ methodChecker(pluginToHostSchemas, 'storage.list', 'params', generated.storage_list_params),
  'storage.exists': /* @__PURE__ */ methodChecker(pluginToHostSchemas, 'storage.exists', 'params', generated.storage_exists_params),
  'storage.txn': /* @__PURE__ */ methodChecker(pluginToHostSchemas, 'storage.txn', 'params', generated.storage_txn_params),
  'system.info': /* @__PURE__ */ methodChecker(pluginToHostSchemas, 'system.info', 'params', generated.system_info_params),
};

export const DEFAULT_START_TIMEOUT_MS = 10_000;
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 2_000;
/**
 * The plugin has no `renewAuth` (it answered -32601, or its session is older than protocol 3): not a refusal, and not
 * a failure. The caller renews the token by its own rules; a plugin's own error (a refusal) is never this class.
 */
export class RenewAuthNotImplemented extends CofferError {
  readonly renewAuthNotImplemented = true;
  constructor(plugin: string) {
    super('unsupported-operation', `plugin ${plugin} does not implement renewAuth`);
    this.name = 'RenewAuthNotImplemented';
  }
}

export const CHECKSUM_MISMATCH = 'checksums did not match';

/**
 * An optional host → plugin call (`periodic`) the plugin does not have: it answered -32601, or its session is older
 * than the method. Not a failure of the plugin; the caller should stop asking.
 */
export class MethodNotImplemented extends CofferError {
  constructor(
    readonly method: string,
    message: string,
  ) {
    super('unsupported-operation', message);
    this.name = 'MethodNotImplemented';
  }
}

/** The part of a pino logger the host side uses. */
export interface PluginLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Storage and system facts for plugin → host calls. Every call names a mount the host side has already checked
 * was set up on the calling process. Values are bytes (the wire carries them as base64).
 */
export interface StorageHandler {
  get(mountId: string, key: string): Promise<Buffer | null>;
  put(mountId: string, key: string, value: Buffer): Promise<void>;
  delete(mountId: string, key: string): Promise<void>;
  list(mountId: string, prefix: string): Promise<string[]>;
  info(mountId: string): Promise<PluginToHost['system.info']['result']>;
  /** Protocol 2. Without it the host answers from `get` (correct, but the value crosses into the host). */
  exists?(mountId: string, key: string): Promise<boolean>;
  /**
   * Protocol 2: apply every op or none, if every check holds, atomically with respect to every other write of the
   * mount's keys. Without it a protocol-2 plugin's `storage.txn` is refused (it cannot be emulated safely).
   */
  txn?(mountId: string, checks: StorageTxnCheck[], ops: StorageTxnOp[]): Promise<{ ok: boolean; failed?: number }>;
}

/** A `storage.txn` check with its value decoded. */
export type StorageTxnCheck = { key: string; exists: boolean } | { key: string; value: Buffer };
/** A `storage.txn` write with its value decoded. */
export type StorageTxnOp = { op: 'put'; key: string; value: Buffer } | { op: 'delete'; key: string };

export interface StderrLimits {
  /** Longer lines are cut (default 4096 bytes). */
  maxLineBytes?: number;
  /** Sustained lines per second forwarded to the log (default 50); the rest are counted and dropped. */
  linesPerSecond?: number;
  /** Lines that may pass at once before the rate applies (default 200). */
  burst?: number;
}

export interface LaunchSpec {
  /** The catalog name, used in every message and log line. */
  name: string;
  pluginDirectory: string;
  /** Relative to pluginDirectory; extra words after a space are arguments, as in Vault. */
  command: string;
  args?: string[];
  /** The catalog's "K=V" entries: with the protocol variables, the plugin's whole environment. */
  env?: string[];
  sha256: string;
  /** Private (0700) folder where the checked bytes are written and executed from. */
  cacheDir: string;
  startTimeoutMs?: number;
  callTimeoutMs?: number;
  shutdownGraceMs?: number;
  maxMessageBytes?: number;
  stderr?: StderrLimits;
  log: PluginLog;
  storage: StorageHandler;
  /** `plugin_file_uid` / `plugin_file_permissions` from the config; checked at every launch. */
  filePolicy?: PluginFilePolicy;
  /** Confines the process (another uid, bubblewrap): turns the checked executable into what is spawned. */
  sandbox?: PluginSandbox;
}

/** The runner's sandbox (apps/plugin-runner/src/sandbox.ts): wraps the spawn, never changes what was hashed. */
export interface PluginSandbox {
  /** `executable` is the private cached copy of exactly the bytes hashed as `sha256`. */
  wrap(executable: string, sha256: string, args: string[]): Promise<{ command: string; args: string[] }>;
}

/** What the config says a plugin file must be; without a mode, it must at least not be writable by group or others. */
export interface PluginFilePolicy {
  uid?: number;
  mode?: number;
}

/**
 * Vault's plugin file checks (`plugin_file_uid`, `plugin_file_permissions`), always on in Coffer: a plugin file
 * that anyone but its owner may rewrite would make the SHA-256 check a race. Applied to the file and its directory.
 */
export async function checkPluginFile(pluginDirectory: string, path: string, shown: string, policy: PluginFilePolicy = {}): Promise<void> {
  for (const [target, label] of [[pluginDirectory, pluginDirectory], [path, shown]] as const) {
    const st = await fsp.stat(target);
    const mode = st.mode & 0o777;
    if (policy.uid !== undefined && st.uid !== policy.uid) {
      throw new CofferError('invalid-request', `path "${label}" is not owned by uid ${policy.uid}`);
    }
    if (target === path && policy.mode !== undefined) {
      if (mode !== policy.mode) throw new CofferError('invalid-request', `path "${label}" does not have permissions ${policy.mode.toString(8)}`);
    } else if (mode & 0o022) {
      throw new CofferError(
        'invalid-request',
        `path "${label}" has insecure permissions ${mode.toString(8)}. Coffer expects no write permissions for group or others`,
      );
    }
  }
}

export interface PluginExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CallOptions {
  timeoutMs?: number;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  EISDIR: 'is a directory',
  ENOEXEC: 'exec format error',
  ETXTBSY: 'text file busy',
};

/** Go's wording for an errno, as Vault shows it; never Node's message, which carries the absolute path. */
function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code ? (ERRNO_TEXT[code] ?? code.toLowerCase()) : 'unknown error';
}

function isInside(dir: string, file: string): boolean {
  return dir === sep ? file !== sep : file.startsWith(dir + sep);
}

/**
 * Finds the file a catalog command names, confined to the plugin directory with symlinks resolved on both sides,
 * and splits off the arguments. Errors carry Vault's texts.
 */
export async function resolvePluginCommand(pluginDirectory: string, command: string): Promise<{ path: string; args: string[] }> {
  if (!pluginDirectory) throw new CofferError('internal', 'could not set plugin, plugin directory is not configured');
  const [file = '', ...args] = command.split(' ').filter((word) => word !== '');
  if (!file) throw new CofferError('invalid-request', 'missing command value');
  if (file.includes('..')) throw new CofferError('internal', 'path cannot contain parent references');
  let realDir: string;
  try {
    realDir = await fsp.realpath(pluginDirectory);
  } catch (err) {
    throw new CofferError('internal', `error while validating the command path: plugin directory: ${errnoText(err)}`);
  }
  let real: string;
  try {
    real = await fsp.realpath(join(realDir, file));
  } catch (err) {
    throw new CofferError('internal', `error while validating the command path: lstat ${file}: ${errnoText(err)}`);
  }
  if (!isInside(realDir, real)) throw new CofferError('internal', 'cannot execute files outside of configured plugin directory');
  return { path: real, args };
}

/**
 * The environment a plugin gets: a PATH that finds the node running this server (for `#!/usr/bin/env node`
 * plugins) and the system's binaries, the catalog's entries, then the protocol variables (which nothing replaces).
 * Nothing of the server's own environment: it holds database URLs and credentials. Every plugin process's
 * environment is built here, so the catalog's entries pass checkPluginEnv (the rule registration applies) before
 * any launch: one that fails it (PATH, NODE_OPTIONS, LD_PRELOAD, ...) throws and nothing is started.
 */
export function pluginEnvironment(catalogEnv: readonly string[] = []): { env: Record<string, string>; ignored: number[] } {
  checkPluginEnv(catalogEnv);
  const env: Record<string, string> = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` };
  for (const entry of catalogEnv) {
    const eq = entry.indexOf('=');
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  env[MAGIC_ENV] = MAGIC_VALUE;
  // Protocol-1 plugins refuse any COFFER_PLUGIN_PROTOCOL but 1, so it stays 1; newer ones read the list.
  env[PROTOCOL_ENV] = '1';
  env[PROTOCOLS_ENV] = PROTOCOL_VERSIONS.join(',');
  env.COFFER_VERSION = COFFER_VERSION;
  // Kept for callers of the old shape: checkPluginEnv refuses malformed entries, so none is ever ignored now.
  return { env, ignored: [] };
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Reads a regular file without following a final symlink, through one descriptor (no check-then-open gap). */
async function readRegularFile(path: string, shownAs: string): Promise<Buffer> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    throw new CofferError('internal', `error while validating the command path: open ${shownAs}: ${errnoText(err)}`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new CofferError('internal', `error while validating the command path: ${shownAs} is not a regular file`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** A cache file's bytes, or null when absent; a symlink or non-file reads as empty (never trusted). */
async function readIfPresent(path: string, mode: number): Promise<Buffer | null> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') return Buffer.alloc(0); // a symlink: never trusted, replaced
    throw err;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return Buffer.alloc(0);
    const bytes = await handle.readFile();
    if ((stat.mode & 0o777) !== mode) await handle.chmod(mode);
    return bytes;
  } finally {
    await handle.close();
  }
}

export const CACHE_PACKAGE_JSON = `${JSON.stringify({
  description: 'Coffer plugin cache. No "type" on purpose: Node decides CommonJS or ES module per file from its syntax.',
})}\n`;

/**
 * The cached copies have no extension, so Node picks their module system from the nearest package.json: one with
 * "type": "module" above the cache (a cache inside a repository) would break every CommonJS plugin, and
 * "commonjs" every ES module plugin. This file, without "type", stops that lookup and lets Node detect the syntax.
 */
async function ensureNeutralPackageJson(cacheDir: string): Promise<void> {
  const path = join(cacheDir, 'package.json');
  const current = await readIfPresent(path, 0o600).catch(() => null);
  if (current?.toString() === CACHE_PACKAGE_JSON) return;
  const temp = join(cacheDir, `.package.json.${process.pid}.${randomBytes(6).toString('hex')}`);
  await fsp.writeFile(temp, CACHE_PACKAGE_JSON, { flag: 'wx', mode: 0o600 });
  await fsp.rename(temp, path);
}

/**
 * Puts `bytes` at cacheDir/<sha256>, mode 0700, and returns that path. A file already there is used only if its
 * own hash matches; otherwise the bytes are written to a fresh exclusive temporary file and renamed over it, so a
 * concurrent launch never sees (or executes) a half-written file.
 */
export async function materializeInCache(cacheDir: string, sha256: string, bytes: Buffer): Promise<string> {
  await fsp.mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const dirStat = await fsp.lstat(cacheDir);
  if (!dirStat.isDirectory()) throw new CofferError('internal', 'the plugin cache directory is not a directory');
  if (typeof process.getuid === 'function' && dirStat.uid !== process.getuid()) {
    throw new CofferError('internal', "the plugin cache directory is not owned by the server's user");
  }
  // Whoever can write here can choose what runs as a plugin.
  if ((dirStat.mode & 0o077) !== 0) await fsp.chmod(cacheDir, 0o700);
  await ensureNeutralPackageJson(cacheDir);

  const target = join(cacheDir, sha256);
  const existing = await readIfPresent(target, 0o700);
  if (existing && sha256Hex(existing) === sha256) return target;

  const temp = join(cacheDir, `.${sha256}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const handle = await fsp.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o700);
  try {
    await handle.writeFile(bytes);
    await handle.chmod(0o700);
  } finally {
    await handle.close();
  }
  await fsp.rename(temp, target);
  return target;
}

/** Spawns and waits until the exec happened or failed; retries ETXTBSY, which a concurrent fork can cause briefly. */
async function spawnExecutable(path: string, args: string[], env: Record<string, string>): Promise<ChildProcess> {
  for (let attempt = 0; ; attempt++) {
    const child = spawn(path, args, { env, cwd: '/', stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    const outcome = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (err) => resolve(err));
    });
    if (!outcome) return child;
    if ((outcome as NodeJS.ErrnoException).code === 'ETXTBSY' && attempt < 5) {
      await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
      continue;
    }
    throw outcome;
  }
}

/**
 * Resolves, checks and starts a plugin, and returns it once its hello has been validated. Every failure is a
 * CofferError that says why; a process that was started and then failed is killed before this returns.
 */
export async function launchPlugin(spec: LaunchSpec): Promise<PluginProcess> {
  if (!/^[0-9a-fA-F]{64}$/.test(spec.sha256)) throw new CofferError('invalid-request', 'Could not decode SHA-256 value from Hex');
  const sha256 = spec.sha256.toLowerCase();
  const resolved = await resolvePluginCommand(spec.pluginDirectory, spec.command);
  await checkPluginFile(spec.pluginDirectory, resolved.path, spec.command.split(' ')[0] ?? spec.command, spec.filePolicy);
  // One read: these bytes are hashed, and these bytes are what runs. Re-reading the original could pick up a swap.
  const bytes = await readRegularFile(resolved.path, spec.command.split(' ')[0] ?? spec.command);
  if (sha256Hex(bytes) !== sha256) throw new CofferError('plugin-failed', CHECKSUM_MISMATCH);
  const executable = await materializeInCache(spec.cacheDir, sha256, bytes);

  const { env, ignored } = pluginEnvironment(spec.env);
  if (ignored.length) spec.log.warn({ plugin: spec.name, entries: ignored }, 'plugin env entries without "K=" ignored');

  let child: ChildProcess;
  try {
    const args = [...resolved.args, ...(spec.args ?? [])];
    const run = spec.sandbox ? await spec.sandbox.wrap(executable, sha256, args) : { command: executable, args };
    child = await spawnExecutable(run.command, run.args, env);
  } catch (err) {
    throw new CofferError('plugin-failed', `plugin ${spec.name} could not be started: ${errnoText(err)}`);
  }
  const plugin = new PluginProcess(spec, child);
  try {
    await plugin.started(spec.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  } catch (err) {
    await plugin.exited;
    throw err;
  }
  spec.log.info({ plugin: spec.name, pid: plugin.pid, version: plugin.hello.version, sha256 }, 'plugin started');
  return plugin;
}

const KIND_TO_CODE: Record<PluginErrorKind, ErrorCode> = {
  'invalid-request': 'invalid-request',
  'permission-denied': 'permission-denied',
  'unsupported-path': 'unsupported-path',
  'unsupported-operation': 'unsupported-operation',
  'not-found': 'not-found',
  internal: 'internal',
};

/** How a host error is reported to a plugin: the kinds it can act on keep their meaning, the rest is internal. */
const CODE_TO_KIND: Partial<Record<ErrorCode, PluginErrorKind>> = {
  'invalid-request': 'invalid-request',
  'permission-denied': 'permission-denied',
  'unsupported-path': 'unsupported-path',
  'unsupported-operation': 'unsupported-operation',
  'not-found': 'not-found',
};

/** The CofferError a plugin's error reply means: its kind decides the code, its message is kept. */
export function errorFromPlugin(kind: PluginErrorKind, message: string): CofferError {
  return new CofferError(KIND_TO_CODE[kind], message);
}

interface Pending {
  method: keyof HostToPlugin;
  resolve: (value: unknown) => void;
  reject: (err: CofferError) => void;
  timer: NodeJS.Timeout;
  /** A setup's mount, added before the call went out: removed again if the setup fails. */
  mountAdded?: string;
  /** A cleanup's mount: removed once the plugin confirms. */
  cleanupMount?: string;
  /** A protocol-4 handle's `choose`: the reply must say an operation that agrees with it. */
  choose?: readonly string[];
}

interface RpcMessage {
  jsonrpc: '2.0';
  id?: number | string | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: { code: number; message: string; data?: { kind?: PluginErrorKind } };
}

type State = 'starting' | 'running' | 'stopping' | 'dead';

/** Late replies to calls that timed out are recognized (and dropped) for this many recent ids. */
const LATE_IDS_KEPT = 1024;
/** Plugin → host calls one process may have in flight; more are refused rather than queued without bound. */
const MAX_HOST_CALLS_IN_FLIGHT = 256;
/** Bytes queued on the plugin's stdin beyond which it is taken as not reading and new calls are refused. */
const MAX_STDIN_BACKLOG = 64 * 1024 * 1024;
/** After 'exit', how long to wait for stdout to close (a grandchild may hold it open forever). */
const EXIT_SETTLE_MS = 200;

/**
 * A running plugin. Emits 'exit' (PluginExit) once, when the process is gone and every in-flight call has failed.
 * It never emits 'error'.
 */
export class PluginProcess extends EventEmitter {
  readonly name: string;
  readonly pid: number;
  hello!: Hello;
  /** Resolves once the process has exited and its output is drained. */
  readonly exited: Promise<PluginExit>;
  /** Counters for operators and tests. */
  readonly stats = { stderrLines: 0, stderrDropped: 0, stderrTruncated: 0, lateReplies: 0 };

  private state: State = 'starting';
  private failure: CofferError | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly lateIds = new Set<number>();
  private readonly mountIds = new Set<string>();
  private nextId = 1;
  private hostCallsInFlight = 0;
  private exitInfo: PluginExit | undefined;
  private finalized = false;
  private resolveExited!: (exit: PluginExit) => void;
  private startWaiter: { resolve: () => void; reject: (err: CofferError) => void; timer?: NodeJS.Timeout } | undefined;
  private readonly stdoutSplitter: LineSplitter;
  /** Calls and replies to the plugin, one write per turn of the event loop. */
  private readonly stdin: LineBatcher;
  private readonly stderrSplitter: LineSplitter;
  private tokens: number;
  private lastRefill = Date.now();
  private droppedUnreported = 0;
  private readonly rate: number;
  private readonly burst: number;
  private readonly callTimeoutMs: number;
  private readonly shutdownGraceMs: number;
  private readonly maxMessageBytes: number;
  private readonly log: PluginLog;
  private readonly storage: StorageHandler;

  constructor(
    spec: LaunchSpec,
    private readonly child: ChildProcess,
  ) {
    super();
    this.name = spec.name;
    this.pid = child.pid ?? -1;
    this.log = spec.log;
    this.storage = spec.storage;
    this.callTimeoutMs = spec.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.shutdownGraceMs = spec.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    this.maxMessageBytes = spec.maxMessageBytes ?? LIMITS.maxMessageBytes;
    this.rate = spec.stderr?.linesPerSecond ?? 50;
    this.burst = spec.stderr?.burst ?? 200;
    this.tokens = this.burst;
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));

    this.stdin = new LineBatcher((text, done) => {
      // Nothing more reaches a dead plugin; the exit handling has already failed whatever was waiting.
      if (this.state === 'dead') return done?.();
      this.child.stdin!.write(text, done && (() => done()));
    });
    this.stdoutSplitter = new LineSplitter(
      LIMITS.maxHelloBytes,
      (line) => this.onStdoutLine(line),
      () =>
        this.state === 'starting'
          ? this.failStart(`plugin ${this.name} sent a garbage handshake: no newline within ${LIMITS.maxHelloBytes} bytes`)
          : this.broken(`a message longer than ${this.maxMessageBytes} bytes`),
    );
    this.stderrSplitter = new LineSplitter(spec.stderr?.maxLineBytes ?? 4096, (line, discarded) => this.onStderrLine(line, discarded));

    child.stdout!.on('data', (chunk: Buffer) => {
      if (this.state !== 'dead') this.stdoutSplitter.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => this.stderrSplitter.push(chunk));
    // A write to a dead plugin's stdin fails with EPIPE; the exit handling reports it, this must not crash the host.
    child.stdin!.on('error', () => {});
    child.stdout!.on('error', () => {});
    child.stderr!.on('error', () => {});
    // After a successful spawn, 'error' means a signal could not be delivered; an unhandled one would crash the host.
    child.on('error', (err) => this.log.warn({ plugin: this.name, err: errnoText(err) }, 'plugin process error'));
    child.on('exit', (code, signal) => {
      this.exitInfo = { code, signal };
      setTimeout(() => this.finalize(), EXIT_SETTLE_MS);
    });
    child.on('close', (code, signal) => {
      this.exitInfo ??= { code, signal };
      this.finalize();
    });
  }

  /** True until the process has been seen to die, been killed, or broken the protocol. */
  get alive(): boolean {
    return this.state === 'starting' || this.state === 'running' || this.state === 'stopping';
  }

  /** The mounts set up on this process (the only ones its storage calls may name). */
  get mounts(): ReadonlySet<string> {
    return this.mountIds;
  }

  /** @internal Resolves when the hello has been validated; used by launchPlugin. */
  started(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.state !== 'starting') {
        if (this.failure) reject(this.failure);
        else resolve();
        return;
      }
      const timer = setTimeout(
        () => this.failStart(`plugin ${this.name} did not complete its handshake within ${timeoutMs} ms`),
        timeoutMs,
      );
      this.startWaiter = { resolve, reject, timer };
    });
  }

  /**
   * Calls a host → plugin method. Fails with CofferError: the plugin's own error kinds map to their codes with its
   * message; timeouts, crashes and malformed replies are 'plugin-failed'. After a timeout the process keeps
   * running: the caller decides whether to replace it.
   */
  call<M extends keyof HostToPlugin>(
    method: M,
    params: HostToPlugin[M]['params'],
    options: CallOptions = {},
  ): Promise<HostToPlugin[M]['result']> {
    if (this.state === 'dead' || this.state === 'starting') {
      return Promise.reject(this.failure ?? new CofferError('plugin-failed', `plugin ${this.name} is not running`));
    }
    if (this.state === 'stopping' && method !== 'shutdown') {
      return Promise.reject(new CofferError('plugin-failed', `plugin ${this.name} is shutting down`));
    }
    // Leases are protocol 3: an older session cannot have issued one, and does not know these methods.
    if (this.hello.protocol < 3 && method === 'periodic') {
      return Promise.reject(new MethodNotImplemented(method, `plugin ${this.name} speaks protocol ${this.hello.protocol}: it has no periodic (protocol 3)`));
    }
    if (this.hello.protocol < 3 && PROTOCOL_3_HOST_METHODS.includes(method)) {
      // An older auth plugin has no renewal callback: its tokens renew by the host's rules, as they always did.
      if (method === 'renewAuth') return Promise.reject(new RenewAuthNotImplemented(this.name));
      return Promise.reject(new CofferError('plugin-failed', `plugin ${this.name} speaks protocol ${this.hello.protocol}: it has no ${method} (protocol 3)`));
    }
    const choose = method === 'handle' ? (params as HostToPlugin['handle']['params']).choose : undefined;
    // An older session ignores params it does not know: it would handle the write as an update, unchecked.
    if (choose && this.hello.protocol < CHOOSE_PROTOCOL) {
      return Promise.reject(new CofferError('internal', `plugin ${this.name} speaks protocol ${this.hello.protocol}: handle has no choose before protocol ${CHOOSE_PROTOCOL}`));
    }
    let mountAdded: string | undefined;
    const mount = (params as { mount?: unknown }).mount;
    if (method === 'setup') {
      const id = (mount as { id?: unknown } | undefined)?.id;
      if (typeof id !== 'string') return Promise.reject(new CofferError('internal', 'setup needs a mount with an id'));
      if (!this.hello.multiplex && this.mountIds.size > 0 && !this.mountIds.has(id)) {
        return Promise.reject(new CofferError('internal', `plugin ${this.name} does not multiplex: it serves one mount per process`));
      }
      if (!this.mountIds.has(id)) {
        // Added before the call goes out: a plugin may read its storage while it sets up.
        this.mountIds.add(id);
        mountAdded = id;
      }
    } else if (typeof mount === 'string' && !this.mountIds.has(mount)) {
      return Promise.reject(new CofferError('internal', `mount ${mount} is not set up on plugin ${this.name}`));
    }

    const id = this.nextId++;
    const line = `${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`;
    const failEarly = (err: CofferError) => {
      if (mountAdded) this.mountIds.delete(mountAdded);
      return Promise.reject(err);
    };
    if (Buffer.byteLength(line) > this.maxMessageBytes) {
      return failEarly(new CofferError('payload-too-large', `the request to plugin ${this.name} is larger than ${this.maxMessageBytes} bytes`));
    }
    if (this.child.stdin!.writableLength + this.stdin.pendingLength > MAX_STDIN_BACKLOG) {
      return failEarly(new CofferError('plugin-failed', `plugin ${this.name} is not reading its input`));
    }
    const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        this.rememberLate(id);
        if (mountAdded) this.mountIds.delete(mountAdded);
        reject(new CofferError('plugin-failed', `plugin ${this.name} did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanupMount = method === 'cleanup' ? (mount as string) : undefined;
      this.pending.set(id, { method, resolve: resolve as (value: unknown) => void, reject, timer, mountAdded, cleanupMount, choose });
      this.stdin.push(line);
    });
  }

  /** Kills the process at once; in-flight calls fail with `plugin <name> was stopped`. */
  kill(): Promise<PluginExit> {
    if (this.state !== 'dead') {
      this.die(new CofferError('plugin-failed', `plugin ${this.name} was stopped`));
    }
    return this.exited;
  }

  /** Asks the plugin to exit, closes its stdin, and kills it if it has not exited after the grace period. */
  async shutdown(graceMs = this.shutdownGraceMs): Promise<PluginExit> {
    if (this.state === 'running') {
      this.state = 'stopping';
      const deadline = Date.now() + graceMs;
      try {
        await this.call('shutdown', {}, { timeoutMs: graceMs });
      } catch {
        // Refused, timed out or died: the kill below settles it either way.
      }
      this.stdin.flush();
      this.child.stdin!.end();
      const left = Math.max(deadline - Date.now(), 0);
      let timer: NodeJS.Timeout | undefined;
      const exitedInTime = await Promise.race([
        this.exited.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), left))),
      ]);
      clearTimeout(timer);
      if (!exitedInTime) this.log.warn({ plugin: this.name, graceMs }, 'plugin did not exit after shutdown; killed');
    }
    return this.kill();
  }

  // ---- process lifecycle ----

  private failStart(message: string): void {
    if (this.state !== 'starting') return;
    const err = new CofferError('plugin-failed', message);
    this.log.warn({ plugin: this.name }, message);
    this.die(err);
  }

  /** Marks the process dead for `reason`, fails everything in flight with it, and makes sure it is gone. */
  private die(reason: CofferError): void {
    if (this.state === 'dead') return;
    this.state = 'dead';
    this.failure ??= reason;
    this.settleStart();
    this.failPending();
    if (this.exitInfo === undefined) this.child.kill('SIGKILL');
  }

  private settleStart(): void {
    const waiter = this.startWaiter;
    if (!waiter) return;
    this.startWaiter = undefined;
    clearTimeout(waiter.timer);
    if (this.state === 'running') waiter.resolve();
    else waiter.reject(this.failure ?? new CofferError('plugin-failed', `plugin ${this.name} did not start`));
  }

  private failPending(): void {
    const reason = this.failure ?? new CofferError('plugin-failed', `plugin ${this.name} is not running`);
    for (const [id, call] of this.pending) {
      clearTimeout(call.timer);
      this.pending.delete(id);
      call.reject(reason);
    }
  }

  private finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    const exit = this.exitInfo ?? { code: null, signal: null };
    this.stderrSplitter.flush();
    this.reportDropped();
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    if (this.state === 'starting') {
      this.failStart(`plugin ${this.name} exited with ${how} before its handshake`);
    } else if (this.state !== 'dead') {
      const stopping = this.state === 'stopping';
      const reason = stopping
        ? new CofferError('plugin-failed', `plugin ${this.name} was stopped`)
        : new CofferError('plugin-failed', `plugin ${this.name} exited unexpectedly (${how})`);
      if (!stopping) this.log.warn({ plugin: this.name, code: exit.code, signal: exit.signal }, reason.message);
      this.die(reason);
    }
    this.removeAllListenersFromStreams();
    this.resolveExited(exit);
    this.emit('exit', exit);
  }

  private removeAllListenersFromStreams(): void {
    this.child.stdout?.removeAllListeners('data');
    this.child.stderr?.removeAllListeners('data');
  }

  /** The plugin wrote something outside the protocol: nothing it says can be trusted any more. */
  private broken(why: string, line?: string): void {
    if (this.state === 'dead') return;
    const message = `plugin ${this.name} broke the protocol: ${why}${line === undefined ? '' : `; line: ${quote(line)}`}`;
    this.log.warn({ plugin: this.name }, message);
    this.die(new CofferError('plugin-failed', message));
  }

  private rememberLate(id: number): void {
    this.lateIds.add(id);
    if (this.lateIds.size > LATE_IDS_KEPT) this.lateIds.delete(this.lateIds.values().next().value as number);
  }

  // ---- stdout: hello, replies, plugin → host calls ----

  private onStdoutLine(buffer: Buffer): void {
    if (this.state === 'dead') return;
    const text = buffer.toString('utf8');
    if (this.state === 'starting') {
      this.onHello(text);
      return;
    }
    if (text.trim() === '') return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      this.broken('not JSON', text);
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message) || (message as RpcMessage).jsonrpc !== '2.0') {
      this.broken('not a JSON-RPC 2.0 message', text);
      return;
    }
    const rpc = message as RpcMessage;
    if ('method' in rpc) this.onPluginRequest(rpc, text);
    else this.onReply(rpc, text);
  }

  private onHello(text: string): void {
    let hello: unknown;
    try {
      hello = JSON.parse(text);
    } catch {
      this.failStart(`plugin ${this.name} sent a garbage handshake: ${quote(text)}`);
      return;
    }
    const protocol = (hello as { protocol?: unknown } | null)?.protocol;
    if (typeof protocol === 'number' && !PROTOCOL_VERSIONS.includes(protocol) && (hello as { coffer?: unknown }).coffer === 'plugin') {
      this.failStart(`plugin ${this.name} speaks protocol ${protocol}; this host speaks protocol ${versionList()}`);
      return;
    }
    const problem = checkHello(hello, 'hello');
    if (problem) {
      this.failStart(`plugin ${this.name} sent an invalid handshake (${problem}): ${quote(text)}`);
      return;
    }
    this.hello = hello as Hello;
    this.state = 'running';
    this.stdoutSplitter.maxBytes = this.maxMessageBytes;
    this.settleStart();
  }

  private onReply(rpc: RpcMessage, text: string): void {
    const id = rpc.id;
    const call = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!call) {
      if (typeof id === 'number' && this.lateIds.delete(id)) {
        // The caller was already told it timed out; whatever this says, it is never acted on.
        this.stats.lateReplies++;
        this.log.warn({ plugin: this.name, id }, 'plugin answered after the call timed out; reply dropped');
        return;
      }
      this.broken(`a reply to an unknown call id ${JSON.stringify(id ?? null)}`, text);
      return;
    }
    this.pending.delete(id as number);
    clearTimeout(call.timer);
    const fail = (err: CofferError) => {
      if (call.mountAdded) this.mountIds.delete(call.mountAdded);
      call.reject(err);
    };
    const malformed = (why: string) => {
      const message = `plugin ${this.name} sent a malformed reply to ${call.method}: ${why}`;
      this.log.warn({ plugin: this.name }, message);
      fail(new CofferError('plugin-failed', message));
    };

    const envelopeProblem = checkRpcResponse(rpc, 'reply');
    if (envelopeProblem) return malformed(envelopeProblem);
    if (rpc.error) {
      const { code, message } = rpc.error;
      const kind = rpc.error.data?.kind;
      if (code === RPC_ERRORS.plugin && kind) return fail(errorFromPlugin(kind, message));
      if (code === RPC_ERRORS.plugin) return malformed('an error with code -32000 must say its kind in data.kind');
      // `help` is optional: a plugin that does not know it simply has no help to give (404, not a failure).
      // `renew` is optional too: a plugin without it issues leases that cannot be renewed.
      if (code === RPC_ERRORS.methodNotFound && call.method === 'renew') return fail(new CofferError('invalid-request', 'lease is not renewable'));
      // `periodic` is optional: the caller learns the plugin has none and stops asking.
      if (code === RPC_ERRORS.methodNotFound && call.method === 'periodic') return fail(new MethodNotImplemented('periodic', `plugin ${this.name} does not implement periodic`));
      // `renewAuth` is optional: without it, the plugin leaves a token's renewal to the host's rules.
      if (code === RPC_ERRORS.methodNotFound && call.method === 'renewAuth') return fail(new RenewAuthNotImplemented(this.name));
      if (code === RPC_ERRORS.methodNotFound && call.method === 'help') {
        return fail(new CofferError('unsupported-path', `no help available: plugin ${this.name} does not implement help`));
      }
      return fail(new CofferError('plugin-failed', `plugin ${this.name} refused ${call.method}: ${message} (${code})`));
    }
    const resultProblem = hostToPluginChecks[call.method].result(rpc.result, 'result');
    if (resultProblem) return malformed(resultProblem);
    if (call.method === 'handle') {
      const response = (rpc.result as { response: PluginResponse | null }).response;
      if (response?.auth && this.hello.type !== 'auth') return malformed('a secret plugin cannot issue auth');
      if (response?.secret && this.hello.type !== 'secret') return malformed('an auth plugin cannot issue a secret under a lease');
      if (response?.secret && this.hello.protocol < 3) return malformed(`a secret under a lease needs protocol 3; this session speaks ${this.hello.protocol}`);
      if (response?.auth?.internal !== undefined && this.hello.protocol < 3) {
        return malformed(`a login's internal data needs protocol 3; this session speaks ${this.hello.protocol}`);
      }
      const { operation, denied } = rpc.result as HostToPlugin['handle']['result'];
      if (call.choose) {
        // The verdict travelled with the call; the answer must show the plugin kept to it.
        if (operation === undefined) return malformed('a handle with choose must say the operation it picked');
        if (denied === true && (call.choose.includes(operation) || response !== null)) return malformed(`denied ${operation}, which choose allowed or which answered a response`);
        if (denied !== true && !call.choose.includes(operation)) return malformed(`handled ${operation}, which choose did not allow`);
      } else if (operation !== undefined || denied !== undefined) {
        return malformed('operation and denied answer a handle with choose only');
      }
    }
    if (call.cleanupMount !== undefined) this.mountIds.delete(call.cleanupMount);
    call.resolve(rpc.result);
  }

  private onPluginRequest(rpc: RpcMessage, text: string): void {
    const envelopeProblem = checkRpcRequest(rpc, 'request');
    if (envelopeProblem) {
      if (typeof rpc.id === 'number' || (typeof rpc.id === 'string' && rpc.id.length <= LIMITS.rpcStringId)) {
        this.reply(rpc.id, { error: { code: RPC_ERRORS.invalidRequest, message: envelopeProblem, data: { kind: 'invalid-request' } } });
        return;
      }
      this.broken(`an invalid request (${envelopeProblem})`, text);
      return;
    }
    if (rpc.id === undefined) {
      this.log.warn({ plugin: this.name, method: rpc.method }, 'plugin sent a notification; protocol v1 defines none, ignored');
      return;
    }
    void this.serveHostCall(rpc.id as number | string, rpc.method as string, rpc.params ?? {});
  }

  private reply(id: number | string, body: { result: unknown } | { error: { code: number; message: string; data: { kind: PluginErrorKind } } }): void {
    if (this.state === 'dead') return;
    this.stdin.push(`${JSON.stringify({ jsonrpc: '2.0', id, ...body })}\n`);
  }

  private async serveHostCall(id: number | string, method: string, params: Record<string, unknown>): Promise<void> {
    const error = (code: number, kind: PluginErrorKind, message: string) => this.reply(id, { error: { code, message, data: { kind } } });
    if (!Object.prototype.hasOwnProperty.call(pluginToHostSchemas, method)) {
      return error(RPC_ERRORS.methodNotFound, 'unsupported-operation', `unknown method ${JSON.stringify(method)}`);
    }
    const name = method as keyof PluginToHost;
    // A plugin that said protocol 1 in its hello gets the protocol-1 host: version 2's methods do not exist for it.
    if (this.hello && this.hello.protocol < 2 && PROTOCOL_2_METHODS.includes(method)) {
      return error(RPC_ERRORS.methodNotFound, 'unsupported-operation', `unknown method ${JSON.stringify(method)} in protocol ${this.hello.protocol}`);
    }
    const problem = pluginToHostParamChecks[name](params, 'params');
    if (problem) return error(RPC_ERRORS.invalidParams, 'invalid-request', problem);
    const mount = params.mount as string;
    // The one check that keeps a plugin inside the mounts it was given: the handler trusts the mount id it gets.
    if (!this.mountIds.has(mount)) {
      this.log.warn({ plugin: this.name, method }, 'plugin named a mount that is not set up on it; refused');
      return error(RPC_ERRORS.plugin, 'permission-denied', 'unknown mount');
    }
    if (this.hostCallsInFlight >= MAX_HOST_CALLS_IN_FLIGHT) {
      return error(RPC_ERRORS.plugin, 'internal', `too many storage calls in flight (at most ${MAX_HOST_CALLS_IN_FLIGHT})`);
    }
    this.hostCallsInFlight++;
    try {
      this.reply(id, { result: await this.runHostCall(name, mount, params) });
    } catch (err) {
      if (err instanceof CofferError) {
        error(RPC_ERRORS.plugin, CODE_TO_KIND[err.code] ?? 'internal', err.message);
      } else {
        // Never the handler's own text: it may describe the database or the barrier.
        this.log.warn({ plugin: this.name, method, err: err instanceof Error ? err.message : String(err) }, 'storage call failed');
        error(RPC_ERRORS.plugin, 'internal', 'storage error');
      }
    } finally {
      this.hostCallsInFlight--;
    }
  }

  private async runHostCall(method: keyof PluginToHost, mount: string, params: Record<string, unknown>): Promise<unknown> {
    switch (method) {
      case 'storage.get': {
        const value = await this.storage.get(mount, params.key as string);
        return { value: value === null ? null : value.toString('base64') };
      }
      case 'storage.put':
        // The schema checked strict base64 already; Node's decoder alone would accept garbage.
        await this.storage.put(mount, params.key as string, Buffer.from(params.value as string, 'base64'));
        return {};
      case 'storage.delete':
        await this.storage.delete(mount, params.key as string);
        return {};
      case 'storage.list':
        return { keys: await this.storage.list(mount, params.prefix as string) };
      case 'system.info':
        return await this.storage.info(mount);
      case 'storage.exists': {
        const key = params.key as string;
        if (this.storage.exists) return { exists: await this.storage.exists(mount, key) };
        return { exists: (await this.storage.get(mount, key)) !== null };
      }
      case 'storage.txn': {
        if (!this.storage.txn) throw new CofferError('internal', 'this host does not offer storage transactions');
        // The schema checked strict base64 already.
        const checks = (params.checks as PluginToHost['storage.txn']['params']['checks']).map((c): StorageTxnCheck =>
          'value' in c ? { key: c.key, value: Buffer.from(c.value, 'base64') } : { key: c.key, exists: c.exists },
        );
        const ops = (params.ops as PluginToHost['storage.txn']['params']['ops']).map((o): StorageTxnOp =>
          o.op === 'put' ? { op: 'put', key: o.key, value: Buffer.from(o.value, 'base64') } : { op: 'delete', key: o.key },
        );
        const result = await this.storage.txn(mount, checks, ops);
        return result.ok ? { ok: true } : { ok: false, failed: result.failed ?? 0 };
      }
    }
  }

  // ---- stderr: the plugin's log, bounded ----

  private onStderrLine(buffer: Buffer, discarded: number): void {
    this.stats.stderrLines++;
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.rate);
    this.lastRefill = now;
    if (this.tokens < 1) {
      this.stats.stderrDropped++;
      this.droppedUnreported++;
      return;
    }
    this.tokens -= 1;
    this.reportDropped();
    let line = buffer.toString('utf8');
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (discarded > 0) {
      this.stats.stderrTruncated++;
      this.log.info({ plugin: this.name, truncatedBytes: discarded }, line);
    } else {
      this.log.info({ plugin: this.name }, line);
    }
  }

  private reportDropped(): void {
    if (this.droppedUnreported === 0) return;
    this.log.warn({ plugin: this.name, dropped: this.droppedUnreported, droppedTotal: this.stats.stderrDropped }, 'plugin stderr lines dropped (rate limit)');
    this.droppedUnreported = 0;
  }
}
