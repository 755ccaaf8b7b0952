import { join } from 'node:path';
import { test } from 'node:test';
import { CofferError } from '../contracts/errors.js';
import { loadConfig } from './index.js';
import { rejectsWithConfigError, scratchDir, writeFiles } from './testing.js';

const noEnv = { env: {} };

/** Each case: a file's text, the key the error must name, and words it must hold. */
const BAD_FILES: { name: string; hcl: string; key: string; includes: string[] }[] = [
  {
    name: 'an unknown key, with the closest known key',
    hcl: 'plugin_dir = "/opt/plugins"',
    key: 'plugin_dir',
    includes: ['unknown key "plugin_dir" (did you mean "plugin_directory"?)'],
  },
  { name: 'an unknown key far from any', hcl: 'frobnicate = 1', key: 'frobnicate', includes: ['unknown key "frobnicate"'] },
  {
    name: 'an unknown key inside a block',
    hcl: 'listener "tcp" {\n  adress = "0.0.0.0:8200"\n  tls_disable = true\n}',
    key: 'listener.tcp.adress',
    includes: ['unknown key "listener.tcp.adress" (did you mean "address"?)'],
  },
  {
    name: 'a string where an integer belongs',
    hcl: 'plugin_file_uid = "root"',
    key: 'plugin_file_uid',
    includes: ['"plugin_file_uid" must be an integer (got "root")'],
  },
  { name: 'a fraction where an integer belongs', hcl: 'plugin_file_uid = 1.5', key: 'plugin_file_uid', includes: ['must be an integer'] },
  {
    name: 'a word where a boolean belongs',
    hcl: 'listener "tcp" {\n  tls_disable = "maybe"\n}',
    key: 'listener.tcp.tls_disable',
    includes: ['must be a boolean'],
  },
  {
    name: 'a bad duration',
    hcl: 'default_lease_ttl = "768x"',
    key: 'default_lease_ttl',
    includes: ['must be a duration such as "768h"', '(got "768x")'],
  },
  { name: 'a negative duration', hcl: 'max_lease_ttl = "-1h"', key: 'max_lease_ttl', includes: ['must not be negative'] },
  {
    name: 'a relative plugin_directory',
    hcl: 'plugin_directory = "plugins"',
    key: 'plugin_directory',
    includes: ['must be an absolute path'],
  },
  { name: 'a bad octal mode', hcl: 'plugin_file_permissions = "0855"', key: 'plugin_file_permissions', includes: ['octal'] },
  {
    name: 'a bad log level',
    hcl: 'log_level = "loud"',
    key: 'log_level',
    includes: ['must be one of trace, debug, info, warn, error', '(got "loud")'],
  },
  { name: 'an unknown service', hcl: 'services = ["vault"]', key: 'services', includes: ['must be one of gateway'] },
  {
    name: 'an unknown storage type',
    hcl: 'storage "raft" {\n  path = "/data"\n}',
    key: 'storage',
    includes: ['unknown "storage" type "raft"; Coffer supports "postgresql"'],
  },
  {
    name: 'an unknown listener type',
    hcl: 'listener "unix" {\n  address = "/run/coffer.sock"\n}',
    key: 'listener',
    includes: ['unknown "listener" type "unix"; Coffer supports "tcp"'],
  },
  {
    name: 'an unknown bus type',
    hcl: 'bus "kafka" {\n  url = "kafka:9092"\n}',
    key: 'bus',
    includes: ['unknown "bus" type "kafka"; Coffer supports "nats"'],
  },
  {
    name: 'a NATS namespace that would add a subject level or a wildcard',
    hcl: 'bus "nats" {\n  url = "nats://n:4222"\n  namespace = "prod.>"\n}',
    key: 'bus.nats.namespace',
    includes: ['must be 1 to 64 letters, digits, "_" or "-"'],
  },
  {
    name: 'a block without its type',
    hcl: 'storage {\n  connection_url = "postgres://db/coffer"\n}',
    key: 'storage',
    includes: ['needs a type, as in storage "postgresql" { ... }'],
  },
  {
    name: 'two storage blocks in one file',
    hcl: 'storage "postgresql" {\n  connection_url = "postgres://a/c"\n}\nstorage "postgresql" {\n  connection_url = "postgres://b/c"\n}',
    key: 'storage',
    includes: ['only one "storage" block is allowed in a file'],
  },
  {
    name: 'a default lease longer than the maximum',
    hcl: 'default_lease_ttl = "1000h"',
    key: 'default_lease_ttl',
    includes: ['"default_lease_ttl" (3600000s) must not be longer than "max_lease_ttl" (2764800s, the default)'],
  },
  {
    name: 'a listener with TLS on and no certificate',
    hcl: 'listener "tcp" {\n  address = "0.0.0.0:8200"\n}',
    key: 'listener.tcp.tls_cert_file',
    includes: ['is required unless tls_disable = true'],
  },
  {
    name: 'the second of two listeners, named by its index',
    hcl: 'listener "tcp" {\n  tls_disable = true\n}\nlistener "tcp" {\n  address = "0.0.0.0:8201"\n  tls_cert_file = "/c.pem"\n}',
    key: 'listener.tcp[1].tls_key_file',
    includes: ['is required unless tls_disable = true'],
  },
  {
    name: 'two listeners on one address',
    hcl: 'listener "tcp" {\n  tls_disable = true\n}\nlistener "tcp" {\n  tls_disable = true\n}',
    key: 'listener.tcp[1].address',
    includes: ['127.0.0.1:8200 is already used by another listener'],
  },
  {
    name: 'a bad listener address',
    hcl: 'listener "tcp" {\n  address = "8200"\n  tls_disable = true\n}',
    key: 'listener.tcp.address',
    includes: ['must be host:port'],
  },
  {
    name: 'a storage block without its connection_url',
    hcl: 'storage "postgresql" {\n  max_connections = 5\n}',
    key: 'storage.postgresql.connection_url',
    includes: ['is required (or set $COFFER_PG_CONNECTION_URL)'],
  },
  {
    name: 'a NATS user without a password',
    hcl: 'bus "nats" {\n  url = "nats://n:4222"\n  user = "coffer"\n}',
    key: 'bus.nats.password',
    includes: ['is required when "user" is set'],
  },
  {
    name: 'an unquoted word, which HCL reads as an expression',
    hcl: 'log_level = info',
    key: 'log_level',
    includes: ['is an HCL expression (got "${info}")', 'Coffer reads literal values only'],
  },
  {
    name: 'an interpolation',
    hcl: 'plugin_directory = "${path.module}/plugins"',
    key: 'plugin_directory',
    includes: ['is an HCL expression', 'write a literal "${" as "$${"'],
  },
];

