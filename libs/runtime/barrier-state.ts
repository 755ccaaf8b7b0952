import type { Logger } from 'pino';
import { KeyringBarrier, Keyring, type Barrier } from '../barrier/index.js';
import type { Bus, Subscription } from '../bus/bus.js';
import { CofferError, barrierSubjects, type UnsealedNotice } from '../contracts/index.js';
import { ExchangeError, KeyringRequester, sealKeyringFor, sealForMembers, openFromMember } from './keyring-exchange.js';

type Hook = () => Promise<void> | void;

/**
 * The barrier of one process: sealed until it is handed the keyring, which then lives in memory only. Services
 * register what to do on unseal (replay their projections) and on seal (forget state, stop plugins).
 */
export class BarrierState {
  private keyring?: Keyring;
  private barrier?: KeyringBarrier;
  private readonly unsealHooks: Hook[] = [];
  private readonly sealHooks: Hook[] = [];
  /** Unseal and seal run one after the other, never interleaved. */
  private transition: Promise<void> = Promise.resolve();
  /** The keyring is in, the unseal hooks (projection replays) are still running. */
  private unsealing = false;

  constructor(private readonly log: Logger) {}

  /** No keyring: nothing stored can be read. */
  get sealed(): boolean {
    return this.barrier === undefined;
  }

  /**
   * Unsealed and done unsealing: the unseal hooks have replayed what the services serve from. Request entry points
   * ask this, not `sealed`: while the hooks run, a mount table or catalog is still empty, and a request answered then
   * would hear `no handler for route` or `plugin not found` for what exists; it hears `Vault is sealed`, as from a
   * Vault node that has not finished unsealing.
   */
  get ready(): boolean {
    return this.barrier !== undefined && !this.unsealing;
  }

  /** For codecs and stores: the barrier while unsealed, undefined while sealed. */
  readonly current = (): Barrier | undefined => this.barrier;

  /** A fresh copy of the keyring's bytes for one exchange; the caller zeroes it. Undefined while sealed. */
  keyringBytes(): Buffer | undefined {
    return this.keyring?.serialize();
  }

  onUnseal(hook: Hook): void {
    this.unsealHooks.push(hook);
  }

  onSeal(hook: Hook): void {
    this.sealHooks.push(hook);
  }

  unseal(keyring: Keyring): Promise<void> {
    return this.serialize(async () => {
      if (this.keyring && sameKeyring(this.keyring, keyring)) {
        keyring.wipe();
        return;
      }
      this.keyring?.wipe();
      this.keyring = keyring;
      this.barrier = new KeyringBarrier(keyring);
      this.unsealing = true;
      try {
        await runHooks(this.unsealHooks, this.log, 'unseal');
      } finally {
        this.unsealing = false;
      }
      this.log.info('unsealed');
    });
  }

  seal(): Promise<void> {
    return this.serialize(async () => {
      if (!this.barrier) return;
      // Zero the key bytes now rather than whenever the collector gets to them.
      this.keyring?.wipe();
      this.keyring = undefined;
      this.barrier = undefined;
      this.log.info('sealed');
      await runHooks(this.sealHooks, this.log, 'seal');
    });
  }

  private serialize(step: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(step, step);
    return this.transition;
  }
}

/** Compared as bytes that are zeroed afterwards: no key-bearing string is made for it. */
function sameKeyring(a: Keyring, b: Keyring): boolean {
  const x = a.serialize();
  const y = b.serialize();
  try {
    return x.equals(y);
  } finally {
    x.fill(0);
    y.fill(0);
  }
}

async function runHooks(hooks: Hook[], log: Logger, what: string): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook();
    } catch (err) {
      // One service failing to replay must not keep the others sealed: it logs, and its timer retries.
      log.error({ err: (err as Error)?.message }, `${what} hook failed`);
    }
  }
}

/**
 * Ties a process's barrier to the cluster: hears unseal and seal broadcasts, answers keyring requests while
 * unsealed, and asks a peer for the keyring once at start so a process started into an unsealed cluster joins it.
 *
 * The keyring never crosses the bus in clear (keyring-exchange.ts): the unseal broadcast says only *that* the cluster
 * unsealed; each sealed process then asks for the keyring with a fresh X25519 public key, and an unsealed member
 * answers with the keyring sealed to that key. Who may publish or hear these subjects at all is NATS's job (the
 * permissions `coffer operator bus-config` writes).
 */
export class BarrierLink {
  private subscriptions: Subscription[] = [];
  private keyringResponder?: Subscription;
  /** Heard an unseal broadcast and no seal since: a failed join is retried until it works. */
  private clusterUnsealed = false;
  private retry?: NodeJS.Timeout;
  private joining?: Promise<boolean>;
  /** When this process last answered a keyring request (announceUnsealed waits for them to die down). */
  private lastAnswer = 0;

