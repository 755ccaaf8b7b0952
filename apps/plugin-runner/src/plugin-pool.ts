import { createHash } from 'node:crypto';
import { CofferError, sealedError } from '#contracts';
import type { CatalogEntry } from '#plugin-catalog';
import { DEFAULT_CALL_TIMEOUT_MS, type HostToPlugin, type MountInfo, type PluginLog, type PluginProcess } from '#plugin-protocol';

export const DEFAULT_IDLE_MS = 5 * 60_000;

/** When a plugin's crashes count as a loop, and how long relaunching is then refused. */
export interface CrashLoopPolicy {
  /** This many unexpected exits ... (default 3) */
  crashes: number;
  /** ... within this window (default 30 s) make a loop. */
  windowMs: number;
  /** The first refusal lasts this long (default 10 s); each further loop doubles it ... */
  firstDelayMs: number;
  /** ... up to this (default 5 min). */
  maxDelayMs: number;
  /** A plugin that has not crashed for this long (default 10 min) starts again from the first delay. */
  resetMs: number;
}

export const DEFAULT_CRASH_LOOP: CrashLoopPolicy = {
  crashes: 3,
  windowMs: 30_000,
  firstDelayMs: 10_000,
  maxDelayMs: 5 * 60_000,
  resetMs: 10 * 60_000,
};

export interface PluginPoolOptions {
  /** Starts the catalog entry's plugin (the SHA-256 is checked by every launch) with the runner's storage. */
  launch(entry: CatalogEntry): Promise<PluginProcess>;
  log: PluginLog;
  /** While it says true, nothing is launched or called. */
  sealed?: () => boolean;
  /** Per host → plugin call; a call that takes longer fails and its process is replaced. */
  callTimeoutMs?: number;
  /** A process that has had no call for this long is shut down. */
  idleMs?: number;
  crashLoop?: Partial<CrashLoopPolicy>;
  /** Told what happens to processes, for the runner's metrics (metrics.ts). */
  events?: PoolEvents;
}

/** What the pool tells its observer: by plugin name only, never a mount path or anything a client sent. */
export interface PoolEvents {
  launched(plugin: string, outcome: 'started' | 'failed'): void;
  /** A process that exited without being asked to (a failed start is `launched(..., 'failed')`, not this). */
  crashed(plugin: string): void;
  /** A call that outlived the call timeout (its process is then replaced). */
  timedOut(plugin: string, method: string): void;
  /** A host → plugin call sent to a process (a round trip through its pipes), by method. */
  called?(plugin: string, method: string): void;
}

/** One call's destination: the mount as the plugin is told about it, and the catalog entry it runs. */
export interface PoolTarget {
  mount: MountInfo;
  entry: CatalogEntry;
}

/** What the pool is running, for status and tests. */
export interface PoolProcessView {
  plugin: string;
  version: string;
  pid: number;
  /** Mounts set up on the process. */
  mounts: string[];
  inFlight: number;
}

interface Setup {
  fingerprint: string;
  done: Promise<void>;
}

interface Instance {
  /** The pool slot: the plugin identity, or identity#mount for a plugin that does not multiplex. */
  key: string;
  identity: string;
  entry: CatalogEntry;
  /** The mount whose call launched it: the one a non-multiplexing process will belong to. */
  launchedFor: string;
  ready: Promise<PluginProcess>;
  process?: PluginProcess;
  setups: Map<string, Setup>;
  /** Calls (setup included) that hold this instance; a graceful stop waits for them. */
  inFlight: number;
  stopping: boolean;
  stopped?: Promise<void>;
  /** Ends a graceful stop's wait for in-flight calls early. */
  endDrain?: () => void;
  idleTimer?: NodeJS.Timeout;
  specialPaths?: Promise<SpecialPaths>;
}

/** What a plugin says about its paths (protocol `specialPaths`). */
export interface SpecialPaths {
  unauthenticated: string[];
  caseInsensitive: string[];
}

interface CrashRecord {
  recent: number[];
  level: number;
  blockedUntil: number;
  lastCrash: number;
  /** The last failure's text when it was a failed start, said again to the calls refused meanwhile. */
  startFailure?: string;
}

