import type { DataSource } from 'typeorm';
import { CofferError } from '#contracts';
import { qualifiedTable } from '#event-store';

/** The stored seal configuration: plain by design, since it must be readable while sealed. */
export interface SealRow {
  secretShares: number;
  secretThreshold: number;
  /** The keyring, encrypted under the root key. */
  keyring: Buffer;
  clusterId: string;
}

const UNIQUE_VIOLATION = '23505';

export class SealStore {
  private readonly table: string;
  /** Initialization is forever: once seen, the row is never re-read. */
  private cached?: SealRow;

  constructor(private readonly dataSource: DataSource) {
    this.table = qualifiedTable(dataSource, 'coffer_seal');
  }

  async read(): Promise<SealRow | undefined> {
    if (this.cached) return this.cached;
    const rows: { secret_shares: number; secret_threshold: number; keyring: Buffer; cluster_id: string }[] =
      await this.dataSource.query(`SELECT secret_shares, secret_threshold, keyring, cluster_id FROM ${this.table} WHERE id = 1`);
    if (rows.length === 0) return undefined;
    const r = rows[0];
    this.cached = { secretShares: r.secret_shares, secretThreshold: r.secret_threshold, keyring: r.keyring, clusterId: r.cluster_id };
    return this.cached;
  }

  /** One row, id 1: two gateways initializing at once race on the primary key and exactly one wins. */
  async create(row: SealRow): Promise<void> {
    try {
      await this.dataSource.query(
        `INSERT INTO ${this.table} (id, secret_shares, secret_threshold, keyring, cluster_id) VALUES (1, $1, $2, $3, $4)`,
        [row.secretShares, row.secretThreshold, row.keyring, row.clusterId],
      );
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION || (err as { driverError?: { code?: string } }).driverError?.code === UNIQUE_VIOLATION) {
        throw new CofferError('invalid-request', 'Vault is already initialized');
      }
      throw err;
    }
    this.cached = row;
  }
}
