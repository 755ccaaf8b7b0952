import type { MigrationInterface, QueryRunner } from 'typeorm';
import { qualifiedTable } from '../sql.js';

/**
 * Plugin storage: one row per (mount, key), the value encrypted by the barrier and bound to its mount and key by
 * the associated data. Keys stay plain, as Vault's physical paths do, so a list is a query; they are compared
 * byte-wise (collation "C") so list order and prefix matching do not depend on the database's locale.
 */
export class CreatePluginStorage1796140800000 implements MigrationInterface {
  readonly name = 'CreatePluginStorage1796140800000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`
      CREATE TABLE ${qualifiedTable(runner.connection, 'coffer_plugin_storage')} (
        mount_uuid  uuid        NOT NULL,
        key         text        COLLATE "C" NOT NULL,
        value       bytea       NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (mount_uuid, key)
      )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`DROP TABLE ${qualifiedTable(runner.connection, 'coffer_plugin_storage')}`);
  }
}
