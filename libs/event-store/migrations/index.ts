import type { MigrationInterface } from 'typeorm';
import { CreateCofferEvents1795910400000 } from './1795910400000-create-coffer-events.js';
import { CreateSealAndTokens1795968000000 } from './1795968000000-create-seal-and-tokens.js';
import { CreatePluginStorage1796140800000 } from './1796140800000-create-plugin-storage.js';
import { CreateLeases1796400000000 } from './1796400000000-create-leases.js';
import { LeaseClaims1796500000000 } from './1796500000000-lease-claims.js';
import { CreatePeriodic1796700000000 } from './1796700000000-create-periodic.js';

/**
 * Every schema change, oldest first. A new table (keyring, tokens, plugin storage) is a new class appended here,
 * named `<Name><13-digit ms timestamp>`; a migration that has run is never edited.
 */
export const migrations: (new () => MigrationInterface)[] = [
  CreateCofferEvents1795910400000,
  CreateSealAndTokens1795968000000,
  CreatePluginStorage1796140800000,
  CreateLeases1796400000000,
  LeaseClaims1796500000000,
  CreatePeriodic1796700000000,
];
