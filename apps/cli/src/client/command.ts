import { parseFlags, type FlagSpec } from '../flags.js';
import { Client, ResponseError, TransportError, type Secret } from './api.js';
import { humanDuration } from '#duration';
import { envelope, goValue, secretTable, structured, type Format } from './format.js';

export type Flags = Record<string, string | boolean | string[] | undefined>;

/** A local mistake (flags, arguments, input files): Vault prints it and exits 1. */
export class UsageError extends Error {}

/** A failure to print as is, with the exit code Vault uses for it. */
export class Failure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface Context {
  flags: Flags;
  args: string[];
  client: Client;
  format: Format;
  field: string | undefined;
  out(text: string): void;
  /** Runs a request; API/transport errors become `<prefix>: <error>` with exit 2, as Vault's commands print them. */
  remote<T>(prefix: string, run: () => Promise<T>): Promise<T>;
}

export interface CommandDef {
  /** `coffer read [options] PATH` */
  synopsis: string;
  /** Description and examples (already indented). */
  help: string;
  flags?: Record<string, FlagSpec>;
  /** Adds -format (and -field when `field` is true). */
  output?: boolean;
  field?: boolean;
  /** Exact argument count, or [min, max]. */
  args?: number | [number, number];
  run(ctx: Context): Promise<number>;
}

const HELP_FLAGS = ['-h', '-help', '--help'];

const HTTP_FLAGS: Record<string, FlagSpec> = {
  address: { kind: 'string', usage: 'Address of the Coffer server (env COFFER_ADDR or VAULT_ADDR; default http://127.0.0.1:8200).' },
  'ca-cert': { kind: 'string', usage: 'PEM file of the CA that signed the server\'s certificate (env COFFER_CACERT or VAULT_CACERT).' },
  'ca-path': { kind: 'string', usage: 'Directory of PEM CA files, used when -ca-cert is not set (env COFFER_CAPATH or VAULT_CAPATH).' },
  'client-cert': { kind: 'string', usage: 'PEM client certificate for a listener that asks for one (env VAULT_CLIENT_CERT).' },
  'client-key': { kind: 'string', usage: 'PEM key of -client-cert (env VAULT_CLIENT_KEY).' },
  'tls-server-name': { kind: 'string', usage: 'Name to check the server\'s certificate against, when not the address\'s host (env VAULT_TLS_SERVER_NAME).' },
  'tls-skip-verify': { kind: 'bool', usage: 'Do not verify the server\'s certificate. Never in production (env COFFER_SKIP_VERIFY or VAULT_SKIP_VERIFY).' },
};

export function helpText(def: CommandDef): string {
  const specs = allFlags(def);
  const opts = Object.entries(specs)
    .map(([n, f]) => `  -${n}${f.kind === 'bool' ? '' : '=<string>'}\n      ${f.usage}${f.default !== undefined && f.default !== '' ? ` The default is ${String(f.default)}.` : ''}`)
    .join('\n\n');
  return `Usage: ${def.synopsis}\n\n${def.help.replace(/\n*$/, '')}\n\nOptions:\n\n${opts}\n`;
}

function allFlags(def: CommandDef): Record<string, FlagSpec> {
  const specs: Record<string, FlagSpec> = { ...HTTP_FLAGS };
  if (def.output) specs.format = { kind: 'string', usage: 'Print the output in the given format: "table", "json" or "yaml" (env VAULT_FORMAT).', default: 'table' };
  if (def.field) specs.field = { kind: 'string', usage: 'Print only the field with the given name, without a trailing newline when not printing to a terminal.' };
  return { ...specs, ...def.flags };
}

