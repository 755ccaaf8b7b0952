#!/usr/bin/env node
// Builds the plugins: each plugins/<name>/src/main.ts becomes ONE executable file dist/plugins/<name> (an esbuild
// bundle of all its code, SDK and protocol included, with a shebang), so the SHA-256 the catalog checks covers
// everything the plugin runs, and the file works wherever it is copied. Prints each plugin's sha256.
//
//   node scripts/build-plugins.mjs               type-check and compile plugins/ (tests to dist/plugin-tests), bundle all
//   node scripts/build-plugins.mjs mock-plugin   bundle only the plugins named
//   node scripts/build-plugins.mjs --skip-tsc    bundle only (esbuild does not type-check)
//
// Why two outputs: dist/plugins/<name> is a file, and tsc, which mirrors source folders, would want a directory of
// the same name for plugins/<name>/src/*.js. So tsconfig.build.json leaves plugins/ out, and plugins/tsconfig.json
// compiles plugin sources and tests to dist/plugin-tests/ instead (run here, so `npm run build` needs one step).
//
// A bundle is written to a temporary file and renamed into place, so a runner never executes a half-written plugin.
//
// Builtins: every bundle built here is one of the server's builtin plugins (as Vault compiles its builtins in),
// except the folders in NOT_BUILTIN. After bundling, each is started once and its hello line read (type, name,
// version: the plugin's own word), and dist/builtin-plugins.json lists them with their SHA-256. The catalog serves
// them under the hello's name with builtin: true. Adding a plugin folder is all it takes to add a builtin.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
// The SDK's build step (libs/plugin-sdk/build.ts, compiled by the tsc run of `npm run build` before this script):
// the same bundle format as `coffer-plugin build` outside the repository.
import { bundlePlugin } from '../dist/libs/plugin-sdk/build.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pluginsDir = join(root, 'plugins');
const outDir = join(root, 'dist', 'plugins');
const builtinManifest = join(root, 'dist', 'builtin-plugins.json');
/** Plugins that are built but are not builtins: the test fixture and the example to copy. */
const NOT_BUILTIN = new Set(['mock-plugin', 'template']);
/** pg requires its optional native binding inside try/catch, only when asked for (pg.native): never in a plugin. */
const STUBS = ['pg-native'];
const args = process.argv.slice(2);
const skipTsc = args.includes('--skip-tsc');
const only = args.filter((arg) => !arg.startsWith('--'));

const started = performance.now();

if (!skipTsc) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(pluginsDir, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('build-plugins: tsc -p plugins/tsconfig.json failed');
    process.exit(result.status ?? 1);
  }
}

const plugins = await findPlugins();
for (const name of only) {
  if (!plugins.includes(name)) fail(`no plugin "${name}" (no plugins/${name}/src/main.ts)`);
}
await mkdir(outDir, { recursive: true });

for (const name of only.length ? only : plugins) {
  const outfile = join(outDir, name);
  let built;
  try {
    // esbuild resolves #plugin-sdk and #plugin-protocol through tsconfig `paths` to the TypeScript sources (not to
    // the package.json imports that point into dist/), so a bundle never depends on a previous tsc run of plugins/.
    built = await bundlePlugin({ entry: join(pluginsDir, name, 'src', 'main.ts'), outfile, workingDir: root, tsconfig: join(pluginsDir, 'tsconfig.json'), stubs: STUBS });
  } catch (err) {
    fail(err.message);
  }
  const { sha256, bytes } = built;
  console.log(`build-plugins: ${relative(root, outfile).padEnd(28)} sha256 ${sha256}  (${(bytes / 1024).toFixed(1)} KiB)`);
}

for (const entry of await readdir(outDir)) {
  if (!entry.startsWith('.') && !plugins.includes(entry)) {
    console.warn(`build-plugins: dist/plugins/${entry} has no plugins/${entry}/src/main.ts (stale? delete it by hand)`);
  }
}
await writeBuiltinManifest(plugins.filter((name) => !NOT_BUILTIN.has(name)));
console.log(`build-plugins: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);

/**
 * dist/builtin-plugins.json: for each builtin bundle, what its hello says and its SHA-256. Bundles not built (yet)
 * are left out; the file is replaced whole through a rename, so a server never reads half of it.
 */
async function writeBuiltinManifest(names) {
  const plugins = [];
  for (const file of names) {
    let bytes;
    try {
      bytes = await readFile(join(outDir, file));
    } catch {
      continue;
    }
    const hello = await readHello(join(outDir, file));
    if (plugins.some((p) => p.type === hello.type && p.name === hello.name)) fail(`${file}: a second builtin ${hello.type} plugin named ${hello.name}`);
    plugins.push({ type: hello.type, name: hello.name, version: hello.version, file, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  const temporary = `${builtinManifest}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify({ plugins }, null, 2)}\n`);
  await rename(temporary, builtinManifest);
  console.log(`build-plugins: ${relative(root, builtinManifest)}: ${plugins.map((p) => `${p.type}/${p.name}`).join(', ') || 'none'}`);
}

/** Starts a bundle as a host would and reads its first line; closing stdin then tells it to exit. */
function readHello(path) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { PATH: process.env.PATH ?? '', COFFER_PLUGIN_MAGIC: 'd2a1f6b4-coffer-plugin-v1', COFFER_PLUGIN_PROTOCOL: '1' },
    });
    let text = '';
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`${path}: no hello within 10 s`))), 10_000);
    child.stdout.on('data', (chunk) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end < 0) return;
      clearTimeout(timer);
      child.stdin.end();
      try {
        const hello = JSON.parse(text.slice(0, end));
        if (hello.coffer !== 'plugin' || !['secret', 'auth'].includes(hello.type) || typeof hello.name !== 'string') throw new Error('not a hello');
        resolve(hello);
      } catch (err) {
        reject(new Error(`${path}: bad hello line: ${err.message}`));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!text.includes('\n')) reject(new Error(`${path}: exited with ${code} before its hello`));
    });
  });
}

/** The folders of plugins/ that hold a src/main.ts, sorted. */
async function findPlugins() {
  const found = [];
  for (const entry of await readdir(pluginsDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    try {
      if ((await stat(join(pluginsDir, entry.name, 'src', 'main.ts'))).isFile()) found.push(entry.name);
    } catch {
      // not a plugin folder
    }
  }
  for (const name of found) {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) fail(`plugins/${name}: a plugin folder name must be lower-case letters, digits, ".", "_" or "-"`);
  }
  return found.sort();
}

function fail(message) {
  console.error(`build-plugins: ${message}`);
  process.exit(1);
}
