/**
 * The one way a TypeScript plugin becomes an executable: an esbuild bundle of its entry (SDK and protocol included)
 * into ONE file with a shebang. The repository's own plugins (scripts/build-plugins.mjs) and every plugin project
 * outside it (`coffer-plugin build`) use this function, so there is one build format everywhere.
 *
 * The format is an ES module. The host executes a copy named by its SHA-256, without an extension, next to a
 * package.json without "type", so Node picks the module system from the syntax (on by default from Node 20.19 and
 * 22.7). An ES module allows top-level await; the banner's createRequire lets a bundled CommonJS dependency
 * require Node's built-ins.
 *
 * Not exported from index.ts: it imports esbuild, which must never end up inside a plugin bundle.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, basename } from 'node:path';
import * as esbuild from 'esbuild';

export const PLUGIN_BANNER =
  "#!/usr/bin/env node\nimport { createRequire as __cofferCreateRequire } from 'node:module';\nconst require = __cofferCreateRequire(import.meta.url);";

export interface BundleOptions {
  /** The plugin's entry, usually src/main.ts (the file that calls serve). */
  entry: string;
  /** Where the executable goes; its file name is the name a dev server registers it under. */
  outfile: string;
  /** Where relative paths and node_modules are resolved from (default: the entry's directory). */
  workingDir?: string;
  /** A tsconfig whose `paths` esbuild should follow (the repository maps #plugin-sdk to the sources this way). */
  tsconfig?: string;
  /**
   * Optional dependencies a library requires inside try/catch and the plugin never uses (pg's `pg-native`): each
   * resolves to a module that throws when loaded, so the bundle still imports nothing from outside itself.
   */
  stubs?: readonly string[];
}

/** Node's built-ins, which a bundled CommonJS dependency may require by their bare names (`util`, `net`). */
const BUILTINS = new Set(builtinModules);

export interface BundleResult {
  outfile: string;
  sha256: string;
  bytes: number;
}

/**
 * Bundles and writes the plugin (mode 0755, through a temporary file renamed into place so a runner never executes a
 * half-written plugin). Fails when the bundle would import anything but Node's built-ins at run time: the SHA-256
 * the catalog checks must cover everything the plugin runs.
 */
export async function bundlePlugin(options: BundleOptions): Promise<BundleResult> {
  const result = await esbuild.build({
    entryPoints: [options.entry],
    absWorkingDir: options.workingDir ?? dirname(options.entry),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    ...(options.tsconfig ? { tsconfig: options.tsconfig } : {}),
    banner: { js: PLUGIN_BANNER },
    legalComments: 'none',
    metafile: true,
    plugins: options.stubs?.length ? [stubPlugin(options.stubs)] : [],
    write: false,
    logLevel: 'warning',
  });
  const external = Object.values(result.metafile.outputs)
    .flatMap((output) => output.imports)
    .filter((imported) => imported.external && !imported.path.startsWith('node:') && !BUILTINS.has(imported.path));
  if (external.length) {
    throw new Error(`${basename(options.outfile)}: the bundle would import ${external.map((i) => i.path).join(', ')} at run time`);
  }
  const bytes = result.outputFiles[0]!.contents;
  await mkdir(dirname(options.outfile), { recursive: true });
  await replaceStaleDirectory(options.outfile);
  const temporary = join(dirname(options.outfile), `.${basename(options.outfile)}.${process.pid}.tmp`);
  await writeFile(temporary, bytes, { mode: 0o755 });
  await chmod(temporary, 0o755); // writeFile's mode is filtered by the umask
  await rename(temporary, options.outfile);
  return { outfile: options.outfile, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
}

function stubPlugin(stubs: readonly string[]): esbuild.Plugin {
  const filter = new RegExp(`^(${stubs.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`);
  return {
    name: 'coffer-stubs',
    setup(build) {
      build.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'coffer-stub' }));
      build.onLoad({ filter: /.*/, namespace: 'coffer-stub' }, (args) => ({
        contents: `throw new Error(${JSON.stringify(`${args.path} is not part of this plugin's bundle`)});`,
        loader: 'js',
      }));
    },
  };
}

/** An old build may have left a directory where the bundle goes (tsc output): it is replaced. */
async function replaceStaleDirectory(path: string): Promise<void> {
  try {
    if ((await stat(path)).isDirectory()) await rm(path, { recursive: true, force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
