import type { MigrationInterface, QueryRunner } from 'typeorm';
import { qualifiedTable } from '../sql.js';

/**
 * The seal configuration with the keyring encrypted under the root key (the only row readable while sealed, by
 * design), and the token store: entries encrypted by the barrier, found by an HMAC of the token or of its accessor,
 * so neither is ever stored. `expires_at` and `parent_hmac` stay plain so expiry and revocation of children can be
 * found without decrypting every entry.
 */
export class CreateSealAndTokens1795968000000 implements MigrationInterface {
  readonly name = 'CreateSealAndTokens1795968000000';

  async up(runner: QueryRunner): Promise<void> {
    const seal = qualifiedTable(runner.connection, 'coffer_seal');
    const tokens = qualifiedTable(runner.connection, 'coffer_tokens');
    await runner.query(`
      CREATE TABLE ${seal} (
        id                integer     PRIMARY KEY CHECK (id = 1),
        secret_shares     integer     NOT NULL,
        secret_threshold  integer     NOT NULL,
        keyring           bytea       NOT NULL,
        cluster_id        uuid        NOT NULL,
        initialized_at    timestamptz NOT NULL DEFAULT now()
      )`);
    await runner.query(`
      CREATE TABLE ${tokens} (
        id_hmac        text        PRIMARY KEY,
        accessor_hmac  text        NOT NULL UNIQUE,
        parent_hmac    text,
        expires_at     timestamptz,
        data           bytea       NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now()
      )`);
    await runner.query(`CREATE INDEX ON ${tokens} (parent_hmac)`);
    await runner.query(`CREATE INDEX ON ${tokens} (expires_at)`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`DROP TABLE ${qualifiedTable(runner.connection, 'coffer_tokens')}`);
    await runner.query(`DROP TABLE ${qualifiedTable(runner.connection, 'coffer_seal')}`);
  }
}
