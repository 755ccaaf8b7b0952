import { readFileSync } from 'node:fs';
import type { Secret } from '../client/api.js';
import { defineCommand, Failure, outputData, outputSecret, sanitizePath, ensureTrailingSlash, UsageError, type Context } from '../client/command.js';
import { table } from '../client/format.js';

let stdinUsed = false;
function readStdin(): string {
  if (stdinUsed) throw new UsageError('stdin (-) may only be used once');
  stdinUsed = true;
  try {
    return readFileSync(0, 'utf8');
  } catch (err) {
    throw new UsageError(`Failed to read stdin: ${(err as Error).message}`);
  }
}

/** Vault's parseArgsData: `k=v`, `k=@file`, `k=-` (stdin), or `-` alone for a JSON object on stdin. */
export function parseArgsData(args: string[]): Record<string, unknown> {
  if (args.length === 1 && args[0] === '-') {
    const text = readStdin();
    try {
      const parsed = JSON.parse(text);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
      return parsed as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(`Failed to parse K=V data: failed to parse JSON input: ${(err as Error).message}`);
    }
  }
  const data: Record<string, unknown> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new UsageError(`Failed to parse K=V data: invalid key/value pair "${arg}": format must be key=value`);
    const key = arg.slice(0, eq);
    let value = arg.slice(eq + 1);
    if (value === '-') value = readStdin();
    else if (value.startsWith('@')) {
      try {
        value = readFileSync(value.slice(1), 'utf8');
      } catch (err) {
        throw new UsageError(`Failed to parse K=V data: error reading file: ${(err as Error).message}`);
      }
    }
    const prev = data[key];
    data[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return data;
}

export const readCommand = defineCommand({
  synopsis: 'coffer read [options] PATH',
  help: `  Reads data from Coffer at the given path. This can be used to read secrets,
  generate dynamic credentials, get configuration details, and more.

  Read a secret from the static secrets engine:

      $ coffer read secret/my-secret`,
  output: true,
  field: true,
  args: [1, Infinity],
  run: async (ctx) => {
    const path = sanitizePath(ctx.args[0]);
    const extra = parseArgsData(ctx.args.slice(1)) as Record<string, string>;
    const query = Object.keys(extra).length ? extra : undefined;
    const secret = await ctx.remote(`Error reading ${path}`, () => ctx.client.read(path, query));
    if (!secret) throw new Failure(`No value found at ${path}`, 2);
    return outputSecret(ctx, secret);
  },
});

export const writeCommand = defineCommand({
  synopsis: 'coffer write [options] PATH [DATA K=V...]',
  help: `  Writes data to Coffer at the given path. The data can be credentials, secrets,
  configuration, or arbitrary data. The specific behavior of this command is
  determined at the thing mounted at the path.

  Data is specified as "key=value" pairs. If the value begins with an "@", then
  it is loaded from a file. If the value is "-", Coffer will read the value from
  stdin. A "-" alone reads a JSON object from stdin.

  Persist data in the generic secrets engine:

      $ coffer write secret/my-secret foo=bar

  Register a plugin:

      $ coffer write sys/plugins/catalog/my-plugin sha_256=<hex> command=my-plugin

  Read the data from a file:

      $ coffer write secret/my-secret foo=@data.txt`,
  flags: { force: { kind: 'bool', usage: 'Allow the operation to continue with no key=value pairs.', default: false } },
  output: true,
  field: true,
  args: [1, Infinity],
  run: (ctx) => writeWith(ctx, (path, data) => ctx.client.write(path, data)),
});

/** Vault's write and patch share handleWriteSecretOutput: the secret when there is one, else "Success!" (table only). */
async function writeWith(ctx: Context, send: (path: string, data: Record<string, unknown>) => Promise<Secret | undefined>): Promise<number> {
  const path = sanitizePath(ctx.args[0]);
  if (ctx.args.length === 1 && !ctx.flags.force) throw new UsageError('Must supply data or use -force');
  const data = parseArgsData(ctx.args.slice(1));
  const secret = await ctx.remote(`Error writing data to ${path}`, () => send(path, data));
  if (!secret) {
    if (ctx.format === 'table' && !ctx.field) ctx.out(`Success! Data written to: ${path}\n`);
    return 0;
  }
  return outputSecret(ctx, secret);
}

export const patchCommand = defineCommand({
  synopsis: 'coffer patch [options] PATH [DATA K=V...]',
  help: `  Patches data in Coffer at the given path. The data can be credentials,
  secrets, configuration, or arbitrary data. The specific behavior of this
  command is determined at the thing mounted at the path.

  Data is specified as "key=value" pairs. If the value begins with an "@", then
  it is loaded from a file. If the value is "-", Coffer will read the value from
  stdin. A "-" alone reads a JSON object from stdin.

  Unlike write, patch will only modify specified fields (an HTTP PATCH with a
  JSON merge patch body: a null value removes a field).

  Change one field of an existing entry without touching the others:

      $ coffer patch my-secrets-plugin/kv/foo value=baz

  Read the value from stdin:

      $ echo "baz" | coffer patch my-secrets-plugin/kv/foo value=-`,
  flags: { force: { kind: 'bool', usage: 'Allow the operation to continue with no key=value pairs.', default: false } },
  output: true,
  field: true,
  args: [1, Infinity],
  run: (ctx) => writeWith(ctx, (path, data) => ctx.client.patch(path, data)),
});

export const listCommand = defineCommand({
  synopsis: 'coffer list [options] PATH',
  help: `  Lists data from Coffer at the given path. This can be used to list keys in a
  given secrets engine.

  List values under the "my-app" folder of the generic secrets engine:

      $ coffer list secret/my-app/`,
  output: true,
  args: 1,
  run: async (ctx) => {
    const path = ensureTrailingSlash(sanitizePath(ctx.args[0]));
    const secret = await ctx.remote(`Error listing ${path}`, () => ctx.client.list(path));
    const keys = secret?.data?.keys;
    if (!secret || !secret.data || !Array.isArray(keys)) throw new Failure(`No value found at ${path}`, 2);
    return outputData(ctx, keys, () => table(['Keys'], keys.map((k) => [String(k)])));
  },
});

export const deleteCommand = defineCommand({
  synopsis: 'coffer delete [options] PATH',
  help: `  Deletes secrets and configuration from Coffer at the given path. The behavior
  of "delete" is delegated to the backend corresponding to the given path.

  Remove data in the status secrets engine:

      $ coffer delete secret/my-secret`,
  args: [1, Infinity],
  run: async (ctx) => {
    const path = sanitizePath(ctx.args[0]);
    const extra = parseArgsData(ctx.args.slice(1)) as Record<string, string>;
    await ctx.remote(`Error deleting ${path}`, () => ctx.client.delete(path, Object.keys(extra).length ? extra : undefined));
    ctx.out(`Success! Data deleted (if it existed) at: ${path}\n`);
    return 0;
  },
});
