/**
 * Vault's database secrets engine (builtin/logical/database) as the builtin plugin `database`: connections
 * (`config/<name>`), roles (`roles/<name>`), dynamic credentials under a lease (`creds/<role>`), root rotation and
 * connection reset. The driver is chosen by plugin_name (DRIVERS); postgresql-database-plugin is the one shipped.
 *
 * Nothing read from storage is kept between calls (another runner may change it): every call loads its config and
 * role. Only the connection pool is kept, per mount and connection, and it is rebuilt when the stored connection
 * details differ from the ones it was opened with.
 */
import { createHash } from 'node:crypto';
import { defineBackend, definePath, genericNameRegex, listResponse, PluginError, type MountInfo, type Storage } from '#plugin-sdk';
import { mysqlDriver } from './mysql.js';
import { POSTGRES_DEFAULTS, postgresDriver, type ConnectionDetails, type Driver } from './postgresql.js';
import { intentKey, isDue, MIN_ROTATION_PERIOD, rotateStatic, staticKey, ttlOf as staticTtl, type StaticRole } from './static-roles.js';
import {
  connectionString,
  expirationOf,
  generatePassword,
  generateUsername,
  hasLiteralPassword,
  parseStatements,
  redactUrl,
  renderStatement,
  roleAllowed,
} from './statements.js';

export const DATABASE_VERSION = 'v0.1.0';
export const CREDS_TYPE = 'creds';
/** Drivers by plugin_name: a new database is one module and one entry here. */
export const DRIVERS: Record<string, (url: string, details: ConnectionDetails) => Driver> = {
  'postgresql-database-plugin': postgresDriver,
  'mysql-database-plugin': mysqlDriver,
};
/** Vault's default when the role and the mount set no TTL (the system's 768h). */
const SYSTEM_TTL = 768 * 3600;
/** The statements a database type uses when a config or role names none (Vault's per-plugin defaults). */
const defaultsOf = (driver: Driver) => driver.defaults ?? POSTGRES_DEFAULTS;

export interface DatabaseConfig {
  plugin_name: string;
  connection_details: ConnectionDetails;
  allowed_roles: string[];
  root_credentials_rotate_statements: string[];
  verify_connection: boolean;
}

export interface RoleEntry {
  db_name: string;
  creation_statements: string[];
  revocation_statements: string[];
  rollback_statements: string[];
  renew_statements: string[];
  default_ttl: number;
  max_ttl: number;
}

const configKey = (name: string) => `config/${name}`;
const roleKey = (name: string) => `role/${name}`;

export interface DatabaseOptions {
  /** Tests replace the drivers to check path rules without a database. */
  drivers?: typeof DRIVERS;
  /** Tests move the clock to make static roles due. */
  now?: () => number;
}

