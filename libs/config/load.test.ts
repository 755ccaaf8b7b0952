import assert from 'node:assert/strict';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from './index.js';
import { scratchDir, writeFiles } from './testing.js';

const noEnv = { env: {} };
const DEFAULT_TTL = 768 * 3600;

test('a single HCL file gives every key, typed and camel-cased', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, {
    'coffer.hcl': `
      plugin_directory        = "/opt/coffer/plugins"
      plugin_file_uid         = 1000
      plugin_file_permissions = "0750"
      api_addr                = "https://coffer.example.com:8200"
      log_level               = "debug"
      default_lease_ttl       = "1h"
      max_lease_ttl           = "30d"
      services                = ["gateway", "catalog"]
      ui                      = true
      disable_mlock           = true

      storage "postgresql" {
        connection_url  = "postgres://coffer:s3cret@db:5432/coffer"
        max_connections = 20
      }

      listener "tcp" {
        address       = "0.0.0.0:8200"
        tls_cert_file = "/etc/coffer/tls/cert.pem"
        tls_key_file  = "/etc/coffer/tls/key.pem"
      }

      listener "tcp" {
        address          = "127.0.0.1:8201"
        tls_disable      = true
        max_request_size = 1048576
      }

      bus "nats" {
        url      = "nats://nats-1:4222, nats://nats-2:4222"
        name     = "coffer"
        user     = "coffer"
        password = "n4ts"
      }
    `,
  });

  const config = await loadConfig(file, noEnv);

  assert.deepEqual(config, {
    pluginDirectory: '/opt/coffer/plugins',
    pluginFileUid: 1000,
    pluginFilePermissions: 0o750,
    apiAddr: 'https://coffer.example.com:8200',
    logLevel: 'debug',
    defaultLeaseTtl: 3600,
    maxLeaseTtl: 30 * 86_400,
    services: ['gateway', 'catalog'],
    ui: true,
    storage: { type: 'postgresql', connectionUrl: 'postgres://coffer:s3cret@db:5432/coffer', maxConnections: 20 },
    bus: { type: 'nats', servers: ['nats://nats-1:4222', 'nats://nats-2:4222'], name: 'coffer', user: 'coffer', password: 'n4ts' },
    listeners: [
      {
        type: 'tcp',
        address: '0.0.0.0:8200',
        tlsDisable: false,
        tlsCertFile: '/etc/coffer/tls/cert.pem',
        tlsKeyFile: '/etc/coffer/tls/key.pem',
        maxRequestSize: 33_554_432,
      },
      { type: 'tcp', address: '127.0.0.1:8201', tlsDisable: true, maxRequestSize: 1_048_576 },
    ],
    sources: [file],
  });
});

test('a nearly empty file gets the defaults', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': '# only a comment\n' });

  const config = await loadConfig(file, noEnv);

  assert.deepEqual(config, {
    logLevel: 'info',
    defaultLeaseTtl: DEFAULT_TTL,
    maxLeaseTtl: DEFAULT_TTL,
    services: ['gateway', 'catalog', 'mount-manager', 'plugin-runner'],
    listeners: [{ type: 'tcp', address: '127.0.0.1:8200', tlsDisable: true, maxRequestSize: 33_554_432 }],
    sources: [file],
  });
});

test('a directory merges its files in name order: later values win, listeners add up, storage is replaced', async (t) => {
  const dir = await scratchDir(t);
  // Written out of order, so only sorting can put a.hcl first.
  await writeFiles(dir, {
    'b.hcl': `
      plugin_directory = "/b/plugins"
      api_addr         = ""
      storage "postgresql" { connection_url = "postgres://b@db-b/coffer" }
      listener "tcp" {
        address     = "0.0.0.0:8201"
        tls_disable = true
      }
    `,
    'a.hcl': `
      plugin_directory = "/a/plugins"
      api_addr         = "http://a.example:8200"
      log_level        = "warn"
      storage "postgresql" {
        connection_url  = "postgres://a@db-a/coffer"
        max_connections = 5
      }
      listener "tcp" {
        address     = "127.0.0.1:8200"
        tls_disable = true
      }
    `,
    'c.json': JSON.stringify({ plugin_file_uid: 7 }),
    // None of these is read: editor leftovers, other extensions, subdirectories.
    'd.hcl~': 'broken {',
    '.#e.hcl': 'broken {',
    '#f.hcl#': 'broken {',
    'notes.txt': 'broken {',
    'sub/z.hcl': 'log_level = "trace"\n',
  });

  const config = await loadConfig(dir, noEnv);

  assert.deepEqual(config.sources, [join(dir, 'a.hcl'), join(dir, 'b.hcl'), join(dir, 'c.json')]);
  assert.equal(config.pluginDirectory, '/b/plugins');
  assert.equal(config.apiAddr, 'http://a.example:8200', 'an empty string does not erase an earlier value');
  assert.equal(config.logLevel, 'warn');
  assert.equal(config.pluginFileUid, 7);
  assert.deepEqual(config.storage, { type: 'postgresql', connectionUrl: 'postgres://b@db-b/coffer' });
  assert.deepEqual(
    config.listeners.map((listener) => listener.address),
    ['127.0.0.1:8200', '0.0.0.0:8201'],
  );
});

