/** Helpers for the token tests; not part of the gateway's surface. */
import type { DataSource } from 'typeorm';
import { Keyring, KeyringBarrier, type Barrier } from '#barrier';
import { qualifiedTable } from '#event-store';
import { openTestStore, uniqueName } from '../../../../libs/event-store/testing.js';
import { TokenStore, type TokenStoreOptions } from './token-store.js';

export interface TestTokens {
  dataSource: DataSource;
  store: TokenStore;
  /** `"schema"."coffer_tokens"`, for tests that look at the raw rows. */
  table: string;
  /** What the store's `barrier()` returns; `undefined` seals it. */
  barrier: Barrier | undefined;
  /** The store's clock (ms); move it with `advance`. */
  clock: { now: number };
  advance(seconds: number): void;
  /** Another store over the same table (its own options), sharing barrier and clock. */
  another(options?: Partial<TokenStoreOptions>): TokenStore;
  drop(): Promise<void>;
}

/** A migrated schema of its own (others test against the same database at once), with a real keyring barrier. */
export async function openTestTokens(options: Partial<TokenStoreOptions> = {}): Promise<TestTokens> {
  const { dataSource, drop } = await openTestStore({ poolSize: 8, applicationName: uniqueName('coffer_tokens_test') });
  const clock = { now: Date.UTC(2026, 10, 29, 12, 0, 0) };
  const t: TestTokens = {
    dataSource,
    table: qualifiedTable(dataSource, 'coffer_tokens'),
    barrier: new KeyringBarrier(Keyring.create()),
    clock,
    advance(seconds) {
      clock.now += seconds * 1000;
    },
    another(more = {}) {
      return new TokenStore(dataSource, { barrier: () => t.barrier, now: () => clock.now, ...options, ...more });
    },
    store: undefined as unknown as TokenStore,
    drop,
  };
  t.store = t.another();
  return t;
}