export function createDatabaseBackend(options: DatabaseOptions = {}) {
  const drivers = options.drivers ?? DRIVERS;
  const now = options.now ?? Date.now;
  const pools = new Map<string, { fingerprint: string; driver: Driver }>();
  const poolKey = (mount: MountInfo, name: string) => `${mount.id}\u0000${name}`;

  async function closePool(mount: MountInfo, name: string) {
    const key = poolKey(mount, name);
    const open = pools.get(key);
    pools.delete(key);
    await open?.driver.close();
  }

  function openDriver(config: DatabaseConfig): Driver {
    const make = drivers[config.plugin_name];
    if (!make) throw new PluginError('invalid-request', `error creating database object: unknown database plugin: ${config.plugin_name}`);
    const d = config.connection_details;
    return make(connectionString(d.connection_url, d.username, d.password), d);
  }

  /** The pool for a stored config, reopened when its connection details changed (another runner's write). */
  async function driverFor(mount: MountInfo, name: string, config: DatabaseConfig): Promise<Driver> {
    const fingerprint = createHash('sha256').update(JSON.stringify([config.plugin_name, config.connection_details])).digest('hex');
    const key = poolKey(mount, name);
    const open = pools.get(key);
    if (open?.fingerprint === fingerprint) return open.driver;
    await open?.driver.close();
    const driver = openDriver(config);
    pools.set(key, { fingerprint, driver });
    return driver;
  }

  const loadConfig = (storage: Storage, name: string) => storage.getJson<DatabaseConfig>(configKey(name));
  const loadRole = (storage: Storage, name: string) => storage.getJson<RoleEntry>(roleKey(name));

  async function configOrFail(storage: Storage, name: string) {
    const config = await loadConfig(storage, name);
    if (!config) throw new PluginError('invalid-request', `failed to find entry for connection with name: "${name}"`);
    return config;
  }

  const ttlOf = (role: RoleEntry, mount: MountInfo) => role.default_ttl || mount.config.defaultLeaseTtl || SYSTEM_TTL;
  // A database's error may quote the statement it failed on, and with it a generated password: never pass that on.
  const dbError = (prefix: string, err: unknown, secret?: string) => {
    const message = (err as Error).message;
    return new PluginError('invalid-request', `${prefix}${secret ? message.split(secret).join('[redacted]') : message}`);
  };

  const loadStatic = (storage: Storage, name: string) => storage.getJson<StaticRole>(staticKey(name));

  /** Rotates (or finishes rotating) a static role's password; see static-roles.ts for why it cannot lose one. */
  async function rotate(storage: Storage, mount: MountInfo, name: string, fresh?: StaticRole): Promise<StaticRole> {
    const dbName = fresh?.db_name ?? (await loadStatic(storage, name))?.db_name;
    if (dbName === undefined) throw new PluginError('invalid-request', 'no static role found for role name');
    const config = await configOrFail(storage, dbName);
    let driver: Driver | undefined;
    return rotateStatic(
      {
        storage,
        driver: async () => (driver ??= await driverFor(mount, dbName, config)),
        defaultStatement: defaultsOf(await driverFor(mount, dbName, config)).staticRotation,
        now,
        dbError,
      },
      name,
      fresh,
    );
  }

  return defineBackend({
    type: 'secret',
    name: 'database',
    version: DATABASE_VERSION,
    help: "Vault's database secrets engine: dynamic database credentials under leases (PostgreSQL, MySQL/MariaDB).",
    cleanup: async ({ mount }) => {
      for (const [key, open] of [...pools]) {
        if (key.startsWith(`${mount.id}\u0000`)) {
          pools.delete(key);
          await open.driver.close();
        }
      }
    },
    // Vault's PeriodicFunc: static roles whose rotation_period ran out (or whose rotation a crash left pending).
    periodic: async ({ storage, mount }) => {
      const failed: string[] = [];
      for (const name of await storage.list('static-role/')) {
        if (name.endsWith('/')) continue;
        try {
          const role = await loadStatic(storage, name);
          if (!role || !isDue(role, await storage.has(intentKey(name)), now())) continue;
          await rotate(storage, mount, name);
        } catch (err) {
          // The message names no password (dbError redacts it); the next tick tries again.
          console.error(`database: rotating static role ${name} failed: ${(err as Error).message}`);
          failed.push(name);
        }
      }
      if (failed.length) throw new PluginError('internal', `static role rotation failed: ${failed.join(', ')}`);
    },
    secrets: [
      {
        type: CREDS_TYPE,
        renew: async (req) => {
          const { username, db_name, role: roleName } = req.internal as { username: string; db_name: string; role: string };
          const role = await loadRole(req.storage, roleName);
          if (!role) throw new PluginError('invalid-request', `error during renew: could not find role with name: ${roleName}`);
          const config = await configOrFail(req.storage, db_name);
          // VALID UNTIL never passes the lease's max TTL from issue, which the host also holds the lease to.
          const maxTtl = role.max_ttl || req.mount.config.maxLeaseTtl || SYSTEM_TTL;
          const left = Math.max(0, Math.floor(maxTtl - (Date.now() - Date.parse(req.lease.issueTime)) / 1000));
          const ttl = Math.min(req.increment || ttlOf(role, req.mount), left);
          const expiration = expirationOf(new Date(Date.now() + ttl * 1000));
          const driver = await driverFor(req.mount, db_name, config);
          const statements = role.renew_statements.length ? role.renew_statements : defaultsOf(driver).renew;
          if (statements.length) await driver.transaction(statements.map((s) => renderStatement(s, { name: username, expiration }))).catch((err) => {
            throw dbError('', err);
          });
          return { ttl };
        },
        revoke: async (req) => {
          const { username, db_name, role: roleName } = req.internal as { username: string; db_name: string; role: string };
          const config = await configOrFail(req.storage, db_name);
          const driver = await driverFor(req.mount, db_name, config);
          // A deleted role is revoked the default way, as Vault does; revoke must be idempotent (the host may ask again).
          const role = await loadRole(req.storage, roleName);
          if (role?.revocation_statements.length) {
            await driver.transaction(role.revocation_statements.map((s) => renderStatement(s, { name: username })));
          } else {
            await driver.defaultRevoke(username);
          }
        },
      },
    ],
    paths: [
      definePath({
        pattern: 'config/?',
        operations: { list: async (req) => listResponse(await req.storage.list('config/')) },
        help: 'Lists the configured connections.',
      }),
      definePath({
        pattern: `config/${genericNameRegex('name')}`,
        fields: {
          name: { type: 'string', description: 'Name of this database connection.' },
          plugin_name: { type: 'string', description: 'The database driver: postgresql-database-plugin or mysql-database-plugin.' },
          plugin_version: { type: 'string', description: 'Accepted for Vault compatibility; the builtin driver has one version.' },
          verify_connection: { type: 'bool', default: true, description: 'Connect once when the configuration is written.' },
          allowed_roles: { type: 'comma-list', description: 'Roles allowed to use this connection; empty = none, * = all, globs allowed.' },
          root_rotation_statements: { type: 'list', description: 'Statements for rotate-root; default ALTER ROLE ... WITH PASSWORD.' },
          connection_url: { type: 'string', description: 'postgresql://{{username}}:{{password}}@host:5432/db, or {{username}}:{{password}}@tcp(host:3306)/db' },
          username: { type: 'string', description: 'The root user, for {{username}} in connection_url.' },
          password: { type: 'string', description: 'The root password, for {{password}}; never returned.' },
          max_open_connections: { type: 'int', default: 4, description: 'The pool size.' },
        },
        exists: (req) => req.storage.has(configKey(req.data.name)),
        operations: {
          read: async (req) => {
            const config = await loadConfig(req.storage, req.data.name);
            if (!config) return null;
            const { password: _password, ...details } = config.connection_details;
            return {
              data: {
                plugin_name: config.plugin_name,
                plugin_version: '',
                connection_details: { ...details, connection_url: redactUrl(details.connection_url) },
                allowed_roles: config.allowed_roles,
                root_credentials_rotate_statements: config.root_credentials_rotate_statements,
                password_policy: '',
                verify_connection: config.verify_connection,
              },
            };
          },
          create: writeConfig,
          update: writeConfig,
          delete: async (req) => {
            await closePool(req.mount, req.data.name);
            await req.storage.delete(configKey(req.data.name));
            return null;
          },
        },
        help: 'Configures a connection to a database.',
      }),
      definePath({
        pattern: 'roles/?',
        operations: { list: async (req) => listResponse(await req.storage.list('role/')) },
        help: 'Lists the roles.',
      }),
      definePath({
        pattern: `roles/${genericNameRegex('name')}`,
        fields: {
          name: { type: 'string', description: 'Name of the role.' },
          db_name: { type: 'string', description: 'The connection (config/<name>) this role uses.' },
          creation_statements: { type: 'list', description: 'SQL creating the user; {{name}}, {{password}}, {{expiration}}.' },
          revocation_statements: { type: 'list', description: 'SQL dropping the user; default: revoke privileges, DROP ROLE.' },
          rollback_statements: { type: 'list', description: 'Stored for Vault compatibility.' },
          renew_statements: { type: 'list', description: "SQL extending the user; default ALTER ROLE ... VALID UNTIL." },
          default_ttl: { type: 'duration', description: "The lease's TTL; 0 = the mount's." },
          max_ttl: { type: 'duration', description: "The lease's max TTL; 0 = the mount's." },
          credential_type: { type: 'string', default: 'password', description: 'Only password.' },
        },
        exists: (req) => req.storage.has(roleKey(req.data.name)),
        operations: {
          read: async (req) => {
            const role = await loadRole(req.storage, req.data.name);
            if (!role) return null;
            return { data: { ...role, credential_type: 'password', credential_config: {} } };
          },
          create: writeRole,
          update: writeRole,
          delete: async (req) => {
            await req.storage.delete(roleKey(req.data.name));
            return null;
          },
        },
        help: 'Defines how credentials are created for a connection.',
      }),
      definePath({
        pattern: `creds/${genericNameRegex('name')}`,
        fields: { name: { type: 'string', description: 'The role.' } },
        operations: {
          read: async (req) => {
            const role = await loadRole(req.storage, req.data.name);
            if (!role) throw new PluginError('invalid-request', `unknown role: ${req.data.name}`);
            const config = await configOrFail(req.storage, role.db_name);
            if (!roleAllowed(config.allowed_roles, req.data.name)) throw new PluginError('invalid-request', `"${req.data.name}" is not an allowed role`);
            if (!role.creation_statements.length) throw new PluginError('invalid-request', 'empty creation statements');
            const ttl = Math.min(ttlOf(role, req.mount), role.max_ttl || req.mount.config.maxLeaseTtl || SYSTEM_TTL);
            const driver = await driverFor(req.mount, role.db_name, config);
            const username = generateUsername('token', req.data.name, new Date(), defaultsOf(driver).username);
            const password = generatePassword();
            const expiration = expirationOf(new Date(Date.now() + ttl * 1000));
            await driver.transaction(role.creation_statements.map((s) => renderStatement(s, { name: username, password, expiration }))).catch((err) => {
              throw dbError('', err, password);
            });
            return {
              data: { username, password },
              secret: { type: CREDS_TYPE, internal: { username, db_name: role.db_name, role: req.data.name }, ttl: role.default_ttl, maxTtl: role.max_ttl },
            };
          },
        },
        help: 'Creates database credentials under a lease.',
      }),
      definePath({
        pattern: 'static-roles/?',
        operations: { list: async (req) => listResponse(await req.storage.list('static-role/')) },
        help: 'Lists the static roles.',
      }),
      definePath({
        pattern: `static-roles/${genericNameRegex('name')}`,
        fields: {
          name: { type: 'string', description: 'Name of the static role.' },
          db_name: { type: 'string', description: 'The connection (config/<name>) this role uses.' },
          username: { type: 'string', description: 'The existing database user whose password is rotated; cannot change.' },
          rotation_period: { type: 'duration', description: 'How often the password is rotated; at least 5s.' },
          rotation_statements: { type: 'list', description: "SQL setting the password; {{name}}, {{password}}. Default ALTER ROLE ... WITH PASSWORD." },
          credential_type: { type: 'string', default: 'password', description: 'Only password.' },
        },
        exists: (req) => req.storage.has(staticKey(req.data.name)),
        operations: {
          read: async (req) => {
            const role = await loadStatic(req.storage, req.data.name);
            if (!role) return null;
            const data: Record<string, unknown> = {
              db_name: role.db_name,
              username: role.username,
              rotation_period: role.rotation_period,
              rotation_statements: role.rotation_statements,
              credential_type: 'password',
              credential_config: {},
            };
            if (role.last_vault_rotation) data.last_vault_rotation = role.last_vault_rotation;
            return { data };
          },
          create: writeStaticRole,
          update: writeStaticRole,
          delete: async (req) => {
            // The database user keeps its last password, as in Vault; the pending intent goes with the role.
            await req.storage.delete(staticKey(req.data.name));
            await req.storage.delete(intentKey(req.data.name));
            return null;
          },
        },
        help: "Manages an existing database user whose password Coffer rotates.",
      }),
      definePath({
        pattern: `static-creds/${genericNameRegex('name')}`,
        fields: { name: { type: 'string', description: 'The static role.' } },
        operations: {
          read: async (req) => {
            const role = await loadStatic(req.storage, req.data.name);
            if (!role) throw new PluginError('invalid-request', `unknown role: ${req.data.name}`);
            return {
              data: {
                username: role.username,
                password: role.password,
                last_vault_rotation: role.last_vault_rotation,
                rotation_period: role.rotation_period,
                ttl: staticTtl(role, now()),
              },
            };
          },
        },
        help: "Reads a static role's current credentials (no lease: the password changes on schedule).",
      }),
      definePath({
        pattern: `rotate-role/${genericNameRegex('name')}`,
        fields: { name: { type: 'string', description: 'The static role.' } },
        operations: {
          update: async (req) => {
            if (!(await req.storage.has(staticKey(req.data.name)))) throw new PluginError('invalid-request', 'no static role found for role name');
            await rotate(req.storage, req.mount, req.data.name);
            return null;
          },
        },
        help: "Rotates a static role's password now.",
      }),
      definePath({
        pattern: `rotate-root/${genericNameRegex('name')}`,
        fields: { name: { type: 'string', description: 'The connection.' } },
        operations: {
          update: async (req) => {
            const config = await configOrFail(req.storage, req.data.name);
            const details = config.connection_details;
            if (!details.username) throw new PluginError('invalid-request', 'unable to rotate root credentials: no username in configuration');
            if (!details.password) throw new PluginError('invalid-request', 'unable to rotate root credentials: no password in configuration');
            const password = generatePassword();
            const driver = await driverFor(req.mount, req.data.name, config);
            const statements = config.root_credentials_rotate_statements.length ? config.root_credentials_rotate_statements : [defaultsOf(driver).rotateRoot];
            await driver.transaction(statements.map((s) => renderStatement(s, { name: details.username, password }))).catch((err) => {
              throw dbError('failed to update user: ', err, password);
            });
            await req.storage.putJson(configKey(req.data.name), { ...config, connection_details: { ...details, password } });
            // The old pool logged in with the old password.
            await closePool(req.mount, req.data.name);
            return null;
          },
        },
        help: "Rotates the root user's password; only Coffer knows the new one.",
      }),
      definePath({
        pattern: `reset/${genericNameRegex('name')}`,
        fields: { name: { type: 'string', description: 'The connection.' } },
        operations: {
          update: async (req) => {
            const config = await configOrFail(req.storage, req.data.name);
            await closePool(req.mount, req.data.name);
            const driver = await driverFor(req.mount, req.data.name, config);
            await driver.verify().catch((err) => {
              throw dbError('error creating database object: error verifying connection: ', err);
            });
            return null;
          },
        },
        help: 'Closes the connection pool and opens it again.',
      }),
    ],
  });

  async function writeConfig(req: any) {
    const name: string = req.data.name;
    const existing = await loadConfig(req.storage, name);
    const pick = <T>(field: string, current: T | undefined, fallback: T): T => (req.has(field) ? req.data[field] : current ?? fallback);
    const plugin_name = pick('plugin_name', existing?.plugin_name, '');
    if (!plugin_name) throw new PluginError('invalid-request', 'empty plugin name');
    if (!drivers[plugin_name]) throw new PluginError('invalid-request', `error creating database object: unknown database plugin: ${plugin_name}`);
    const old = existing?.connection_details;
    const config: DatabaseConfig = {
      plugin_name,
      connection_details: {
        connection_url: pick('connection_url', old?.connection_url, ''),
        username: pick('username', old?.username, ''),
        password: pick('password', old?.password, ''),
        max_open_connections: pick('max_open_connections', old?.max_open_connections, 4),
      },
      allowed_roles: pick('allowed_roles', existing?.allowed_roles, []),
      root_credentials_rotate_statements: req.has('root_rotation_statements')
        ? parseStatements(req.data.root_rotation_statements)
        : (existing?.root_credentials_rotate_statements ?? []),
      verify_connection: req.data.verify_connection,
    };
    if (!config.connection_details.connection_url) throw new PluginError('invalid-request', 'error creating database object: connection_url cannot be empty');
    if (config.verify_connection) {
      const driver = openDriver(config);
      try {
        await driver.verify();
      } catch (err) {
        throw dbError('error creating database object: error verifying connection: ', err);
      } finally {
        await driver.close();
      }
    }
    await req.storage.putJson(configKey(name), config);
    await closePool(req.mount, name);
    if (hasLiteralPassword(config.connection_details.connection_url)) {
      return {
        data: null,
        warnings: ['Password found in connection_url, use a templated url to enable root rotation and prevent read access to password information.'],
      };
    }
    return null;
  }

  async function writeRole(req: any) {
    const name: string = req.data.name;
    const existing = await loadRole(req.storage, name);
    const statements = (field: keyof RoleEntry) => (req.has(field) ? parseStatements(req.data[field]) : ((existing?.[field] as string[] | undefined) ?? []));
    const role: RoleEntry = {
      db_name: req.has('db_name') ? req.data.db_name : (existing?.db_name ?? ''),
      creation_statements: statements('creation_statements'),
      revocation_statements: statements('revocation_statements'),
      rollback_statements: statements('rollback_statements'),
      renew_statements: statements('renew_statements'),
      default_ttl: req.has('default_ttl') ? req.data.default_ttl : (existing?.default_ttl ?? 0),
      max_ttl: req.has('max_ttl') ? req.data.max_ttl : (existing?.max_ttl ?? 0),
    };
    if (!role.db_name) throw new PluginError('invalid-request', 'database name is required');
    // A get, not has: storage.exists is protocol 2's, and a role write must work on any host the kit plays too.
    if ((await req.storage.get(staticKey(name))) !== null) throw new PluginError('invalid-request', 'Role and Static Role names must be unique');
    if (req.data.credential_type && req.data.credential_type !== 'password') {
      throw new PluginError('invalid-request', `invalid credential_type "${req.data.credential_type}": this server supports password`);
    }
    if (role.max_ttl && role.default_ttl > role.max_ttl) throw new PluginError('invalid-request', 'ttl cannot be greater than max_ttl');
    await req.storage.putJson(roleKey(name), role);
    return null;
  }

  async function writeStaticRole(req: any) {
    const name: string = req.data.name;
    const existing = await loadStatic(req.storage, name);
    if (!existing && (await req.storage.get(roleKey(name))) !== null) throw new PluginError('invalid-request', 'Role and Static Role names must be unique');
    if (req.data.credential_type && req.data.credential_type !== 'password') {
      throw new PluginError('invalid-request', `invalid credential_type "${req.data.credential_type}": this server supports password`);
    }
    const db_name: string = req.has('db_name') ? req.data.db_name : (existing?.db_name ?? '');
    if (!db_name) throw new PluginError('invalid-request', 'database name is a required field');
    const username: string = req.has('username') ? req.data.username : (existing?.username ?? '');
    if (!username) throw new PluginError('invalid-request', 'username is a required field to create a static account');
    if (existing && username !== existing.username) throw new PluginError('invalid-request', 'cannot update static account username');
    if (existing && db_name !== existing.db_name) throw new PluginError('invalid-request', 'cannot update static account db_name');
    const rotation_period: number = req.has('rotation_period') ? req.data.rotation_period : (existing?.rotation_period ?? 0);
    if (!rotation_period) throw new PluginError('invalid-request', 'rotation_period is required to create static accounts');
    if (rotation_period < MIN_ROTATION_PERIOD) throw new PluginError('invalid-request', 'rotation_period must be 5 seconds or more');
    const config = await configOrFail(req.storage, db_name);
    if (!roleAllowed(config.allowed_roles, name)) throw new PluginError('invalid-request', `"${name}" is not an allowed role`);
    const rotation_statements = req.has('rotation_statements') ? parseStatements(req.data.rotation_statements) : (existing?.rotation_statements ?? []);
    if (existing) {
      // Only what the request changes is written, conditional on the role read (a rotation may commit meanwhile).
      const before = await req.storage.get(staticKey(name));
      const updated: StaticRole = { ...parseRole(before) ?? existing, rotation_period, rotation_statements };
      if (!(await req.storage.txn([{ key: staticKey(name), value: before }], [{ key: staticKey(name), value: JSON.stringify(updated) }]))) {
        throw new PluginError('invalid-request', 'the static role changed meanwhile (a rotation); try again');
      }
      return null;
    }
    // Creating one takes the user over at once: its password is rotated now, so only Coffer knows it (Vault's rule).
    await rotate(req.storage, req.mount, name, { db_name, username, rotation_period, rotation_statements, password: '', last_vault_rotation: '' });
    return null;
  }
}

const parseRole = (bytes: Buffer | null): StaticRole | null => (bytes ? (JSON.parse(bytes.toString('utf8')) as StaticRole) : null);