type MountMethod = 'handle' | 'exists' | 'invalidate' | 'help' | 'renew' | 'revoke' | 'periodic' | 'renewAuth';

/**
 * The plugin processes of one runner. At most one process per plugin identity (catalog type, name, version,
 * SHA-256 and launch settings) serves every mount of that plugin, unless the plugin says it does not multiplex, in
 * which case each mount gets its own. Processes are launched on first use; each mount is set up on a process
 * before its first call there (and again on a fresh process, or when the mount's facts change). The pool never
 * retries a call: a crash fails what was in flight, and the next call launches afresh.
 */
export class PluginPool {
  private readonly instances = new Map<string, Instance>();
  /** Every instance not yet gone, including those draining or starting: what seal and close must stop. */
  private readonly all = new Set<Instance>();
  /** Learnt from each plugin's hello; unknown until its first launch. */
  private readonly multiplex = new Map<string, boolean>();
  private readonly crashes = new Map<string, CrashRecord>();
  private readonly callTimeoutMs: number;
  private readonly idleMs: number;
  private readonly crashLoop: CrashLoopPolicy;
  private readonly log: PluginLog;
  private closed = false;

  constructor(private readonly options: PluginPoolOptions) {
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.crashLoop = { ...DEFAULT_CRASH_LOOP, ...options.crashLoop };
    this.log = options.log;
  }

  /** A host → plugin call for the target's mount, on the process serving it (launched and set up as needed). */
  async call<M extends MountMethod>(target: PoolTarget, method: M, params: HostToPlugin[M]['params']): Promise<HostToPlugin[M]['result']> {
    const inst = await this.acquire(target);
    try {
      return await this.callOn(inst, method, params);
    } finally {
      this.release(inst);
    }
  }

  /**
   * Several calls for the target's mount on one process, which is held (not stopped for idleness or drained away)
   * until `run` ends; `run` also learns the protocol the process said in its hello. A write on a plugin older than
   * protocol 4 asks `exists` and then `handle` here, so both reach the process that set the mount up.
   */
  async onProcess<T>(
    target: PoolTarget,
    run: (call: <M extends MountMethod>(method: M, params: HostToPlugin[M]['params']) => Promise<HostToPlugin[M]['result']>, protocol: number) => Promise<T>,
  ): Promise<T> {
    const inst = await this.acquire(target);
    try {
      return await run((method, params) => this.callOn(inst, method, params), inst.process!.hello.protocol);
    } finally {
      this.release(inst);
    }
  }

  /** The plugin's unauthenticated paths, asked once per process. */
  async specialPaths(target: PoolTarget): Promise<string[]> {
    return (await this.pathRules(target)).unauthenticated;
  }

  /** The plugin's unauthenticated and case-insensitive paths, asked once per process. */
  async pathRules(target: PoolTarget): Promise<SpecialPaths> {
    const inst = await this.acquire(target);
    try {
      const asked = (inst.specialPaths ??= this.callOn(inst, 'specialPaths', {}).then((r) => ({
        unauthenticated: r.unauthenticated,
        caseInsensitive: r.caseInsensitive ?? [],
      })));
      return await asked.catch((err) => {
        if (inst.specialPaths === asked) inst.specialPaths = undefined;
        throw err;
      });
    } finally {
      this.release(inst);
    }
  }

  /**
   * A mount was disabled: its plugin's `cleanup` runs on every live process here that serves it, and the mount is
   * forgotten. Failures are logged, never thrown: the mount is gone whatever the plugin says.
   */
  async cleanup(mountUuid: string): Promise<number> {
    let cleaned = 0;
    for (const inst of [...this.all]) {
      const setup = inst.setups.get(mountUuid);
      if (!setup || inst.stopping || !inst.process?.alive) continue;
      this.hold(inst);
      try {
        await setup.done;
        await this.callOn(inst, 'cleanup', { mount: mountUuid });
        cleaned++;
      } catch (err) {
        this.log.warn({ plugin: inst.entry.name, mount: mountUuid, err: messageOf(err) }, 'plugin cleanup of a disabled mount failed');
      } finally {
        inst.setups.delete(mountUuid);
        this.release(inst);
      }
      // A process that served only this mount has nothing left to do.
      if (inst.process && !inst.process.hello.multiplex) void this.stop(inst, 'mount disabled', 'drain');
    }
    return cleaned;
  }

