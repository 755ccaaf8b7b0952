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
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
// The SDK's build step (libs/plugin-sdk/build.ts, compiled by the tsc run of `npm run build` before this script):
// the same bundle format as `coffer-plugin build` outside the repository.
import { bundlePlugin } from '../dist/libs/plugin-sdk/build.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pluginsDir = join(root, 'plugins');
const outDir = join(root, 'dist', 'plugins');
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
    built = await bundlePlugin({ entry: join(pluginsDir, name, 'src', 'main.ts'), outfile, workingDir: root, tsconfig: join(pluginsDir, 'tsconfig.json') });
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
console.log(`build-plugins: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);

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
