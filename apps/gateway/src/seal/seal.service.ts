import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  Keyring,
  KeyringBarrier,
  checkUnsealKeyLength,
  combineShares,
  generateRootKey,
  openKeyring,
  parseUnsealKey,
  sealKeyring,
  splitRootKey,
  validateSealConfig,
  type Barrier,
} from '#barrier';
import { BUILD_DATE, COFFER_VERSION, CofferError } from '#contracts';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import { SealStore } from './seal.store.js';
import { UNSEAL_PROGRESS_SUBJECT, UnsealProgress, isUnsealProgressMessage } from './unseal-progress.js';

/** Issues the root token at init, under the new keyring (the cluster is not unsealed yet). */
export const ROOT_TOKEN_ISSUER = Symbol('coffer.gateway.root-token-issuer');
export type RootTokenIssuer = (barrier: Barrier, id?: string) => Promise<string>;

export interface InitRequest {
  secretShares: number;
  secretThreshold: number;
  /** The dev server's `-dev-root-token-id`. */
  rootTokenId?: string;
}

export interface InitResult {
  keys: string[];
  keys_base64: string[];
  root_token: string;
}

export interface SealStatus {
  type: 'shamir';
  initialized: boolean;
  sealed: boolean;
  t: number;
  n: number;
  progress: number;
  nonce: string;
  version: string;
  build_date: string;
  migration: boolean;
  cluster_name?: string;
  cluster_id?: string;
  recovery_seal: boolean;
  storage_type: string;
}

/**
 * Init, unseal and seal, as Vault's Shamir seal. Unseal progress is cluster-wide, unlike Vault's per-node progress:
 * a share given to any gateway counts on every gateway (unseal-progress.ts), so shares may arrive through a load
 * balancer. Whichever gateway reaches the threshold opens the keyring, and every process gets it over the bus.
 */
@Injectable()
export class SealService {
  private readonly progress = new UnsealProgress();

  constructor(
    @Inject(SERVICE_CONTEXT) private readonly ctx: Pick<ServiceContext, 'barrier' | 'barrierLink' | 'storageType' | 'log' | 'bus' | 'instance'>,
    private readonly store: SealStore,
    @Inject(ROOT_TOKEN_ISSUER) private readonly issueRootToken: RootTokenIssuer,
  ) {
    ctx.bus.subscribe(UNSEAL_PROGRESS_SUBJECT, (m) => this.heard(m));
    // However the cluster got unsealed or sealed (through this gateway or another), partial progress is void.
    ctx.barrier.onUnseal(() => this.progress.clear());
    ctx.barrier.onSeal(() => this.progress.clear());
  }

  /** A share or a reset from another gateway (this one's own were applied when sent). */
  private async heard(m: unknown): Promise<void> {
    if (!isUnsealProgressMessage(m) || m.from === this.ctx.instance) return;
    if (m.kind === 'reset') {
      if (m.nonce === undefined || m.nonce === this.progress.nonce) this.progress.clear();
      return;
    }
    if (!this.ctx.barrier.sealed) return;
    let share: Buffer;
    try {
      share = this.ctx.barrierLink.openFromMember(m.share);
    } catch (err) {
      this.ctx.log.warn({ err: (err as Error).message, from: m.from }, 'ignored an unseal share not sealed for members');
      return;
    }
    try {
      this.progress.add(share, m.nonce);
    } finally {
      share.fill(0);
    }
    // Two shares given at once to two gateways: each may reach the threshold on the other's broadcast, so either
    // completes (opening the same keyring twice is harmless).
    const row = await this.store.read();
    if (row && this.ctx.barrier.sealed && this.progress.count >= row.secretThreshold) {
      // A wrong share is the caller's error, reported by the gateway it went to; here it only ends the attempt.
      await this.complete(row).catch((err: unknown) => this.ctx.log.info({ error: (err as Error).message }, 'unseal attempt failed'));
    }
  }

  async initialized(): Promise<boolean> {
    return (await this.store.read()) !== undefined;
  }

