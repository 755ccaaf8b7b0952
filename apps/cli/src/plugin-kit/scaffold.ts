/**
 * What `coffer plugin new` writes: a plugin project that builds with the SDK package alone. Pure: names in, file
 * contents out; the command writes them.
 */
import { COFFER_VERSION } from '#contracts';

export type ScaffoldType = 'secret' | 'auth';

export const SDK_PACKAGE = '@coffer/plugin-sdk';

export function validPluginName(name: string): boolean {
  return /^[a-z0-9][a-z0-9._-]*$/.test(name) && name.length <= 128;
}

/** Files by relative path. `sdk` is the dependency spec of the SDK (a version range, a tarball or a folder). */
export function scaffoldFiles(name: string, type: ScaffoldType, sdk = '^0.1.0'): Record<string, string> {
  const files: Record<string, string> = {
    'package.json': `${JSON.stringify(
      {
        name,
        version: '0.1.0',
        private: true,
        description: `A Coffer ${type === 'auth' ? 'auth method' : 'secrets engine'} plugin`,
        type: 'module',
        scripts: {
          build: 'coffer-plugin build',
          test: 'coffer-plugin test',
          conformance: `coffer plugin test -type=${type} ${conformanceFlags(type)} dist/${name}`,
        },
        dependencies: { [SDK_PACKAGE]: sdk },
        devDependencies: { '@types/node': '20.19.43', typescript: '6.0.3' },
      },
      null,
      2,
    )}\n`,
    'tsconfig.json': `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2023',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          lib: ['ES2023'],
          types: ['node'],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
        },
        include: ['src'],
      },
      null,
      2,
    )}\n`,
    '.gitignore': 'node_modules/\ndist/\n',
    'src/main.ts': `// The executable: \`npm run build\` bundles this file (and all it imports) into dist/${name}.
import { serve } from '${SDK_PACKAGE}';
import { backend } from './backend.js';

serve(backend);
`,
    'src/backend.ts': type === 'auth' ? authBackend(name) : secretBackend(name),
    'src/backend.test.ts': type === 'auth' ? authTest() : secretTest(),
    'README.md': readme(name, type),
  };
  return files;
}

function conformanceFlags(type: ScaffoldType): string {
  return type === 'auth' ? `-path=users/conformance -data='{"password":"p","policies":"default"}'` : `-path=items/conformance`;
}

function secretBackend(name: string): string {
  return `/**
 * ${name}: keeps values under items/<name>. The declaration is data: routing, field conversion, warnings and
 * help all come from it (see the SDK's README).
 */
import { defineBackend, defineRoute, listResponse, type RequestOf } from '${SDK_PACKAGE}';

// A pattern is a regular expression, anchored; a named group becomes a string field of req.data (Vault's
// GenericNameRegex here, written out: a literal pattern lets TypeScript see the capture).
const item = defineRoute('items/(?<name>\\\\w(([\\\\w.-]+)?\\\\w)?)', {
  value: { type: 'string', description: 'The value to keep.' },
});

async function writeItem(req: RequestOf<typeof item>) {
  await req.storage.putJson(\`items/\${req.data.name}\`, { value: req.data.value });
  return null; // nothing to answer: 204
}

export const backend = defineBackend({
  type: 'secret',
  name: '${name}',
  version: 'v0.1.0',
  help: 'Keeps values under items/.',
  paths: [
    item.path({
      // The host asks before a write: false sends create, true update.
      exists: async (req) => req.storage.has(\`items/\${req.data.name}\`),
      operations: {
        create: writeItem,
        update: writeItem,
        read: item.handler(async (req) => {
          const stored = await req.storage.getJson<{ value: string }>(\`items/\${req.data.name}\`);
          return stored === null ? null : { data: stored }; // null: 404
        }),
        delete: item.handler(async (req) => {
          await req.storage.delete(\`items/\${req.data.name}\`);
          return null;
        }),
      },
      help: 'One item.',
      description: 'Write value to keep it, read it back, delete it.',
    }),
    {
      // A list reaches the plugin with a trailing "/", as in Vault.
      pattern: 'items/?',
      operations: { list: async (req) => listResponse(await req.storage.list('items/')) },
      help: 'The items kept.',
    },
  ],
});
`;
}

function secretTest(): string {
  return `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHarness } from '${SDK_PACKAGE}';
import { backend } from './backend.js';

test('an item is written, read, listed and deleted', async () => {
  const harness = createHarness(backend);
  assert.deepEqual(await harness.request('read', 'items/db'), { response: null });
  assert.deepEqual(await harness.request('update', 'items/db', { value: 's3cr3t' }), { response: null });
  assert.deepEqual(await harness.request('read', 'items/db'), { response: { data: { value: 's3cr3t' } } });
  assert.deepEqual(await harness.request('list', 'items/'), { response: { data: { keys: ['db'] } } });
  await harness.request('delete', 'items/db');
  assert.deepEqual(await harness.request('read', 'items/db'), { response: null });
});

test('an unknown field is ignored with a warning', async () => {
  const harness = createHarness(backend);
  await harness.request('update', 'items/db', { value: 'v' });
  const result = await harness.request('read', 'items/db', { stray: 1 });
  assert.deepEqual(result.response?.warnings, ['Endpoint ignored these unrecognized parameters: [stray]']);
});
`;
}

