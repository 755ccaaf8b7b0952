import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHarness, type HarnessResult } from '#plugin-sdk';
import { createDatabaseBackend, CREDS_TYPE, DRIVERS } from './backend.js';
import type { Driver } from './postgresql.js';
import { connectionString, expirationOf, generatePassword, generateUsername, parseStatements, redactUrl, renderStatement, roleAllowed } from './statements.js';

/** A driver that records what it was asked to run, so path rules are checked without a database. */
function recording(failVerify?: string, failTransaction = false) {
  const ran: string[] = [];
  const revoked: string[] = [];
  const opened: string[] = [];
  const driver = (url: string): Driver => {
    opened.push(url);
    return {
      verify: async () => {
        if (failVerify) throw new Error(failVerify);
      },
      transaction: async (statements) => {
        ran.push(...statements);
        // As Postgres does for a syntax error: the message quotes the statement.
        if (failTransaction) throw new Error(`syntax error at or near "${statements[0]}"`);
      },
      defaultRevoke: async (username) => {
        revoked.push(username);
      },
      close: async () => {},
    };
  };
  return { ran, revoked, opened, drivers: { ...DRIVERS, 'postgresql-database-plugin': driver } };
}

function database(failVerify?: string, failTransaction = false) {
  const r = recording(failVerify, failTransaction);
  const harness = createHarness(createDatabaseBackend({ drivers: r.drivers }), { mount: { path: 'database/', type: 'database', config: { defaultLeaseTtl: 0, maxLeaseTtl: 0 } } });
  return { harness, ...r };
}

const ok = (result: HarnessResult) => {
  assert.ok(!result.error, `unexpected error: ${result.error?.kind} ${result.error?.message}`);
  return result.response;
};
const fails = (result: HarnessResult, message: string, kind = 'invalid-request') => {
  assert.equal(result.error?.message, message);
  assert.equal(result.error?.kind, kind);
};
const PG = { plugin_name: 'postgresql-database-plugin', connection_url: 'postgresql://{{username}}:{{password}}@db:5432/app', username: 'vault', password: 'p@ss/word' };

test('config: plugin_name is required and must be a shipped driver; nothing is stored on a refusal', async () => {
  const { harness } = database();
  fails(await harness.request('update', 'config/app', { connection_url: PG.connection_url }), 'empty plugin name');
  fails(await harness.request('update', 'config/app', { ...PG, plugin_name: 'mongodb-database-plugin' }), 'error creating database object: unknown database plugin: mongodb-database-plugin');
  fails(await harness.request('update', 'config/app', { plugin_name: PG.plugin_name }), 'error creating database object: connection_url cannot be empty');
  assert.deepEqual(harness.storage.keys(), []);
});

test('config: a failed verification is refused in Vault\'s words; verify_connection=false skips it', async () => {
  const { harness } = database('connect ECONNREFUSED 127.0.0.1:5432');
  fails(await harness.request('update', 'config/app', PG), 'error creating database object: error verifying connection: connect ECONNREFUSED 127.0.0.1:5432');
  assert.equal(ok(await harness.request('update', 'config/app', { ...PG, verify_connection: false })), null);
  assert.equal(ok(await harness.request('read', 'config/app'))?.data?.verify_connection, false);
});

test('config: the password is used in the URL (escaped) but never read back; an update keeps what it does not name', async () => {
  const { harness, opened } = database();
  ok(await harness.request('update', 'config/app', { ...PG, allowed_roles: 'a, b*' }));
  assert.equal(opened[0], 'postgresql://vault:p%40ss%2Fword@db:5432/app');
  ok(await harness.request('update', 'config/app', { allowed_roles: '*' }));
  const data = ok(await harness.request('read', 'config/app'))!.data!;
  assert.deepEqual(data.connection_details, { connection_url: PG.connection_url, username: 'vault', max_open_connections: 4 });
  assert.deepEqual(data.allowed_roles, ['*']);
  assert.ok(!JSON.stringify(data).includes('p@ss'));
  assert.deepEqual(ok(await harness.request('list', 'config/'))?.data?.keys, ['app']);
});

