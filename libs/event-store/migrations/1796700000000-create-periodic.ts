import type { MigrationInterface, QueryRunner } from 'typeorm';
import { qualifiedTable } from '../sql.js';

/**
 * The plugins' scheduled `periodic` calls (protocol 3, Vault's PeriodicFunc): one row per mount. A runner claims a
 * mount's call with an UPDATE that moves `due_at` into the future only where it is due, so exactly one runner of the
 * cluster makes it per interval (a concurrent UPDATE re-reads the row after the first commits and no longer finds it
 * due). `claimed_by` lets the holder release its claim early; `unsupported_sha` is the SHA-256 of a plugin that
 * answered -32601, so it is never asked again until the mount runs another build.
 */
export class CreatePeriodic1796700000000 implements MigrationInterface {
  readonly name = 'CreatePeriodic1796700000000';

  async up(runner: QueryRunner): Promise<void> {
    const table = qualifiedTable(runner.connection, 'coffer_periodic');
    await runner.query(`
      CREATE TABLE ${table} (
        mount_uuid      uuid        PRIMARY KEY,
        due_at          timestamptz NOT NULL DEFAULT '-infinity',
        claimed_by      text,
        unsupported_sha text
      )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`DROP TABLE ${qualifiedTable(runner.connection, 'coffer_periodic')}`);
  }
}