  /**
   * Gracefully replaces the processes of a plugin (by catalog name) or of the given mounts: they take no new call,
   * finish the ones in flight, then shut down; the next call launches a fresh process. Resolves once they are gone.
   */
  async reload(request: { plugin?: string; mounts?: string[] }): Promise<number> {
    const mounts = new Set(request.mounts ?? []);
    const targets = [...this.all].filter(
      (inst) => !inst.stopping && ((request.plugin && inst.entry.name === request.plugin) || [...inst.setups.keys()].some((m) => mounts.has(m))),
    );
    await Promise.all(targets.map((inst) => this.stop(inst, 'reload', 'drain')));
    return targets.length;
  }

  /** Stops every process now (seal: in-flight calls fail, nothing could be stored for them anyway). */
  async stopAll(reason: string): Promise<void> {
    await Promise.all([...this.all].map((inst) => this.stop(inst, reason, 'shutdown')));
  }

  /** For the service's shutdown: stops everything and refuses further calls. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stopAll('runner stopping');
  }

  /** The processes serving calls now (not those draining or starting). */
  processes(): PoolProcessView[] {
    return [...this.instances.values()]
      .filter((inst) => inst.process?.alive)
      .map((inst) => ({
        plugin: inst.entry.name,
        version: inst.entry.version,
        pid: inst.process!.pid,
        mounts: [...inst.setups.keys()].sort(),
        inFlight: inst.inFlight,
      }));
  }

  // ---- acquiring a process ----

  /** An instance that is running, serves the target's mount and has it set up; held (release it). */
  private async acquire(target: PoolTarget): Promise<Instance> {
    for (;;) {
      if (this.options.sealed?.()) throw sealedError();
      if (this.closed) throw new CofferError('unavailable', 'the plugin runner is stopping');
      const inst = this.instanceFor(target);
      this.hold(inst);
      try {
        const proc = await inst.ready;
        // Stopped meanwhile (reload, idle, hang), or a non-multiplexing process that went to another mount.
        if (inst.stopping || (!proc.hello.multiplex && inst.key !== `${inst.identity}#${target.mount.id}`)) {
          this.release(inst);
          continue;
        }
        await this.ensureSetup(inst, target.mount);
        return inst;
      } catch (err) {
        this.release(inst);
        throw err;
      }
    }
  }

  private instanceFor(target: PoolTarget): Instance {
    const identity = identityOf(target.entry);
    const key = this.multiplex.get(identity) === false ? `${identity}#${target.mount.id}` : identity;
    const existing = this.instances.get(key);
    if (existing && !existing.stopping && (!existing.process || existing.process.alive)) return existing;
    // Dead but its exit not reported yet (a protocol breach kills before the process is reaped): start afresh.
    if (existing) this.instances.delete(key);
    this.refuseWhileLooping(identity, target.entry.name);
    return this.start(key, identity, target);
  }

  private start(key: string, identity: string, target: PoolTarget): Instance {
    const { entry } = target;
    const inst: Instance = {
      key,
      identity,
      entry,
      launchedFor: target.mount.id,
      setups: new Map(),
      inFlight: 0,
      stopping: false,
      ready: undefined as unknown as Promise<PluginProcess>,
    };
    inst.ready = this.options.launch(entry).then(
      (proc) => {
        inst.process = proc;
        this.options.events?.launched(entry.name, 'started');
        proc.once('exit', () => this.onExit(inst));
        this.multiplex.set(identity, proc.hello.multiplex);
        if (!proc.hello.multiplex && inst.key === identity) this.claimFor(inst);
        if (inst.stopping) void this.stop(inst, 'stopped while starting', 'shutdown');
        return proc;
      },
      (err: unknown) => {
        this.forget(inst);
        this.options.events?.launched(entry.name, 'failed');
        const failure = this.startFailure(entry.name, err);
        // A start that fails is counted as a crash: without it every request would relaunch (and, for a plugin that
        // hangs, wait out the start limit) again. The record is this identity's only, so nothing else waits on it.
        this.recordCrash(identity, entry.name, failure.message);
        throw failure;
      },
    );
    // Whoever waits on it reports the failure; this keeps an unwaited one from crashing the process.
    inst.ready.catch(() => undefined);
    this.instances.set(key, inst);
    this.all.add(inst);
    return inst;
  }