  async init(request: InitRequest): Promise<InitResult> {
    validateSealConfig(request.secretShares, request.secretThreshold);
    if (await this.initialized()) throw new CofferError('invalid-request', 'Vault is already initialized');
    const rootKey = generateRootKey();
    const keyring = Keyring.create();
    try {
      const shares = await splitRootKey(rootKey, request.secretShares, request.secretThreshold);
      // The root token entry is written first: if the seal row then loses a race, the stray entry is unreadable
      // under any keyring that wins, and nothing half-initialized is ever visible.
      const rootToken = await this.issueRootToken(new KeyringBarrier(keyring), request.rootTokenId);
      await this.store.create({
        secretShares: request.secretShares,
        secretThreshold: request.secretThreshold,
        keyring: sealKeyring(rootKey, keyring),
        clusterId: randomUUID(),
      });
      this.ctx.log.info({ shares: request.secretShares, threshold: request.secretThreshold }, 'initialized');
      return {
        keys: shares.map((s) => s.toString('hex')),
        keys_base64: shares.map((s) => s.toString('base64')),
        root_token: rootToken,
      };
    } finally {
      rootKey.fill(0);
      keyring.wipe();
    }
  }

  /** One share; at the threshold, the keyring is opened and the whole cluster unsealed. */
  async unseal(key: string | undefined, reset: boolean): Promise<SealStatus> {
    const row = await this.store.read();
    if (!row) throw new CofferError('invalid-request', 'Vault is not initialized');
    if (reset) {
      if (!this.ctx.barrier.sealed) throw new CofferError('invalid-request', 'vault is unsealed');
      this.progress.clear();
      this.ctx.bus.publish(UNSEAL_PROGRESS_SUBJECT, { kind: 'reset', from: this.ctx.instance });
      return this.status();
    }
    if (key === undefined) {
      throw new CofferError('invalid-request', "'key' must be specified in request body as JSON, or 'reset' set to true");
    }
    const share = parseUnsealKey(key);
    if (!this.ctx.barrier.sealed) return this.status();
    checkUnsealKeyLength(share);
    const nonce = this.progress.current();
    if (this.progress.add(share, nonce)) {
      this.ctx.bus.publish(UNSEAL_PROGRESS_SUBJECT, { kind: 'share', nonce: this.progress.nonce, share: this.ctx.barrierLink.sealForMembers(share), from: this.ctx.instance });
    }
    share.fill(0);
    if (this.progress.count < row.secretThreshold) return this.status();
    await this.complete(row);
    return this.status();
  }

  /** At the threshold: combine, open the keyring, unseal this process and tell the cluster. */
  private async complete(row: { keyring: Parameters<typeof openKeyring>[1] }): Promise<void> {
    const nonce = this.progress.nonce;
    const shares = this.progress.take();
    if (shares.length === 0) return;
    let rootKey: Buffer | undefined;
    try {
      rootKey = await combineShares(shares);
      const keyring = openKeyring(rootKey, row.keyring);
      await this.ctx.barrier.unseal(keyring);
      // Waits for the sealed processes to fetch the keyring (encrypted to each), so the cluster answers at once.
      await this.ctx.barrierLink.announceUnsealed();
    } catch (err) {
      // A wrong share: this attempt is over on every gateway, as Vault resets its progress after a failed unseal.
      this.ctx.bus.publish(UNSEAL_PROGRESS_SUBJECT, { kind: 'reset', nonce, from: this.ctx.instance });
      throw err;
    } finally {
      rootKey?.fill(0);
      for (const s of shares) s.fill(0);
    }
  }

  async seal(): Promise<void> {
    this.progress.clear();
    this.ctx.barrierLink.announceSealed();
    await this.ctx.barrier.seal();
  }

  async status(): Promise<SealStatus> {
    const row = await this.store.read();
    // Sealed to a client until this gateway has replayed after the unseal, as its requests are (BarrierState.ready).
    const sealed = !this.ctx.barrier.ready;
    return {
      type: 'shamir',
      initialized: row !== undefined,
      sealed,
      t: row?.secretThreshold ?? 0,
      n: row?.secretShares ?? 0,
      progress: sealed ? this.progress.count : 0,
      nonce: sealed ? this.progress.nonce : '',
      version: COFFER_VERSION,
      build_date: BUILD_DATE,
      migration: false,
      ...(sealed || !row ? {} : { cluster_name: `coffer-cluster-${row.clusterId.slice(0, 8)}`, cluster_id: row.clusterId }),
      recovery_seal: false,
      storage_type: this.ctx.storageType,
    };
  }

  get clusterId(): Promise<string | undefined> {
    return this.store.read().then((r) => r?.clusterId);
  }
}
