import { CofferError } from '#contracts';

export type FlagKind = 'string' | 'bool' | 'strings';

export interface FlagSpec {
  kind: FlagKind;
  usage: string;
  default?: string | boolean;
  /** Other names for the flag (Vault's `Aliases`, e.g. `-f` for `-force`); the value is kept under the main name. */
  aliases?: string[];
}

export interface ParsedFlags {
  flags: Record<string, string | boolean | string[] | undefined>;
  args: string[];
}

/**
 * Vault's (Go's) flag syntax: `-name=value`, `-name value`, `--name`, booleans as `-name` or `-name=false`; flags
 * stop at the first argument that is not one, or at `--`. An unknown flag is a usage error.
 */
export function parseFlags(argv: string[], specs: Record<string, FlagSpec>): ParsedFlags {
  const flags: ParsedFlags['flags'] = {};
  for (const [name, spec] of Object.entries(specs)) flags[name] = spec.kind === 'strings' ? [] : spec.default;
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const given = eq === -1 ? body : body.slice(0, eq);
    const name = specs[given] ? given : (Object.keys(specs).find((n) => specs[n].aliases?.includes(given)) ?? given);
    const spec = specs[name];
    if (!spec) throw new CofferError('invalid-request', `flag provided but not defined: -${given}`);
    if (spec.kind === 'bool') {
      const raw = eq === -1 ? 'true' : body.slice(eq + 1);
      if (!['true', 'false', '1', '0', 't', 'f'].includes(raw)) {
        throw new CofferError('invalid-request', `invalid boolean value ${JSON.stringify(raw)} for -${name}`);
      }
      flags[name] = ['true', '1', 't'].includes(raw);
      continue;
    }
    let value: string;
    if (eq !== -1) value = body.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i];
    else throw new CofferError('invalid-request', `flag needs an argument: -${name}`);
    if (spec.kind === 'strings') (flags[name] as string[]).push(value);
    else flags[name] = value;
  }
  return { flags, args: argv.slice(i) };
}