  /** A process that turned out not to multiplex belongs to the mount that launched it. */
  private claimFor(inst: Instance): void {
    if (this.instances.get(inst.key) === inst) this.instances.delete(inst.key);
    inst.key = `${inst.identity}#${inst.launchedFor}`;
    if (this.instances.has(inst.key)) {
      void this.stop(inst, 'not needed', 'shutdown');
      return;
    }
    this.instances.set(inst.key, inst);
  }

  private startFailure(name: string, err: unknown): CofferError {
    const own = `plugin ${name} `;
    let why: string;
    if (err instanceof CofferError) {
      why = err.message.startsWith(own) ? err.message.slice(own.length) : err.message;
      why = why.replace(/^could not be started: /, '');
    } else {
      // Not one of the launcher's own errors (a file system or cache failure): its text may show server paths.
      this.log.warn({ plugin: name, err: messageOf(err) }, 'plugin launch failed');
      why = 'internal error';
    }
    const failure = new CofferError('plugin-failed', `plugin ${name} failed to start: ${why}`);
    this.log.warn({ plugin: name }, failure.message);
    return failure;
  }

  private async ensureSetup(inst: Instance, mount: MountInfo): Promise<void> {
    // A tune or a move changes what the plugin was told: it is set up again with the new facts.
    const fingerprint = JSON.stringify(mount);
    let setup = inst.setups.get(mount.id);
    if (!setup || setup.fingerprint !== fingerprint) {
      const done = this.callOn(inst, 'setup', { mount }).then(() => undefined);
      const current: Setup = { fingerprint, done };
      setup = current;
      inst.setups.set(mount.id, current);
      done.catch(() => {
        if (inst.setups.get(mount.id) === current) inst.setups.delete(mount.id);
      });
    }
    await setup.done;
  }

  /** Every call goes through here: a call that times out leaves a process that may be stuck, so it is replaced. */
  private async callOn<M extends keyof HostToPlugin>(inst: Instance, method: M, params: HostToPlugin[M]['params']): Promise<HostToPlugin[M]['result']> {
    const proc = inst.process!;
    this.options.events?.called?.(inst.entry.name, method);
    try {
      return await proc.call(method, params, { timeoutMs: this.callTimeoutMs });
    } catch (err) {
      if (isTimeout(err, proc.name, method) && proc.alive) {
        this.log.warn({ plugin: inst.entry.name, pid: proc.pid, method, timeoutMs: this.callTimeoutMs }, 'plugin call timed out; process replaced');
        this.options.events?.timedOut(inst.entry.name, method);
        void this.stop(inst, 'hung', 'kill');
      }
      throw err;
    }
  }

  private hold(inst: Instance): void {
    inst.inFlight++;
    clearTimeout(inst.idleTimer);
    inst.idleTimer = undefined;
  }

  private release(inst: Instance): void {
    inst.inFlight--;
    if (inst.inFlight > 0) return;
    if (inst.stopping) {
      inst.endDrain?.();
    } else if (inst.process?.alive) {
      inst.idleTimer = setTimeout(() => {
        if (inst.inFlight === 0) void this.stop(inst, 'idle', 'drain');
      }, this.idleMs);
      inst.idleTimer.unref();
    }
  }

  // ---- stopping and crashes ----