test('roles: db_name is required; statements are split on ; and may be JSON or base64', async () => {
  const { harness } = database();
  fails(await harness.request('update', 'roles/r', { creation_statements: 'SELECT 1' }), 'database name is required');
  const b64 = Buffer.from('CREATE ROLE "{{name}}"; GRANT x TO "{{name}}"').toString('base64');
  ok(await harness.request('update', 'roles/r', { db_name: 'app', creation_statements: b64, revocation_statements: '["DROP ROLE \\"{{name}}\\""]', default_ttl: '1h' }));
  const role = ok(await harness.request('read', 'roles/r'))!.data!;
  assert.deepEqual(role.creation_statements, ['CREATE ROLE "{{name}}"', 'GRANT x TO "{{name}}"']);
  assert.deepEqual(role.revocation_statements, ['DROP ROLE "{{name}}"']);
  assert.equal(role.default_ttl, 3600);
  fails(await harness.request('update', 'roles/r', { default_ttl: '2h', max_ttl: '1h' }), 'ttl cannot be greater than max_ttl');
});

test('creds: unknown role, role not allowed, no creation statements are refused', async () => {
  const { harness } = database();
  fails(await harness.request('read', 'creds/nope'), 'unknown role: nope');
  ok(await harness.request('update', 'config/app', { ...PG, allowed_roles: 'good' }));
  ok(await harness.request('update', 'roles/bad', { db_name: 'app', creation_statements: 'CREATE ROLE "{{name}}"' }));
  fails(await harness.request('read', 'creds/bad'), '"bad" is not an allowed role');
  ok(await harness.request('update', 'roles/good', { db_name: 'app' }));
  fails(await harness.request('read', 'creds/good'), 'empty creation statements');
  ok(await harness.request('update', 'roles/good', { db_name: 'other', creation_statements: 'x' }));
  fails(await harness.request('read', 'creds/good'), 'failed to find entry for connection with name: "other"');
});

