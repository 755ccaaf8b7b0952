import type { Logger } from 'pino';
import { KeyringBarrier, Keyring, type Barrier } from '../barrier/index.js';
import type { Bus, Subscription } from '../bus/bus.js';
import { barrierSubjects, type KeyringMessage } from '../contracts/index.js';

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

  constructor(private readonly log: Logger) {}

  get sealed(): boolean {
    return this.barrier === undefined;
  }

  /** For codecs and stores: the barrier while unsealed, undefined while sealed. */
  readonly current = (): Barrier | undefined => this.barrier;

  wireKeyring(): string | undefined {
    return this.keyring?.toWire();
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
      this.log.info('unsealed');
      await runHooks(this.unsealHooks, this.log, 'unseal');
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
 */
export class BarrierLink {
  private subscriptions: Subscription[] = [];
  private keyringResponder?: Subscription;

  constructor(
    private readonly state: BarrierState,
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.subscriptions.push(
      this.bus.subscribe(barrierSubjects.unsealed, (msg) => this.adopt(msg as KeyringMessage)),
      this.bus.subscribe(barrierSubjects.sealed, () => this.state.seal()),
    );
    this.state.onUnseal(() => this.answerKeyringRequests());
    this.state.onSeal(() => {
      this.keyringResponder?.unsubscribe();
      this.keyringResponder = undefined;
    });
    await this.bus.flush();
    try {
      const reply = await this.bus.request<KeyringMessage>(barrierSubjects.keyring, null, { timeoutMs: 1_500 });
      await this.adopt(reply);
      this.log.info('joined an unsealed cluster');
    } catch {
      this.log.info('starting sealed: no unsealed peer answered');
    }
  }

  /** Tells every process to unseal with this process's keyring (after sys/unseal, or to heal a sealed straggler). */
  announceUnsealed(): void {
    const keyring = this.state.wireKeyring();
    if (keyring) this.bus.publish(barrierSubjects.unsealed, { keyring } satisfies KeyringMessage);
  }

  announceSealed(): void {
    this.bus.publish(barrierSubjects.sealed, {});
  }

  stop(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.keyringResponder?.unsubscribe();
    this.subscriptions = [];
  }

  private async adopt(msg: KeyringMessage): Promise<void> {
    let keyring: Keyring;
    try {
      keyring = Keyring.fromWire(String(msg?.keyring ?? ''));
    } catch {
      this.log.warn('ignored a malformed keyring message');
      return;
    }
    await this.state.unseal(keyring);
  }

  private answerKeyringRequests(): void {
    if (this.keyringResponder) return;
    this.keyringResponder = this.bus.subscribe(barrierSubjects.keyring, () => {
      const keyring = this.state.wireKeyring();
      if (!keyring) throw new Error('sealed');
      return { keyring } satisfies KeyringMessage;
    });
  }
}