test('several paths merge in the order given, a directory expanding where it stands', async (t) => {
  const dir = await scratchDir(t);
  await writeFiles(dir, {
    'base.hcl': 'log_level = "error"\nplugin_directory = "/base"\n',
    'conf.d/10-level.hcl': 'log_level = "debug"\n',
    'conf.d/20-dir.hcl': 'plugin_directory = "/conf.d"\n',
    'last.hcl': 'plugin_directory = "/last"\n',
  });

  const config = await loadConfig([join(dir, 'base.hcl'), join(dir, 'conf.d'), join(dir, 'last.hcl')], noEnv);

  assert.equal(config.logLevel, 'debug');
  assert.equal(config.pluginDirectory, '/last');
  assert.deepEqual(config.sources, [
    join(dir, 'base.hcl'),
    join(dir, 'conf.d', '10-level.hcl'),
    join(dir, 'conf.d', '20-dir.hcl'),
    join(dir, 'last.hcl'),
  ]);
});

test('a symbolic link in a directory is read, as Kubernetes mounts ConfigMaps', async (t) => {
  const dir = await scratchDir(t);
  await writeFiles(dir, { '..data/coffer.hcl': 'log_level = "trace"\n' });
  await mkdir(join(dir, 'mounted'));
  await symlink(join(dir, '..data', 'coffer.hcl'), join(dir, 'mounted', 'coffer.hcl'));

  const config = await loadConfig(join(dir, 'mounted'), noEnv);

  assert.equal(config.logLevel, 'trace');
});

test('a JSON file uses the same keys, with blocks as objects or lists', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, {
    'coffer.json': JSON.stringify({
      plugin_directory: '/opt/plugins',
      plugin_file_permissions: '755',
      default_lease_ttl: 600,
      max_lease_ttl: '2h',
      storage: { postgresql: { connection_url: 'postgresql://db/coffer' } },
      listener: [
        { tcp: { address: '0.0.0.0:8200', tls_disable: 'true' } },
        { tcp: [{ address: '0.0.0.0:8201', tls_disable: 1 }] },
      ],
      bus: { nats: [{ url: 'nats://nats:4222', token: 't0ken' }] },
    }),
  });

  const config = await loadConfig(file, noEnv);

  assert.equal(config.pluginDirectory, '/opt/plugins');
  assert.equal(config.pluginFilePermissions, 0o755);
  assert.equal(config.defaultLeaseTtl, 600);
  assert.equal(config.maxLeaseTtl, 7200);
  assert.deepEqual(config.storage, { type: 'postgresql', connectionUrl: 'postgresql://db/coffer' });
  assert.deepEqual(
    config.listeners.map((listener) => [listener.address, listener.tlsDisable]),
    [
      ['0.0.0.0:8200', true],
      ['0.0.0.0:8201', true],
    ],
  );
  assert.deepEqual(config.bus, { type: 'nats', servers: ['nats://nats:4222'], token: 't0ken' });
});