export function defineCommand(def: CommandDef): (argv: string[]) => Promise<number> {
  return async (argv) => {
    try {
      const dash = argv.indexOf('--');
      if (argv.slice(0, dash === -1 ? undefined : dash).some((a) => HELP_FLAGS.includes(a))) {
        process.stdout.write(helpText(def));
        return 0;
      }
      let parsed;
      try {
        parsed = parseFlags(argv, allFlags(def));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const { flags, args } = parsed;
      const [min, max] = def.args === undefined ? [0, Infinity] : typeof def.args === 'number' ? [def.args, def.args] : def.args;
      if (args.length < min) throw new UsageError(`Not enough arguments (expected ${min}, got ${args.length})`);
      if (args.length > max) throw new UsageError(`Too many arguments (expected ${max}, got ${args.length})`);
      const rawFormat = String(def.output ? (argv.some((a) => /^--?format(=|$)/.test(a)) ? flags.format : process.env.VAULT_FORMAT || process.env.COFFER_FORMAT || 'table') : 'table').toLowerCase();
      if (!['table', 'json', 'yaml', 'yml'].includes(rawFormat)) throw new UsageError(`Invalid output format: ${rawFormat}`);
      const format = (rawFormat === 'yml' ? 'yaml' : rawFormat) as Format;
      const client = new Client({
        address: flags.address as string | undefined,
        tls: {
          caCert: flags['ca-cert'] as string | undefined,
          caPath: flags['ca-path'] as string | undefined,
          clientCert: flags['client-cert'] as string | undefined,
          clientKey: flags['client-key'] as string | undefined,
          serverName: flags['tls-server-name'] as string | undefined,
          skipVerify: flags['tls-skip-verify'] as boolean | undefined,
        },
      });
      return await def.run({
        flags,
        args,
        client,
        format,
        field: (flags.field as string | undefined) || undefined,
        out: (t) => process.stdout.write(t),
        remote: async (prefix, run) => {
          try {
            return await run();
          } catch (err) {
            if (err instanceof ResponseError || err instanceof TransportError) throw new Failure(`${prefix}: ${err.message}`, 2);
            throw err;
          }
        },
      });
    } catch (err) {
      if (err instanceof UsageError) {
        process.stderr.write(`${err.message}\n`);
        return 1;
      }
      if (err instanceof Failure) {
        process.stderr.write(`${err.message}\n`);
        return err.exitCode;
      }
      process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
  };
}

/** A command with subcommands (`secrets enable`, `plugin list`, …). */
export function defineGroup(name: string, summary: string, subs: Record<string, { summary: string; run: (argv: string[]) => Promise<number> }>) {
  const usage = () => {
    const width = Math.max(...Object.keys(subs).map((s) => s.length));
    return `Usage: coffer ${name} <subcommand> [options] [args]\n\n  ${summary}\n\nSubcommands:\n${Object.entries(subs)
      .map(([n, s]) => `    ${n.padEnd(width)}    ${s.summary}`)
      .join('\n')}\n`;
  };
  return async (argv: string[]): Promise<number> => {
    const [sub, ...rest] = argv;
    if (!sub || HELP_FLAGS.includes(sub)) {
      (sub ? process.stdout : process.stderr).write(usage());
      return sub ? 0 : 127;
    }
    const entry = subs[sub];
    if (!entry) {
      process.stderr.write(`Unknown subcommand: ${name} ${sub}\n\n${usage()}`);
      return 127;
    }
    return entry.run(rest);
  };
}

/** Vault's sanitizePath: no surrounding whitespace or slashes. */
export const sanitizePath = (p: string) => p.trim().replace(/^\/+|\/+$/g, '');
export const ensureTrailingSlash = (p: string) => (p.endsWith('/') ? p : `${p}/`);

const AUTH_FIELDS: Record<string, (a: Record<string, unknown>) => unknown> = {
  token: (a) => a.client_token,
  token_accessor: (a) => a.accessor,
  token_duration: (a) => humanDuration(Number(a.lease_duration ?? 0)),
  token_renewable: (a) => a.renewable,
  token_policies: (a) => a.token_policies ?? a.policies,
  identity_policies: (a) => a.identity_policies ?? [],
  policies: (a) => a.policies,
};

/** Vault's PrintRawField: the value alone, with a newline only when stdout is a terminal. */
export function printField(ctx: Context, value: unknown, found: boolean, field: string): number {
  if (!found) throw new Failure(`Field "${field}" not present in secret`, 1);
  const text = typeof value === 'string' ? value : value !== null && typeof value === 'object' ? JSON.stringify(value) : goValue(value);
  ctx.out(process.stdout.isTTY ? `${text}\n` : text);
  return 0;
}

/** Vault's OutputSecret, honouring -field and -format. */
export async function outputSecret(ctx: Context, secret: Secret): Promise<number> {
  if (ctx.field) {
    const field = ctx.field;
    const data = secret.data ?? {};
    if (Object.prototype.hasOwnProperty.call(data, field)) return printField(ctx, data[field], true, field);
    if (secret.auth && AUTH_FIELDS[field]) return printField(ctx, AUTH_FIELDS[field](secret.auth), true, field);
    if (field === 'lease_id' || field === 'lease_duration' || field === 'refresh_interval') {
      return printField(ctx, field === 'lease_id' ? secret.lease_id : humanDuration(secret.lease_duration ?? 0), true, field);
    }
    if (field === 'lease_renewable') return printField(ctx, secret.renewable, true, field);
    return printField(ctx, undefined, false, field);
  }
  if (ctx.format !== 'table') {
    ctx.out(await structured(envelope(secret), ctx.format));
    return 0;
  }
  ctx.out(secretTable(secret));
  printWarnings(secret);
  return 0;
}

export function printWarnings(secret: Secret | undefined): void {
  const warnings = secret?.warnings ?? [];
  if (warnings.length === 0) return;
  process.stderr.write(`WARNING! The following warnings were returned from Coffer:\n\n${warnings.map((w) => `  * ${w}`).join('\n\n')}\n\n`);
}

/** Plain data (lists, mount tables) in -format json/yaml, or -field of a map. */
export async function outputData(ctx: Context, data: unknown, table: () => string): Promise<number> {
  if (ctx.field) {
    const obj = (data ?? {}) as Record<string, unknown>;
    return printField(ctx, obj[ctx.field], typeof obj === 'object' && Object.prototype.hasOwnProperty.call(obj, ctx.field), ctx.field);
  }
  ctx.out(ctx.format === 'table' ? table() : await structured(data, ctx.format));
  return 0;
}