function authBackend(name: string): string {
  return `/**
 * ${name}: users with a password and policies; \`login/<name>\` (served without a token) returns a token's auth.
 */
import { scryptSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { defineBackend, defineRoute, PluginError } from '${SDK_PACKAGE}';

const user = defineRoute('users/(?<name>\\\\w(([\\\\w.-]+)?\\\\w)?)', {
  password: { type: 'string', description: 'The password.' },
  policies: { type: 'comma-list', description: 'Policies of the tokens this user logs in to.' },
});
const login = defineRoute('login/(?<name>\\\\w(([\\\\w.-]+)?\\\\w)?)', { password: { type: 'string', required: true } });

interface StoredUser {
  salt: string;
  hash: string;
  policies: string[];
}

const hash = (password: string, salt: string) => scryptSync(password, Buffer.from(salt, 'base64'), 32).toString('base64');

export const backend = defineBackend({
  type: 'auth',
  name: '${name}',
  version: 'v0.1.0',
  help: 'Users with passwords; log in at login/<name>.',
  unauthenticated: ['login/*'],
  paths: [
    user.path({
      operations: {
        update: async (req) => {
          const salt = randomBytes(16).toString('base64');
          const stored: StoredUser = { salt, hash: hash(req.data.password, salt), policies: req.data.policies };
          await req.storage.putJson(\`users/\${req.data.name}\`, stored);
          return null;
        },
        read: async (req) => {
          const stored = await req.storage.getJson<StoredUser>(\`users/\${req.data.name}\`);
          return stored === null ? null : { data: { policies: stored.policies } };
        },
        delete: async (req) => (await req.storage.delete(\`users/\${req.data.name}\`), null),
      },
      help: 'One user.',
    }),
    login.path({
      operations: {
        update: async (req) => {
          const stored = await req.storage.getJson<StoredUser>(\`users/\${req.data.name}\`);
          const given = Buffer.from(hash(req.data.password, stored?.salt ?? ''), 'base64');
          if (!stored || !timingSafeEqual(given, Buffer.from(stored.hash, 'base64'))) {
            throw new PluginError('permission-denied', 'invalid username or password');
          }
          return { auth: { policies: stored.policies, metadata: { username: req.data.name }, displayName: req.data.name } };
        },
      },
      help: 'Log in with a password.',
    }),
  ],
});
`;
}

function authTest(): string {
  return `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHarness } from '${SDK_PACKAGE}';
import { backend } from './backend.js';

test('a user logs in with the right password and gets its policies', async () => {
  const harness = createHarness(backend);
  await harness.request('update', 'users/ann', { password: 'pw', policies: 'dev,ops' });
  const login = await harness.request('update', 'login/ann', { password: 'pw' });
  assert.deepEqual(login.response?.auth, { policies: ['dev', 'ops'], metadata: { username: 'ann' }, displayName: 'ann' });
  const wrong = await harness.request('update', 'login/ann', { password: 'nope' });
  assert.equal(wrong.error?.kind, 'permission-denied');
});
`;
}

function readme(name: string, type: ScaffoldType): string {
  const enable = type === 'auth' ? `coffer auth enable -path=${name} ${name}` : `coffer secrets enable -path=${name} ${name}`;
  const use =
    type === 'auth'
      ? `coffer write auth/${name}/users/ann password=pw policies=default\ncoffer write auth/${name}/login/ann password=pw`
      : `coffer write ${name}/items/db value=s3cr3t\ncoffer read ${name}/items/db`;
  return `# ${name}

A Coffer ${type === 'auth' ? 'auth method' : 'secrets engine'} plugin, made by \`coffer plugin new\` (Coffer ${COFFER_VERSION}).

    npm install
    npm test                 # the harness tests in src/*.test.ts, no server needed
    npm run build            # type-checks, then bundles dist/${name}: ONE executable file; prints its sha256
    npm run conformance      # coffer plugin test: the protocol checks, run against the built file

Run it on a dev server, which registers every file of its plugin directory:

    coffer server -dev -dev-plugin-dir=$PWD/dist
    ${enable}
    ${use.split('\n').join('\n    ')}

On a real server: copy dist/${name} into the server's plugin_directory and
\`coffer plugin register -sha256=<the printed sha256> ${type} ${name}\`.

See Coffer's docs/plugin-authoring.md.
`;
}