test('creds: runs the creation statements with the variables and answers under a lease; renew and revoke use the role', async () => {
  const { harness, ran, revoked } = database();
  ok(await harness.request('update', 'config/app', { ...PG, allowed_roles: '*' }));
  ok(await harness.request('update', 'roles/ro', { db_name: 'app', creation_statements: `CREATE ROLE "{{name}}" PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`, default_ttl: 60, max_ttl: 600 }));
  const response = ok(await harness.request('read', 'creds/ro'))!;
  const { username, password } = response.data as { username: string; password: string };
  assert.equal(ran[0]!.replace(/VALID UNTIL '[^']+'/, 'VALID UNTIL _'), `CREATE ROLE "${username}" PASSWORD '${password}' VALID UNTIL _`);
  assert.match(ran[0]!, /VALID UNTIL '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+0000'/);
  assert.deepEqual(response.secret, { type: CREDS_TYPE, internal: { username, db_name: 'app', role: 'ro' }, ttl: 60, maxTtl: 600, renewable: true });

  const lease = harness.leaseOf(response);
  const renewed = await harness.renew(lease, 120);
  assert.ok('value' in renewed);
  assert.equal(renewed.value.ttl, 120);
  assert.match(ran[1]!, new RegExp(`^ALTER ROLE "${username}" VALID UNTIL '.+'$`));
  const capped = await harness.renew(lease, 100_000);
  assert.ok('value' in capped);
  assert.ok(capped.value.ttl! <= 600, `renewed past max_ttl: ${capped.value.ttl}`);

  assert.ok('value' in (await harness.revoke(lease)));
  assert.deepEqual(revoked, [username], 'no revocation_statements: the default revocation');
  ok(await harness.request('update', 'roles/ro', { revocation_statements: 'DROP ROLE "{{name}}"' }));
  await harness.revoke(lease);
  assert.equal(ran.at(-1), `DROP ROLE "${username}"`);
});

test('rotate-root needs a username and a password; stores the new password', async () => {
  const { harness, ran } = database();
  ok(await harness.request('update', 'config/nouser', { ...PG, username: '', password: '' }));
  fails(await harness.request('update', 'rotate-root/nouser'), 'unable to rotate root credentials: no username in configuration');
  ok(await harness.request('update', 'config/app', PG));
  assert.equal(ok(await harness.request('update', 'rotate-root/app')), null);
  const stored = JSON.parse(harness.storage.get('config/app')!.toString()).connection_details.password as string;
  assert.notEqual(stored, PG.password);
  assert.equal(ran.at(-1), `ALTER ROLE "vault" WITH PASSWORD '${stored}'`);
  fails(await harness.request('update', 'rotate-root/missing'), 'failed to find entry for connection with name: "missing"');
});

test('statements and credentials follow Vault\'s rules', () => {
  assert.deepEqual(parseStatements(['DO $$ BEGIN CREATE ROLE x; END $$;']), ['DO $$ BEGIN CREATE ROLE x; END $$;'], 'a DO block runs whole');
  assert.deepEqual(parseStatements(['a; b ;;c']), ['a', 'b', 'c']);
  assert.equal(renderStatement('{{name}} {{username}} {{password}} {{ expiration }} {{other}}', { name: 'u', password: 'p', expiration: 'e' }), 'u u p e {{other}}');
  assert.equal(expirationOf(new Date('2026-01-02T03:04:05Z')), '2026-01-02 03:04:05+0000');
  const user = generateUsername('token', 'a-very-long-role-name');
  assert.match(user, /^v-token-a-very-l-[0-9A-Za-z]{20}-\d+$/);
  assert.ok(generateUsername('x'.repeat(50), 'y'.repeat(50)).length <= 63);
  for (let i = 0; i < 50; i++) {
    const password = generatePassword();
    assert.equal(password.length, 20);
    for (const re of [/[A-Z]/, /[a-z]/, /\d/, /-/]) assert.match(password, re);
  }
  assert.equal(roleAllowed([], 'r'), false, 'empty allows none');
  assert.equal(roleAllowed(['*'], 'r'), true);
  assert.equal(roleAllowed(['read*'], 'reader'), true);
  assert.equal(roleAllowed(['read*'], 'writer'), false);
  assert.equal(roleAllowed(['a.b'], 'axb'), false, 'glob characters other than * are literal');
  assert.equal(connectionString('postgres://{{username}}:{{password}}@h/d', 'u', 'p:w@'), 'postgres://u:p%3Aw%40@h/d');
  assert.equal(redactUrl('postgres://u:secret@h/d'), 'postgres://u:xxxxx@h/d');
  assert.equal(redactUrl('postgres://{{username}}:{{password}}@h/d'), 'postgres://{{username}}:{{password}}@h/d');
});

test('creds and rotate-root: a database error that quotes the statement never carries the password to the client', async () => {
  const { harness, ran } = database(undefined, true);
  ok(await harness.request('update', 'config/app', { ...PG, allowed_roles: '*', verify_connection: false }));
  ok(await harness.request('update', 'roles/ro', { db_name: 'app', creation_statements: `CREATE ROLE "{{name}}" PASSWORD '{{password}}'` }));
  const failed = await harness.request('read', 'creds/ro');
  const password = /PASSWORD '([^']+)'/.exec(ran[0]!)![1]!;
  assert.ok(failed.error, 'the creation failed');
  assert.ok(!failed.error.message.includes(password), failed.error.message);
  assert.match(failed.error.message, /PASSWORD '\[redacted\]'/);
  const rotated = await harness.request('update', 'rotate-root/app', {});
  const rotatedPassword = /PASSWORD '([^']+)'/i.exec(ran.at(-1)!)?.[1];
  assert.ok(rotated.error && rotatedPassword, ran.at(-1));
  assert.ok(!rotated.error.message.includes(rotatedPassword), rotated.error.message);
});

