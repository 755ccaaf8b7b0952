import type { MigrationInterface, QueryRunner } from 'typeorm';
import { qualifiedTable } from '../sql.js';

export class CreateCofferEvents1795910400000 implements MigrationInterface {
  // Spelled out because TypeORM would otherwise take the class name, which a minifier may rename.
  readonly name = 'CreateCofferEvents1795910400000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`
      CREATE TABLE ${qualifiedTable(runner.connection, 'coffer_events')} (
        position    bigserial   PRIMARY KEY,
        stream      text        NOT NULL,
        version     integer     NOT NULL CHECK (version > 0),
        type        text        NOT NULL,
        data        bytea       NOT NULL,
        metadata    jsonb       NOT NULL DEFAULT '{}',
        recorded_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (stream, version)
      )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`DROP TABLE ${qualifiedTable(runner.connection, 'coffer_events')}`);
  }
}