  constructor(
    private readonly state: BarrierState,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly options: BarrierLinkOptions = {},
  ) {}

  /** A secret for every member's eyes only (an unseal share broadcast to the gateways): see sealForMembers. */
  sealForMembers(plain: Buffer): string {
    return sealForMembers(plain, this.options.membershipKey);
  }

  /** Throws ExchangeError for what was not sealed under this cluster's membership key. */
  openFromMember(sealed: string): Buffer {
    return openFromMember(sealed, this.options.membershipKey);
  }

  async start(): Promise<void> {
    this.subscriptions.push(
      this.bus.subscribe(barrierSubjects.unsealed, () => {
        this.clusterUnsealed = true;
        void this.join();
      }),
      this.bus.subscribe(barrierSubjects.sealed, () => {
        this.clusterUnsealed = false;
        return this.state.seal();
      }),
    );
    this.state.onUnseal(() => this.answerKeyringRequests());
    this.state.onSeal(() => {
      this.keyringResponder?.unsubscribe();
      this.keyringResponder = undefined;
    });
    await this.bus.flush();
    if (await this.join(1_500)) this.log.info('joined an unsealed cluster');
    else this.log.info('starting sealed: no unsealed peer answered');
  }

  /**
   * Tells every process the cluster is unsealed (after sys/unseal); sealed ones then ask a member for the keyring.
   * Resolves once the requests that follow have died down (no new one for a moment, a few seconds at most), so the
   * unseal answer comes after the cluster has joined, as it did when the broadcast carried the keyring itself.
   */
  async announceUnsealed(): Promise<void> {
    if (this.state.sealed) return;
    this.lastAnswer = Date.now();
    this.bus.publish(barrierSubjects.unsealed, {} satisfies UnsealedNotice);
    await this.bus.flush();
    const deadline = Date.now() + (this.options.settleMaxMs ?? 3_000);
    while (Date.now() < deadline && Date.now() - this.lastAnswer < (this.options.settleQuietMs ?? 250)) {
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  announceSealed(): void {
    this.bus.publish(barrierSubjects.sealed, {});
  }

  stop(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.keyringResponder?.unsubscribe();
    this.subscriptions = [];
    clearTimeout(this.retry);
    this.retry = undefined;
  }

  /** Asks the members for the keyring, sealed to a key pair made for this request. True once unsealed. */
  private join(timeoutMs = 5_000): Promise<boolean> {
    if (!this.state.sealed) return Promise.resolve(true);
    this.joining ??= this.requestKeyring(timeoutMs).finally(() => (this.joining = undefined));
    return this.joining;
  }

  private async requestKeyring(timeoutMs: number): Promise<boolean> {
    const requester = new KeyringRequester(this.options.membershipKey);
    let bytes: Buffer | undefined;
    try {
      const answer = await this.bus.request(barrierSubjects.keyring, requester.request(), { timeoutMs });
      bytes = requester.open(answer);
      await this.state.unseal(Keyring.parse(bytes));
      return true;
    } catch (err) {
      if (err instanceof ExchangeError) this.log.warn({ err: err.message }, 'refused a keyring answer');
      if (this.clusterUnsealed && this.state.sealed) {
        clearTimeout(this.retry);
        this.retry = setTimeout(() => void this.join(), this.options.retryMs ?? 5_000);
        this.retry.unref();
      }
      return false;
    } finally {
      bytes?.fill(0);
    }
  }

  private answerKeyringRequests(): void {
    if (this.keyringResponder) return;
    this.keyringResponder = this.bus.subscribe(barrierSubjects.keyring, (request) => {
      const keyring = this.state.keyringBytes();
      if (!keyring) throw new CofferError('sealed', 'sealed');
      this.lastAnswer = Date.now();
      try {
        return sealKeyringFor(request, keyring, this.options.membershipKey);
      } catch (err) {
        if (err instanceof ExchangeError) {
          this.log.warn({ err: err.message }, 'refused a keyring request');
          throw new CofferError('permission-denied', 'keyring request refused');
        }
        throw err;
      } finally {
        keyring.fill(0);
      }
    });
  }
}

export interface BarrierLinkOptions {
  /** The cluster's membership key (bus `membership_key_file`): mixed into every keyring exchange when set. */
  membershipKey?: Buffer;
  /** How long a failed join waits before it asks again (while the cluster is known to be unsealed). */
  retryMs?: number;
  /** announceUnsealed: how long without a keyring request counts as done, and the most it waits. */
  settleQuietMs?: number;
  settleMaxMs?: number;
}
