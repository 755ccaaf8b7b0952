import type { MigrationInterface, QueryRunner } from 'typeorm';
import { qualifiedTable } from '../sql.js';

/**
 * Leases (dynamic secrets): one row per lease. `data` (the plugin's internal data, TTLs, times) is encrypted by the
 * barrier and bound to the lease id; what stays plain is what SQL must find leases by: the id (a path and a random
 * suffix, compared byte-wise so prefixes work whatever the locale), the mount, the HMAC of the obtaining token's
 * accessor, the expiry, and the revocation retry state.
 */
export class CreateLeases1796400000000 implements MigrationInterface {
  readonly name = 'CreateLeases1796400000000';

  async up(runner: QueryRunner): Promise<void> {
    const table = qualifiedTable(runner.connection, 'coffer_leases');
    await runner.query(`
      CREATE TABLE ${table} (
        lease_id    text        COLLATE "C" PRIMARY KEY,
        mount_uuid  uuid        NOT NULL,
        token_hmac  text,
        expires_at  timestamptz NOT NULL,
        retry_at    timestamptz NOT NULL DEFAULT '-infinity',
        attempts    integer     NOT NULL DEFAULT 0,
        data        bytea       NOT NULL
      )`);
    await runner.query(`CREATE INDEX coffer_leases_expiry ON ${table} (expires_at)`);
    await runner.query(`CREATE INDEX coffer_leases_token ON ${table} (token_hmac)`);
    await runner.query(`CREATE INDEX coffer_leases_mount ON ${table} (mount_uuid)`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`DROP TABLE ${qualifiedTable(runner.connection, 'coffer_leases')}`);
  }
}
