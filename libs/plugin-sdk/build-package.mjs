#!/usr/bin/env node
// Builds the npm package's contents into libs/plugin-sdk/out/ (npm runs this as `prepack`, so `npm pack` in
// libs/plugin-sdk makes the tarball; the files published are package.json, README.md, CHANGELOG.md and out/):
//
//   out/index.js               the SDK, with the protocol and the duration parser it uses, as one ES module (esbuild)
//   out/build.js               bundlePlugin(), the build step (imports esbuild, the package's one dependency)
//   out/bin/coffer-plugin.js   the bin: `coffer-plugin build` and `coffer-plugin test`
//   out/types/                 declarations (tsc), with the repository's #plugin-protocol import made relative
//
// Run inside the repository (it compiles the sources there with the repository's esbuild and TypeScript).
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = join(here, 'out');

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // #plugin-protocol and #duration resolve through the root tsconfig's `paths` to the sources.
  tsconfig: join(root, 'tsconfig.json'),
  legalComments: 'none',
  logLevel: 'warning',
};
await esbuild.build({ ...common, entryPoints: [join(here, 'index.ts')], outfile: join(out, 'index.js') });
await esbuild.build({ ...common, entryPoints: [join(here, 'build.ts')], outfile: join(out, 'build.js'), external: ['esbuild'] });
await esbuild.build({
  ...common,
  entryPoints: [join(here, 'cli.ts')],
  outfile: join(out, 'bin', 'coffer-plugin.js'),
  external: ['esbuild'],
  banner: { js: '#!/usr/bin/env node' },
});
await chmod(join(out, 'bin', 'coffer-plugin.js'), 0o755);

// Declarations: tsc over the two public entries; what they import from libs/ comes along (out/types/<lib>/).
const tsconfig = join(out, 'tsconfig.types.json');
await writeFile(
  tsconfig,
  JSON.stringify({
    extends: join(root, 'tsconfig.json'),
    compilerOptions: {
      declaration: true,
      emitDeclarationOnly: true,
      sourceMap: false,
      incremental: false,
      rootDir: join(root, 'libs'),
      outDir: join(out, 'types'),
    },
    include: [],
    files: [join(here, 'index.ts'), join(here, 'build.ts')],
  }),
);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', tsconfig], { cwd: root, stdio: 'inherit' });
await rm(tsconfig);
if (result.status !== 0) {
  console.error('build-package: tsc failed');
  process.exit(1);
}

// The repository's import mappings (#plugin-protocol, #duration) mean nothing in a consumer: make them relative.
const mapped = { '#plugin-protocol': 'plugin-protocol/index.js', '#duration': 'duration/index.js' };
for (const file of await walk(join(out, 'types'))) {
  if (!file.endsWith('.d.ts')) continue;
  const text = await readFile(file, 'utf8');
  const rewritten = text.replace(/(from |import\()(['"])(#[\w-]+)\2/g, (all, lead, quote, name) => {
    if (!(name in mapped)) throw new Error(`${relative(out, file)}: no mapping for ${name}`);
    let target = relative(dirname(file), join(out, 'types', mapped[name]));
    if (!target.startsWith('.')) target = `./${target}`;
    return `${lead}${quote}${target}${quote}`;
  });
  if (rewritten !== text) await writeFile(file, rewritten);
}
console.log(`build-package: ${relative(root, out)}/ ready`);

async function walk(dir) {
  const files = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(path)));
    else files.push(path);
  }
  return files;
}