/** A database that records the statements it ran and can be told to fail after running them (a crash mid-way). */
function staticDatabase() {
  const ran: string[] = [];
  const state = { failAfterRun: false, clock: Date.parse('2026-01-01T00:00:00Z') };
  const driver = (): Driver => ({
    verify: async () => {},
    transaction: async (statements) => {
      ran.push(...statements);
      if (state.failAfterRun) throw new Error('server closed the connection unexpectedly');
    },
    defaultRevoke: async () => {},
    close: async () => {},
  });
  const backend = createDatabaseBackend({ drivers: { ...DRIVERS, 'postgresql-database-plugin': driver }, now: () => state.clock });
  const harness = createHarness(backend, { mount: { path: 'database/', type: 'database' } });
  const passwordIn = (statement: string | undefined) => /PASSWORD '([^']+)'/.exec(statement ?? '')?.[1];
  return { harness, ran, state, passwordIn };
}

test('static-roles: Vault\'s checks; creating one rotates the password at once; read shows no password; LIST', async () => {
  const { harness, ran, passwordIn } = staticDatabase();
  ok(await harness.request('update', 'config/app', { ...PG, allowed_roles: 'svc,dyn,other' }));
  fails(await harness.request('update', 'static-roles/svc', { db_name: 'app', rotation_period: '1h' }), 'username is a required field to create a static account');
  fails(await harness.request('update', 'static-roles/svc', { username: 'svc_user', rotation_period: '1h' }), 'database name is a required field');
  fails(await harness.request('update', 'static-roles/svc', { db_name: 'app', username: 'svc_user', rotation_period: 4 }), 'rotation_period must be 5 seconds or more');
  fails(await harness.request('update', 'static-roles/nope', { db_name: 'app', username: 'u', rotation_period: '1h' }), '"nope" is not an allowed role');
  assert.deepEqual(ran, [], 'nothing ran on a refusal');

  ok(await harness.request('update', 'static-roles/svc', { db_name: 'app', username: 'svc_user', rotation_period: '1h' }));
  assert.equal(ran.length, 1);
  assert.match(ran[0]!, /^ALTER ROLE "svc_user" WITH PASSWORD '[^']{20}'$/);
  const creds = ok(await harness.request('read', 'static-creds/svc'))!.data!;
  assert.equal(creds.username, 'svc_user');
  assert.equal(creds.password, passwordIn(ran[0]), 'static-creds gives the password the database was given');
  assert.equal(creds.rotation_period, 3600);
  assert.equal(creds.ttl, 3600);
  assert.equal(creds.last_vault_rotation, '2026-01-01T00:00:00.000Z');

  const read = ok(await harness.request('read', 'static-roles/svc'))!.data!;
  assert.deepEqual(read, {
    db_name: 'app',
    username: 'svc_user',
    rotation_period: 3600,
    rotation_statements: [],
    credential_type: 'password',
    credential_config: {},
    last_vault_rotation: '2026-01-01T00:00:00.000Z',
  });
  assert.ok(!JSON.stringify(read).includes(creds.password as string));
  fails(await harness.request('update', 'static-roles/svc', { username: 'someone_else' }), 'cannot update static account username');
  ok(await harness.request('update', 'static-roles/svc', { rotation_period: '2h' }));
  assert.equal(ran.length, 1, 'an update does not rotate');
  assert.equal(ok(await harness.request('read', 'static-creds/svc'))!.data!.password, creds.password, 'nor lose the password');
  fails(await harness.request('update', 'roles/svc', { db_name: 'app', creation_statements: 'SELECT 1' }), 'Role and Static Role names must be unique');
  ok(await harness.request('update', 'roles/dyn', { db_name: 'app', creation_statements: 'SELECT 1' }));
  fails(await harness.request('update', 'static-roles/dyn', { db_name: 'app', username: 'x', rotation_period: '1h' }), 'Role and Static Role names must be unique');
  assert.deepEqual(ok(await harness.request('list', 'static-roles/'))?.data?.keys, ['svc']);
  fails(await harness.request('read', 'static-creds/missing'), 'unknown role: missing');
  ok(await harness.request('delete', 'static-roles/svc'));
  assert.equal(ok(await harness.request('read', 'static-roles/svc')), null);
});

