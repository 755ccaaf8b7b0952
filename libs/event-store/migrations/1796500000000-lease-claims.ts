import type { MigrationInterface, QueryRunner } from 'typeorm';
import { qualifiedTable } from '../sql.js';

/**
 * A lease being renewed or revoked is claimed by a time (`claimed_until`) instead of a row lock held across the
 * plugin call: a held lock keeps a database connection for as long as the plugin takes, and the dev server's single
 * connection is then the one the plugin's own storage calls wait for. A claim whose holder crashed runs out and the
 * lease is taken again.
 */
export class LeaseClaims1796500000000 implements MigrationInterface {
  readonly name = 'LeaseClaims1796500000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`ALTER TABLE ${qualifiedTable(runner.connection, 'coffer_leases')} ADD COLUMN claimed_until timestamptz NOT NULL DEFAULT '-infinity'`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`ALTER TABLE ${qualifiedTable(runner.connection, 'coffer_leases')} DROP COLUMN claimed_until`);
  }
}
