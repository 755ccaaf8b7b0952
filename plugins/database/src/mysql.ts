/**
 * The mysql-database-plugin driver (Vault's plugins/database/mysql), in process, for MySQL and MariaDB, with mysql2.
 * Vault's connection_url is a Go DSN, `{{username}}:{{password}}@tcp(host:3306)/db`; a `mysql://` URL works too.
 */
import mysql from 'mysql2/promise';
import type { ConnectionDetails, Driver, DriverDefaults } from './postgresql.js';
import { renderStatement } from './statements.js';

/** Vault's MySQL defaults: users are `'name'@'%'`, renewal does nothing (MySQL has no expiring passwords per se). */
export const MYSQL_DEFAULTS: DriverDefaults = {
  rotateRoot: `ALTER USER '{{username}}'@'%' IDENTIFIED BY '{{password}}'`,
  staticRotation: `ALTER USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'`,
  renew: [],
  // Vault's mysql template: v-<display[:10]>-<role[:10]>-<20 random>-<unix>, cut to MySQL's 32 characters.
  username: { part: 10, max: 32 },
};

/** A Go DSN (`user:pass@tcp(host:port)/db?x=y`) or a mysql:// URL as mysql2 options; the credentials URL-decoded. */
export function mysqlOptions(url: string): mysql.PoolOptions {
  const dsn = /^(?:([^:@]*)(?::(.*))?@)?tcp\(([^)]*)\)\/([^?]*)(?:\?.*)?$/.exec(url);
  if (dsn) {
    const [, user = '', password = '', address = '127.0.0.1:3306', database = ''] = dsn;
    const [host, port] = address.includes(':') ? [address.slice(0, address.lastIndexOf(':')), address.slice(address.lastIndexOf(':') + 1)] : [address, '3306'];
    return {
      user: decodeURIComponent(user),
      password: decodeURIComponent(password),
      host: host || '127.0.0.1',
      port: Number(port) || 3306,
      ...(database ? { database } : {}),
    };
  }
  const u = new URL(url);
  if (u.protocol !== 'mysql:') throw new Error(`invalid connection URL: expected user:password@tcp(host:port)/db or mysql://`);
  return {
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    host: u.hostname || '127.0.0.1',
    port: Number(u.port) || 3306,
    ...(u.pathname.length > 1 ? { database: decodeURIComponent(u.pathname.slice(1)) } : {}),
  };
}

export function mysqlDriver(connectionString: string, details: ConnectionDetails): Driver {
  let pool: mysql.Pool | undefined;
  const open = () => {
    // Parsed at first use, so a bad URL is the verify's error (Vault's "error verifying connection").
    pool ??= mysql.createPool({ ...mysqlOptions(connectionString), connectionLimit: details.max_open_connections || 4, multipleStatements: false });
    return pool;
  };
  return {
    defaults: MYSQL_DEFAULTS,
    async verify() {
      await open().query('SELECT 1');
    },
    async transaction(statements) {
      const connection = await open().getConnection();
      try {
        await connection.beginTransaction();
        // DDL such as CREATE USER commits implicitly in MySQL: a transaction here groups DML only, as in Vault.
        for (const statement of statements) await connection.query(statement);
        await connection.commit();
      } catch (err) {
        await connection.rollback().catch(() => {});
        throw err;
      } finally {
        connection.release();
      }
    },
    async defaultRevoke(username) {
      // Vault's default: REVOKE ALL PRIVILEGES, GRANT OPTION, then DROP USER; IF EXISTS makes a repeat harmless.
      const [rows] = await open().query('SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?', [username, '%']);
      if (!(rows as unknown[]).length) return;
      const quoted = `'${username.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'@'%'`;
      await open().query(`REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${quoted}`);
      await open().query(renderStatement('DROP USER IF EXISTS {{name}}', { name: quoted }));
    },
    async close() {
      await pool?.end().catch(() => {});
      pool = undefined;
    },
  };
}