  /**
   * Takes an instance out of service at once (the next call launches a fresh one) and stops its process:
   * `drain` lets the calls in flight finish first, `shutdown` asks the plugin to exit now, `kill` kills it. A later,
   * harder stop of the same instance cuts an earlier, gentler one short.
   */
  private stop(inst: Instance, reason: string, mode: 'drain' | 'shutdown' | 'kill'): Promise<void> {
    inst.stopping = true;
    clearTimeout(inst.idleTimer);
    if (this.instances.get(inst.key) === inst) this.instances.delete(inst.key);
    if (mode !== 'drain') inst.endDrain?.();
    if (mode === 'kill' && inst.process) void inst.process.kill();
    inst.stopped ??= (async () => {
      const proc = await inst.ready.catch(() => undefined);
      if (!proc) return;
      if (mode === 'drain' && inst.inFlight > 0 && proc.alive) {
        // Bounded: every held call has its own timeout, but a wait that outlives them all is not worth keeping.
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          inst.endDrain = resolve;
          timer = setTimeout(resolve, 2 * this.callTimeoutMs);
        });
        clearTimeout(timer);
      }
      if (proc.alive) this.log.info({ plugin: inst.entry.name, pid: proc.pid, reason }, 'stopping plugin process');
      await (mode === 'kill' ? proc.kill() : proc.shutdown());
    })();
    return inst.stopped;
  }

  private onExit(inst: Instance): void {
    const crashed = !inst.stopping;
    inst.stopping = true;
    clearTimeout(inst.idleTimer);
    this.forget(inst);
    inst.endDrain?.();
    if (crashed) {
      this.options.events?.crashed(inst.entry.name);
      this.recordCrash(inst.identity, inst.entry.name);
    }
  }

  private forget(inst: Instance): void {
    if (this.instances.get(inst.key) === inst) this.instances.delete(inst.key);
    this.all.delete(inst);
  }

  private recordCrash(identity: string, name: string, startFailure?: string): void {
    const now = Date.now();
    const policy = this.crashLoop;
    const record: CrashRecord = this.crashes.get(identity) ?? { recent: [], level: 0, blockedUntil: 0, lastCrash: 0 };
    record.startFailure = startFailure;
    if (now - record.lastCrash > policy.resetMs) record.level = 0;
    record.lastCrash = now;
    record.recent = record.recent.filter((t) => now - t < policy.windowMs);
    record.recent.push(now);
    if (record.recent.length >= policy.crashes) {
      record.level++;
      const delayMs = Math.min(policy.firstDelayMs * 2 ** (record.level - 1), policy.maxDelayMs);
      record.blockedUntil = now + delayMs;
      record.recent = [];
      this.log.warn(
        { plugin: name, crashes: policy.crashes, windowMs: policy.windowMs, delayMs },
        `plugin ${name} ${startFailure ? 'keeps failing to start' : 'is crash-looping'}; relaunch refused for ${Math.ceil(delayMs / 1000)} s`,
      );
    }
    this.crashes.set(identity, record);
  }

  private refuseWhileLooping(identity: string, name: string): void {
    const record = this.crashes.get(identity);
    const left = record ? record.blockedUntil - Date.now() : 0;
    if (left <= 0) return;
    const wait = `next attempt in ${Math.ceil(left / 1000)} s`;
    throw new CofferError('plugin-failed', record!.startFailure ? `${record!.startFailure}; ${wait}` : `plugin ${name} is crash-looping; ${wait}`);
  }
}

/**
 * What makes two processes interchangeable: the same bytes (SHA-256) started the same way. A re-registration that
 * changes the command, arguments or environment is a different identity, so it takes effect on the next call.
 */
export function identityOf(entry: CatalogEntry): string {
  const launch = createHash('sha256')
    .update(JSON.stringify([entry.command, entry.args, entry.env]))
    .digest('hex')
    .slice(0, 16);
  return `${entry.type}/${entry.name}/${entry.version}/${entry.sha256.toLowerCase()}/${launch}`;
}

/** The host side's own timeout error (docs/plugin-protocol.md: `plugin <name> did not answer <method> within <N> ms`). */
function isTimeout(err: unknown, name: string, method: string): boolean {
  return err instanceof CofferError && err.code === 'plugin-failed' && err.message.startsWith(`plugin ${name} did not answer ${method} within `);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
