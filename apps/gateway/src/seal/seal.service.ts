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
 * Init, unseal and seal, as Vault's Shamir seal. Unseal progress is per gateway, as it is per node in Vault: the
 * shares of one unseal go to one gateway. Once it has the keyring, every process of the cluster gets it over the bus.
 */
@Injectable()
export class SealService {
  private progress?: { nonce: string; shares: Buffer[] };

  constructor(
    @Inject(SERVICE_CONTEXT) private readonly ctx: Pick<ServiceContext, 'barrier' | 'barrierLink' | 'storageType' | 'log'>,
    private readonly store: SealStore,
    @Inject(ROOT_TOKEN_ISSUER) private readonly issueRootToken: RootTokenIssuer,
  ) {}

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
      this.progress = undefined;
      return this.status();
    }
    if (key === undefined) {
      throw new CofferError('invalid-request', "'key' must be specified in request body as JSON, or 'reset' set to true");
    }
    const share = parseUnsealKey(key);
    if (!this.ctx.barrier.sealed) return this.status();
    checkUnsealKeyLength(share);
    const progress = (this.progress ??= { nonce: randomUUID(), shares: [] });
    if (progress.shares.some((s) => s.equals(share))) return this.status();
    progress.shares.push(share);
    if (progress.shares.length < row.secretThreshold) return this.status();

    this.progress = undefined;
    const rootKey = await combineShares(progress.shares);
    try {
      const keyring = openKeyring(rootKey, row.keyring);
      await this.ctx.barrier.unseal(keyring);
      this.ctx.barrierLink.announceUnsealed();
    } finally {
      rootKey.fill(0);
      for (const s of progress.shares) s.fill(0);
    }
    return this.status();
  }

  async seal(): Promise<void> {
    this.progress = undefined;
    this.ctx.barrierLink.announceSealed();
    await this.ctx.barrier.seal();
  }

  async status(): Promise<SealStatus> {
    const row = await this.store.read();
    const sealed = this.ctx.barrier.sealed;
    return {
      type: 'shamir',
      initialized: row !== undefined,
      sealed,
      t: row?.secretThreshold ?? 0,
      n: row?.secretShares ?? 0,
      progress: this.progress?.shares.length ?? 0,
      nonce: this.progress?.nonce ?? '',
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