test('values are read the way Vault reads them', async (t) => {
  const dir = await scratchDir(t);
  const cases: [hcl: string, pick: (c: Awaited<ReturnType<typeof loadConfig>>) => unknown, expected: unknown][] = [
    ['max_lease_ttl = "90s"', (c) => c.maxLeaseTtl, 90],
    ['max_lease_ttl = "30m"', (c) => c.maxLeaseTtl, 1800],
    ['max_lease_ttl = "1h30m"', (c) => c.maxLeaseTtl, 5400],
    ['max_lease_ttl = "1.5h"', (c) => c.maxLeaseTtl, 5400],
    ['max_lease_ttl = 3600', (c) => c.maxLeaseTtl, 3600],
    ['max_lease_ttl = "3600"', (c) => c.maxLeaseTtl, 3600],
    ['max_lease_ttl = "7d"', (c) => c.maxLeaseTtl, 7 * 86_400],
    ['max_lease_ttl = "768h"', (c) => c.maxLeaseTtl, DEFAULT_TTL],
    ['plugin_file_permissions = "0755"', (c) => c.pluginFilePermissions, 0o755],
    ['plugin_file_permissions = "755"', (c) => c.pluginFilePermissions, 0o755],
    // HCL hands a bare 0755 over as the number 755; base 8 still reads it as the operator meant.
    ['plugin_file_permissions = 0755', (c) => c.pluginFilePermissions, 0o755],
    ['plugin_file_uid = "1000"', (c) => c.pluginFileUid, 1000],
    ['listener "tcp" {\n tls_disable = "true"\n}', (c) => c.listeners[0]!.tlsDisable, true],
    ['listener "tcp" {\n tls_disable = 1\n}', (c) => c.listeners[0]!.tlsDisable, true],
    ['listener "tcp" {\n address = "[::]:8200"\n tls_disable = true\n}', (c) => c.listeners[0]!.address, '[::]:8200'],
    ['services = ["gateway", "gateway"]', (c) => c.services, ['gateway']],
    ['bus "nats" {\n url = "nats:4222"\n name = "coffer-$${x}"\n}', (c) => c.bus?.name, 'coffer-${x}'],
    ['bus "nats" {\n url = "nats://a:4222,nats://b:4222,"\n}', (c) => c.bus?.servers, ['nats://a:4222', 'nats://b:4222']],
    ['api_addr = null', (c) => c.apiAddr, undefined],
  ];
  for (const [index, [hcl, pick, expected]] of cases.entries()) {
    const file = await writeFiles(dir, { [`case-${index}.hcl`]: `${hcl}\n` });
    assert.deepEqual(pick(await loadConfig(file, noEnv)), expected, hcl);
  }
});

test('a lowered max_lease_ttl pulls an unset default_lease_ttl down with it', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': 'max_lease_ttl = "1h"\n' });

  const config = await loadConfig(file, noEnv);

  assert.equal(config.maxLeaseTtl, 3600);
  assert.equal(config.defaultLeaseTtl, 3600);
});

test('the environment overrides the files where Vault reads it', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, {
    'coffer.hcl': 'log_level = "info"\napi_addr = "http://file:8200"\nstorage "postgresql" {}\n',
  });

  const config = await loadConfig(file, {
    env: {
      COFFER_LOG_LEVEL: 'debug',
      VAULT_LOG_LEVEL: 'error', // COFFER_ comes first
      VAULT_API_ADDR: 'https://env:8200',
      VAULT_PG_CONNECTION_URL: 'postgres://coffer:pw@env-db/coffer',
    },
  });

  assert.equal(config.logLevel, 'debug');
  assert.equal(config.apiAddr, 'https://env:8200');
  assert.equal(config.storage?.connectionUrl, 'postgres://coffer:pw@env-db/coffer');
});

test('the environment overrides the bus block too: each compose container names its role files there', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': 'bus "nats" {\n  url = "tls://nats:4222"\n  inbox_prefix = "_INBOX_file"\n}\n' });

  const config = await loadConfig(file, {
    env: {
      COFFER_NATS_URL: 'tls://127.0.0.1:14222',
      COFFER_NATS_TLS_CA_FILE: '/etc/coffer/bus/ca.pem',
      COFFER_NATS_NKEY_SEED_FILE: '/etc/coffer/bus/nkey.seed',
      COFFER_NATS_MEMBERSHIP_KEY_FILE: '/etc/coffer/bus/membership.key',
      COFFER_NATS_INBOX_PREFIX: '_INBOX_gateway',
      COFFER_NATS_NAMESPACE: 'blue',
    },
  });

  assert.deepEqual(config.bus?.servers, ['tls://127.0.0.1:14222']);
  assert.equal(config.bus?.tlsCaFile, '/etc/coffer/bus/ca.pem');
  assert.equal(config.bus?.nkeySeedFile, '/etc/coffer/bus/nkey.seed');
  assert.equal(config.bus?.membershipKeyFile, '/etc/coffer/bus/membership.key');
  assert.equal(config.bus?.inboxPrefix, '_INBOX_gateway');
  assert.equal(config.bus?.namespace, 'blue');
});

test('a bus variable set with no bus block in the files makes no bus: the server then says the block is missing', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': 'log_level = "info"\n' });
  const config = await loadConfig(file, { env: { COFFER_NATS_URL: 'nats://127.0.0.1:4222' } });
  assert.equal(config.bus, undefined);
});