test('static-roles: periodic rotates only when rotation_period ran out; rotate-role rotates now', async () => {
  const { harness, ran, state, passwordIn } = staticDatabase();
  ok(await harness.request('update', 'config/app', { ...PG, allowed_roles: '*' }));
  ok(await harness.request('update', 'static-roles/svc', {
    db_name: 'app',
    username: 'svc_user',
    rotation_period: 60,
    rotation_statements: `ALTER USER "{{name}}" WITH PASSWORD '{{password}}'`,
  }));
  const first = passwordIn(ran[0]);
  assert.match(ran[0]!, /^ALTER USER "svc_user"/, "the role's own rotation statements");
  state.clock += 59_000;
  assert.ok(!('error' in (await harness.periodic())));
  assert.equal(ran.length, 1, 'not due yet');
  assert.equal(ok(await harness.request('read', 'static-creds/svc'))!.data!.ttl, 1);
  state.clock += 1_000;
  assert.ok(!('error' in (await harness.periodic())));
  assert.equal(ran.length, 2, 'due: rotated');
  const second = ok(await harness.request('read', 'static-creds/svc'))!.data!;
  assert.equal(second.password, passwordIn(ran[1]));
  assert.notEqual(second.password, first);
  assert.equal(second.last_vault_rotation, new Date(state.clock).toISOString());
  assert.equal(second.ttl, 60);

  ok(await harness.request('update', 'rotate-role/svc'));
  assert.equal(ran.length, 3);
  assert.equal(ok(await harness.request('read', 'static-creds/svc'))!.data!.password, passwordIn(ran[2]));
  fails(await harness.request('update', 'rotate-role/missing'), 'no static role found for role name');
});

test('static-roles: a rotation that fails after the database took the password is finished with that same password', async () => {
  const { harness, ran, state, passwordIn } = staticDatabase();
  ok(await harness.request('update', 'config/app', { ...PG, allowed_roles: '*' }));
  ok(await harness.request('update', 'static-roles/svc', { db_name: 'app', username: 'svc_user', rotation_period: 60 }));
  const before = ok(await harness.request("read", "static-creds/svc"))!.data!.password as string;

  // The statement runs (the database may now hold the new password), then the connection dies before the commit.
  state.failAfterRun = true;
  state.clock += 61_000;
  const failed = await harness.periodic();
  assert.ok('error' in failed, 'the periodic call reports the failure');
  assert.equal(failed.error.message, 'static role rotation failed: svc');
  const attempted = passwordIn(ran[1]);
  assert.ok(attempted && attempted !== before);
  assert.ok(harness.storage.keys().includes('static-wal/svc'), 'the intent is still pending');
  assert.equal(ok(await harness.request('read', 'static-creds/svc'))!.data!.password, before, 'not committed');

  // The next run finishes the pending rotation: the same password again, then committed.
  state.failAfterRun = false;
  assert.ok(!('error' in (await harness.periodic())));
  assert.equal(passwordIn(ran[2]), attempted, 'the pending password, not a new one');
  assert.equal(ok(await harness.request('read', 'static-creds/svc'))!.data!.password, attempted);
  assert.ok(!harness.storage.keys().includes('static-wal/svc'), 'the intent is gone once committed');

  // A rotation error names no password.
  state.failAfterRun = true;
  const refused = await harness.request('update', 'rotate-role/svc');
  assert.match(refused.error!.message, /^error setting credentials: server closed the connection unexpectedly$/);
});
