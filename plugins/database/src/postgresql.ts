/**
 * The postgresql-database-plugin driver: Vault's plugins/database/postgresql, in process. A driver module per
 * plugin_name (DRIVERS in backend.ts) is where MySQL and others would go.
 */
import pg from 'pg';
import { renderStatement } from './statements.js';

export interface ConnectionDetails {
  connection_url: string;
  username: string;
  password: string;
  max_open_connections: number;
}

/** What differs per database (Vault's per-plugin defaults): statements used when a config or role names none. */
export interface DriverDefaults {
  rotateRoot: string;
  staticRotation: string;
  /** Empty: renewal runs nothing (MySQL). */
  renew: string[];
  /** The generated username: each of display name and role cut to `part`, the whole to `max`. */
  username: { part: number; max: number };
}

/** Vault's PostgreSQL defaults. */
export const POSTGRES_DEFAULTS: DriverDefaults = {
  rotateRoot: `ALTER ROLE "{{username}}" WITH PASSWORD '{{password}}'`,
  staticRotation: `ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}'`,
  renew: [`ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'`],
  username: { part: 8, max: 63 },
};

/** One database type (Vault's dbplugin.Database), chosen by a connection's plugin_name. */
export interface Driver {
  /** Absent: PostgreSQL's (the tests' recording drivers leave it out). */
  defaults?: DriverDefaults;
  verify(): Promise<void>;
  /** All statements in one transaction. */
  transaction(statements: readonly string[]): Promise<void>;
  /** Vault's default revocation: privileges revoked, sessions ended, the role dropped; nothing if it is gone. */
  defaultRevoke(username: string): Promise<void>;
  close(): Promise<void>;
}

export function postgresDriver(connectionString: string, details: ConnectionDetails): Driver {
  // Errors of idle clients (a server restart) must not crash the plugin; the next query reconnects.
  const pool = new pg.Pool({ connectionString, max: details.max_open_connections || 4 });
  pool.on('error', () => {});
  const query = (sql: string, values?: unknown[]) => pool.query(sql, values);
  return {
    defaults: POSTGRES_DEFAULTS,
    async verify() {
      await query('SELECT 1');
    },
    async transaction(statements) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        for (const statement of statements) await client.query(statement);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async defaultRevoke(username) {
      const exists = await query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username]);
      if (!exists.rowCount) return;
      const quoted = `"${username.replace(/"/g, '""')}"`;
      const statements: string[] = [];
      const schemas = await query('SELECT DISTINCT table_schema FROM information_schema.role_column_grants WHERE grantee = $1', [username]);
      for (const { table_schema } of schemas.rows as { table_schema: string }[]) {
        const schema = `"${table_schema.replace(/"/g, '""')}"`;
        statements.push(`REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA ${schema} FROM ${quoted}`, `REVOKE USAGE ON SCHEMA ${schema} FROM ${quoted}`);
      }
      statements.push(
        `REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM ${quoted}`,
        `REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM ${quoted}`,
        `REVOKE USAGE ON SCHEMA public FROM ${quoted}`,
      );
      const db = (await query('SELECT current_database() AS db')).rows[0].db as string;
      statements.push(`REVOKE CONNECT ON DATABASE "${db.replace(/"/g, '""')}" FROM ${quoted}`);
      const failures: string[] = [];
      for (const statement of statements) {
        await query(statement).catch((err: Error) => failures.push(err.message));
      }
      if (failures.length) throw new Error(`could not perform all revocation statements: ${failures.join('; ')}`);
      // Vault leaves sessions open; ending them makes "revoked" mean the credentials stop working now. A root user
      // without pg_signal_backend cannot: the role is dropped all the same (Postgres allows it with sessions open).
      await query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [username]).catch(() => {});
      await query(renderStatement('DROP ROLE IF EXISTS "{{name}}"', { name: username.replace(/"/g, '""') }));
    },
    async close() {
      await pool.end().catch(() => {});
    },
  };
}
