/**
 * `coffer plugin new` and `coffer plugin test`: for plugin authors, no server involved.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { defineCommand, UsageError } from '../client/command.js';
import { runConformance, type CheckResult } from '../plugin-kit/conformance.js';
import { scaffoldFiles, validPluginName, type ScaffoldType } from '../plugin-kit/scaffold.js';

/**
 * Go's flags stop at the first argument; these commands' synopses put NAME or FILE first, so `-x=y` after it is
 * moved before it (only the `-name=value` and boolean forms, which need no look-ahead).
 */
export function flagsFirst(argv: string[]): string[] {
  const flags: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg.startsWith('-') && arg !== '-') flags.push(arg);
    else {
      rest.push(arg);
    }
  }
  return [...flags, ...rest];
}

const newCommand = defineCommand({
  synopsis: 'coffer plugin new [options] NAME',
  help: `  Creates a plugin project in a new folder: a backend declared with the
  TypeScript SDK (@coffer/plugin-sdk), its main, a harness test, and
  package.json scripts to test and build it. Nothing is installed.

      $ coffer plugin new my-plugin
      $ coffer plugin new -type=auth -dir=./plugins my-auth
      $ cd my-plugin && npm install && npm test && npm run build`,
  flags: {
    type: { kind: 'string', usage: 'The plugin type: "secret" or "auth".', default: 'secret' },
    dir: { kind: 'string', usage: 'The folder to create the project in (as DIR/NAME).', default: '.' },
    sdk: { kind: 'string', usage: 'The SDK dependency to write into package.json: a version range, a tarball or a folder.', default: '^0.1.0' },
  },
  args: 1,
  run: async (ctx) => {
    const name = ctx.args[0].trim();
    const type = String(ctx.flags.type);
    if (type !== 'secret' && type !== 'auth') throw new UsageError(`Error: "${type}" is not a plugin type a plugin project can have; expected secret or auth`);
    if (!validPluginName(name)) throw new UsageError(`Error: "${name}" is not a plugin name: lower-case letters, digits, ".", "_" or "-", starting with a letter or digit`);
    const target = resolve(String(ctx.flags.dir), name);
    if (existsSync(target) && readdirSync(target).length) throw new UsageError(`Error: ${target} exists and is not empty`);
    let sdk = String(ctx.flags.sdk);
    // A local tarball or folder is written as an absolute file: spec, so the project installs it from anywhere.
    if (/^(\.|\/)/.test(sdk) || sdk.endsWith('.tgz')) sdk = `file:${resolve(sdk)}`;
    for (const [path, content] of Object.entries(scaffoldFiles(name, type as ScaffoldType, sdk))) {
      mkdirSync(dirname(join(target, path)), { recursive: true });
      writeFileSync(join(target, path), content);
    }
    ctx.out(`Success! Created ${type} plugin project ${name} in ${target}\n\n  cd ${target}\n  npm install\n  npm test\n  npm run build\n`);
    return 0;
  },
});

const MARK: Record<CheckResult['status'], string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' };

const testCommand = defineCommand({
  synopsis: 'coffer plugin test [options] FILE',
  help: `  Runs a plugin executable, in any language, as a Coffer server would and checks
  it against the plugin protocol (docs/plugin-protocol.md): the handshake,
  every method against its JSON Schema, -32601 for unknown methods, -32602 for
  invalid params, timeouts, large values, concurrent calls, storage scoping,
  shutdown. Prints PASS, FAIL or SKIP per check; exits 2 when a check failed.

  Checks that need the plugin to store something want a path that stores what
  is written to it (-path), with the body to write (-data, JSON; its string
  values are replaced by the kit's own):

      $ coffer plugin test -type=secret dist/my-plugin
      $ coffer plugin test -path=items/conformance dist/my-plugin
      $ coffer plugin test -type=auth -path=users/x -data='{"password":"p"}' dist/my-auth`,
  flags: {
    type: { kind: 'string', usage: 'The type the plugin must say it is: "secret" or "auth".' },
    path: { kind: 'string', usage: 'A path, relative to the mount, that stores what is written to it.' },
    data: { kind: 'string', usage: 'The JSON object written to -path (default {"value": ...}).' },
    timeout: { kind: 'string', usage: 'Milliseconds a call may take, as the host\'s call timeout.', default: '30000' },
    'start-timeout': { kind: 'string', usage: 'Milliseconds the handshake may take.', default: '10000' },
  },
  args: 1,
  run: async (ctx) => {
    const file = resolve(ctx.args[0]);
    const type = ctx.flags.type as string | undefined;
    if (type !== undefined && type !== 'secret' && type !== 'auth') throw new UsageError(`Error: -type must be secret or auth, not "${type}"`);
    let data: Record<string, unknown> | undefined;
    if (ctx.flags.data !== undefined) {
      try {
        data = JSON.parse(String(ctx.flags.data)) as Record<string, unknown>;
      } catch (err) {
        throw new UsageError(`Error: -data is not JSON: ${(err as Error).message}`);
      }
      if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new UsageError('Error: -data must be a JSON object');
    }
    const number = (flag: string) => {
      const n = Number(ctx.flags[flag]);
      if (!Number.isInteger(n) || n <= 0) throw new UsageError(`Error: -${flag} must be a whole number of milliseconds`);
      return n;
    };
    let results: CheckResult[];
    try {
      results = await runConformance(
        {
          file,
          type: type as 'secret' | 'auth' | undefined,
          path: ctx.flags.path as string | undefined,
          data,
          callTimeoutMs: number('timeout'),
          startTimeoutMs: number('start-timeout'),
        },
        (r) => ctx.out(`${MARK[r.status]}  ${r.name}${r.detail ? `: ${r.detail}` : ''}\n`),
      );
    } catch (err) {
      throw new UsageError(`Error: ${(err as Error).message}`);
    }
    const count = (s: CheckResult['status']) => results.filter((r) => r.status === s).length;
    ctx.out(`\n${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped\n`);
    return count('fail') ? 2 : 0;
  },
});

export const pluginNewCommand = (argv: string[]) => newCommand(flagsFirst(argv));
export const pluginTestCommand = (argv: string[]) => testCommand(flagsFirst(argv));