for (const bad of BAD_FILES) {
  test(`refused, naming file and key: ${bad.name}`, async (t) => {
    const dir = await scratchDir(t);
    const file = await writeFiles(dir, { 'coffer.hcl': `${bad.hcl}\n` });
    await rejectsWithConfigError(loadConfig(file, noEnv), { source: file, key: bad.key, includes: bad.includes });
  });
}

test('a ConfigError is a CofferError with code invalid-request', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': 'log_level = "loud"\n' });
  const err = await rejectsWithConfigError(loadConfig(file, noEnv), { source: file, key: 'log_level' });
  if (!(err instanceof CofferError)) throw new Error('not a CofferError');
});

test('an error about a merged directory names the file that set the value', async (t) => {
  const dir = await scratchDir(t);
  await writeFiles(dir, {
    'a.hcl': 'max_lease_ttl = "1h"\n',
    'b.hcl': 'default_lease_ttl = "2h"\n',
    'c.hcl': 'listener "tcp" {\n  tls_disable = true\n}\n',
    'd.hcl': 'listener "tcp" {\n  tls_disable = true\n}\n',
  });
  await rejectsWithConfigError(loadConfig(dir, noEnv), {
    source: join(dir, 'b.hcl'),
    key: 'default_lease_ttl',
    includes: [`(3600s, set in ${join(dir, 'a.hcl')})`],
  });
  await writeFiles(dir, { 'b.hcl': '' });
  await rejectsWithConfigError(loadConfig(dir, noEnv), {
    source: join(dir, 'd.hcl'),
    key: 'listener.tcp.address',
    includes: [`already used by another listener (in ${join(dir, 'c.hcl')})`],
  });
});

