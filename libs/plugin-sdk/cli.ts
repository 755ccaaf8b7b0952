/**
 * `coffer-plugin`, the SDK package's bin, run inside a plugin project (the folder with its package.json):
 *
 *   coffer-plugin build [-entry=src/main.ts] [-out=dist/<name>] [-no-check]
 *       type-checks with the project's TypeScript when it has one (tsc --noEmit), then bundles the entry into ONE
 *       executable file (bundlePlugin) and prints its SHA-256, what `coffer plugin register -sha256=…` wants.
 *   coffer-plugin test [FILE...]
 *       runs the harness tests (src/**\/*.test.ts by default) with node's test runner, bundled first so the
 *       project needs no TypeScript loader.
 *
 * <name> is the package name without its scope: the plugin file's name is the name the catalog knows it by.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { bundlePlugin } from './build.js';

const USAGE = `Usage: coffer-plugin build [-entry=src/main.ts] [-out=dist/<name>] [-no-check]
       coffer-plugin test [FILE...]`;

function flag(args: string[], name: string): string | undefined {
  for (const arg of args) {
    const m = /^--?([\w-]+)(?:=(.*))?$/.exec(arg);
    if (m && m[1] === name) return m[2] ?? 'true';
  }
  return undefined;
}

function projectName(cwd: string): string {
  const file = join(cwd, 'package.json');
  if (!existsSync(file)) throw new Error(`no package.json in ${cwd}: run coffer-plugin in the plugin project's folder`);
  const name = String((JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name ?? '');
  const bare = name.replace(/^@[^/]+\//, '');
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(bare)) throw new Error(`package.json: name ${JSON.stringify(name)} is not a plugin name (lower-case letters, digits, ".", "_", "-")`);
  return bare;
}

async function build(cwd: string, args: string[]): Promise<number> {
  const entry = resolve(cwd, flag(args, 'entry') ?? 'src/main.ts');
  const outfile = resolve(cwd, flag(args, 'out') ?? join('dist', projectName(cwd)));
  if (!existsSync(entry)) throw new Error(`no entry ${relative(cwd, entry)} (give -entry=FILE)`);
  if (flag(args, 'no-check') === undefined) {
    let tsc: string | undefined;
    try {
      tsc = createRequire(join(cwd, 'package.json')).resolve('typescript/bin/tsc');
    } catch {
      process.stderr.write('coffer-plugin: typescript is not installed in this project: not type-checked (npm install -D typescript)\n');
    }
    if (tsc && existsSync(join(cwd, 'tsconfig.json'))) {
      const checked = spawnSync(process.execPath, [tsc, '--noEmit', '-p', cwd], { cwd, stdio: 'inherit' });
      if (checked.status !== 0) {
        process.stderr.write('coffer-plugin: type errors (above); nothing built. -no-check builds anyway.\n');
        return 1;
      }
    }
  }
  const built = await bundlePlugin({ entry, outfile, workingDir: cwd });
  process.stdout.write(`${relative(cwd, built.outfile)}  sha256 ${built.sha256}  (${(built.bytes / 1024).toFixed(1)} KiB)\n`);
  return 0;
}

function findTests(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') found.push(...findTests(path));
    else if (entry.isFile() && /\.test\.[cm]?[jt]s$/.test(entry.name)) found.push(path);
  }
  return found.sort();
}

async function test(cwd: string, args: string[]): Promise<number> {
  const named = args.filter((a) => !a.startsWith('-'));
  const files = named.length ? named.map((f) => resolve(cwd, f)) : findTests(join(cwd, 'src'));
  if (!files.length) throw new Error('no test files (src/**/*.test.ts)');
  const outdir = mkdtempSync(join(cwd, '.coffer-plugin-test-'));
  try {
    const entryPoints = Object.fromEntries(files.map((f) => [relative(cwd, f).replace(/\.[cm]?[jt]s$/, '').replace(/[\\/]/g, '__'), f]));
    await esbuild.build({
      entryPoints,
      absWorkingDir: cwd,
      outdir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      sourcemap: 'inline',
      logLevel: 'warning',
    });
    const outputs = readdirSync(outdir).filter((f) => f.endsWith('.mjs')).map((f) => join(outdir, f));
    // Run from inside another node --test (a CI job testing this), the child would report in the parent's private
    // format instead of printing: it is a test run of its own.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const run = spawnSync(process.execPath, ['--enable-source-maps', '--test', ...outputs], { cwd, stdio: 'inherit', env });
    return run.status ?? 1;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const cwd = process.cwd();
  switch (command) {
    case 'build':
      return build(cwd, rest);
    case 'test':
      return test(cwd, rest);
    case undefined:
    case '-h':
    case '-help':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`coffer-plugin: unknown command ${JSON.stringify(command)}\n${USAGE}\n`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`coffer-plugin: ${err.message}\n`);
    process.exit(1);
  },
);