test('an HCL syntax error keeps the parser’s line and column', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': 'log_level = "info"\nplugin_directory =\n' });
  await rejectsWithConfigError(loadConfig(file, noEnv), {
    source: file,
    includes: ['line 2, column 19: Invalid expression'],
  });
});

test('a JSON syntax error says where, without quoting the file', async (t) => {
  const dir = await scratchDir(t);
  const files = {
    'trailing.json': '{\n  "storage": {"postgresql": {"connection_url": "postgres://u:hunter2@db/c"}}}}\n',
    'bare.json': '{"bus": {"nats": {"url": "nats://n:4222", "password": hunter2}}}',
  };
  await writeFiles(dir, files);
  await rejectsWithConfigError(loadConfig(join(dir, 'trailing.json'), noEnv), {
    source: join(dir, 'trailing.json'),
    includes: [/line 2, column \d+: invalid JSON/],
    excludes: ['hunter2'],
  });
  await rejectsWithConfigError(loadConfig(join(dir, 'bare.json'), noEnv), {
    source: join(dir, 'bare.json'),
    includes: ['invalid JSON'],
    excludes: ['hunter2'],
  });
});

test('secret values never appear in an error', async (t) => {
  const dir = await scratchDir(t);
  const cases: [hcl: string, key: string][] = [
    ['storage "postgresql" {\n  connection_url = "mysql://coffer:hunter2@db/coffer"\n}', 'storage.postgresql.connection_url'],
    ['storage "postgresql" {\n  connection_url = "hunter2"\n}', 'storage.postgresql.connection_url'],
    ['bus "nats" {\n  url = "nats://n:4222"\n  user = "u"\n  password = 12345\n}', 'bus.nats.password'],
    ['bus "nats" {\n  url = "http://u:hunter2@n:4222"\n}', 'bus.nats.url'],
    ['bus "nats" {\n  url = "nats://n:4222"\n  token = hunter2\n}', 'bus.nats.token'],
  ];
  for (const [index, [hcl, key]] of cases.entries()) {
    const file = await writeFiles(dir, { [`case-${index}.hcl`]: `${hcl}\n` });
    await rejectsWithConfigError(loadConfig(file, noEnv), { source: file, key, excludes: ['hunter2', '12345'] });
  }
});

test('a bad environment override is blamed on its variable', async (t) => {
  const dir = await scratchDir(t);
  const file = await writeFiles(dir, { 'coffer.hcl': 'storage "postgresql" {}\n' });
  await rejectsWithConfigError(loadConfig(file, { env: { COFFER_LOG_LEVEL: 'loud' } }), {
    source: '$COFFER_LOG_LEVEL',
    key: 'log_level',
    includes: ['must be one of'],
  });
  await rejectsWithConfigError(loadConfig(file, { env: { VAULT_PG_CONNECTION_URL: 'mysql://u:hunter2@db' } }), {
    source: '$VAULT_PG_CONNECTION_URL',
    key: 'storage.postgresql.connection_url',
    excludes: ['hunter2'],
  });
});

test('paths that hold no config are refused', async (t) => {
  const dir = await scratchDir(t);
  await writeFiles(dir, { 'empty/README.md': '# nothing here\n', 'leftovers/coffer.hcl~': 'log_level = "info"\n' });
  await rejectsWithConfigError(loadConfig(join(dir, 'empty'), noEnv), {
    source: join(dir, 'empty'),
    includes: ['holds no *.hcl or *.json file'],
  });
  await rejectsWithConfigError(loadConfig(join(dir, 'leftovers'), noEnv), {
    source: join(dir, 'leftovers'),
    includes: ['holds no *.hcl or *.json file'],
  });
  await rejectsWithConfigError(loadConfig(join(dir, 'missing.hcl'), noEnv), {
    source: join(dir, 'missing.hcl'),
    includes: ['no such file or directory'],
  });
  await rejectsWithConfigError(loadConfig([], noEnv), { source: 'config', includes: ['no config file or directory'] });
});
