/**
 * `coffer kv`: Vault's `vault kv` for the KV secrets engine, version 1 and 2 (command/kv_*.go). The mount and its
 * version are found as Vault's kv_helpers does (sys/internal/ui/mounts/<path>), falling back to the longest prefix
 * in sys/mounts where the server has no such endpoint; v2 paths get their `data/`, `metadata/`, … segment.
 */
import type { Secret } from '../client/api.js';
import { ResponseError } from '../client/api.js';
import { defineCommand, defineGroup, Failure, outputSecret, printField, printWarnings, sanitizePath, UsageError, type Context } from '../client/command.js';
import { envelope, goValue, structured, table } from '../client/format.js';
import type { FlagSpec } from '../flags.js';
import { parseArgsData } from './kv.js';

interface MountFacts {
  /** With a trailing slash. */
  mount: string;
  v2: boolean;
}

/** Vault's padEqualSigns: the header centred in `=`, at least two each side, an even count. */
export function padEqualSigns(header: string, width: number): string {
  let signs = width - (header.length + 2);
  if (signs < 4) signs = 4;
  if (signs % 2 === 1) signs++;
  return `${'='.repeat(signs / 2)} ${header} ${'='.repeat(signs / 2)}`;
}

/** Vault's getHeaderForMap: as wide as the table below it (longest key, 4 spaces, "Value"). */
export function headerForMap(header: string, data: Record<string, unknown>): string {
  const longest = Math.max(0, ...Object.keys(data).map((k) => k.length));
  return padEqualSigns(header, longest + 4 + 5);
}

/** Vault's OutputData of a map: a Key/Value table, keys sorted, "" as n/a, nil as <nil>. */
export function dataTable(data: Record<string, unknown>): string {
  return table(
    ['Key', 'Value'],
    Object.keys(data)
      .sort()
      .map((k) => [k, goValue(data[k])]),
  );
}

function pathBlock(path: string, title = 'Secret Path'): string {
  return `${padEqualSigns(title, path.length)}\n${path}\n\n`;
}

async function mountFacts(ctx: Context, path: string): Promise<MountFacts> {
  try {
    const r = await ctx.client.request('GET', `sys/internal/ui/mounts/${path}`, { allow: [404, 405] });
    const data = (r.body as Secret | undefined)?.data as { path?: string; options?: Record<string, string> | null } | undefined;
    if (r.status === 200 && data?.path) return { mount: data.path, v2: data.options?.version === '2' };
  } catch (err) {
    if (!(err instanceof ResponseError)) throw err;
  }
  // A server without the UI endpoint: the longest mount that holds the path, from the mount table.
  const r = await ctx.client.request('GET', 'sys/mounts');
  const mounts = ((r.body as Secret | undefined)?.data ?? {}) as Record<string, { options?: Record<string, string> | null }>;
  const candidates = Object.keys(mounts).filter((m) => `${path}/`.startsWith(m)).sort((a, b) => b.length - a.length);
  if (!candidates.length) throw new Failure(`Error determining if secret engine mount is v2: no mount found for ${path}`, 2);
  return { mount: candidates[0], v2: mounts[candidates[0]].options?.version === '2' };
}

/** The arguments' path, with -mount: `<mount>/<path>`; and the mount it is in. */
async function resolve(ctx: Context, arg: string): Promise<{ facts: MountFacts; relative: string; given: string }> {
  const mountFlag = ctx.flags.mount as string | undefined;
  const given = sanitizePath(mountFlag ? `${sanitizePath(mountFlag)}/${arg}` : arg);
  const facts = await ctx.remote('Error determining if secret engine mount is v2', () => mountFacts(ctx, given));
  const relative = `${given}/`.startsWith(facts.mount) ? given.slice(facts.mount.length) : given;
  return { facts, relative, given };
}

const v2Path = (facts: MountFacts, segment: string, relative: string) => `${facts.mount}${segment}/${relative}`.replace(/\/$/, '');

const MOUNT_FLAG: Record<string, FlagSpec> = {
  mount: { kind: 'string', usage: 'The mount path of the KV engine; the path argument is then relative to it (e.g. -mount=secret foo).' },
};

async function printMetadataReply(ctx: Context, fullPath: string, secret: Secret | undefined, v2: boolean): Promise<number> {
  if (!v2 || !secret) {
    if (ctx.format === 'table' && !ctx.field) ctx.out(`Success! Data written to: ${fullPath}\n`);
    return 0;
  }
  if (ctx.field) {
    const data = secret.data ?? {};
    return printField(ctx, data[ctx.field], Object.prototype.hasOwnProperty.call(data, ctx.field), ctx.field);
  }
  if (ctx.format !== 'table') return outputSecret(ctx, secret);
  const metadata = secret.data ?? {};
  ctx.out(`${pathBlock(fullPath)}${headerForMap('Metadata', metadata)}\n${dataTable(metadata)}`);
  printWarnings(secret);
  return 0;
}

function casBody(ctx: Context, data: Record<string, unknown>): Record<string, unknown> {
  const cas = ctx.flags.cas as string | undefined;
  const options: Record<string, unknown> = {};
  if (cas !== undefined && cas !== '' && cas !== '-1') {
    if (!/^-?\d+$/.test(cas)) throw new UsageError(`invalid value "${cas}" for flag -cas: parse error`);
    options.cas = Number(cas);
  }
  return { data, options };
}

const CAS_FLAG: Record<string, FlagSpec> = {
  cas: { kind: 'string', usage: 'Check-and-Set: write only if the current version is this one (0: only if the key does not exist). -1 (default) sends none.', default: '-1' },
};

const put = defineCommand({
  synopsis: 'coffer kv put [options] KEY [DATA]',
  help: `  Writes the data to the given path in the key-value store. The data can be of
  any type.

      $ coffer kv put -mount=secret foo bar=baz

  The data can also be consumed from a file on disk by prefixing with the "@"
  symbol, or from stdin with "-".`,
  flags: { ...MOUNT_FLAG, ...CAS_FLAG },
  output: true,
  field: true,
  args: [1, Infinity],
  run: async (ctx) => {
    if (ctx.args.length === 1) throw new UsageError('Must supply data');
    const data = parseArgsData(ctx.args.slice(1));
    const { facts, relative, given } = await resolve(ctx, ctx.args[0]);
    const fullPath = facts.v2 ? v2Path(facts, 'data', relative) : given;
    const body = facts.v2 ? casBody(ctx, data) : data;
    const secret = await ctx.remote(`Error writing data to ${fullPath}`, () => ctx.client.write(fullPath, body));
    return printMetadataReply(ctx, fullPath, secret, facts.v2);
  },
});

const patch = defineCommand({
  synopsis: 'coffer kv patch [options] KEY [DATA]',
  help: `  Adds to or changes the data at the given path without replacing what is not
  given (KV version 2 only; an HTTP PATCH with a JSON merge patch).

      $ coffer kv patch -mount=secret foo bar=baz`,
  flags: { ...MOUNT_FLAG, ...CAS_FLAG },
  output: true,
  field: true,
  args: [1, Infinity],
  run: async (ctx) => {
    if (ctx.args.length === 1) throw new UsageError('Must supply data');
    const data = parseArgsData(ctx.args.slice(1));
    const { facts, relative } = await resolve(ctx, ctx.args[0]);
    if (!facts.v2) throw new Failure('K/V engine mount must be version 2 for patch support', 2);
    const fullPath = v2Path(facts, 'data', relative);
    const secret = await ctx.remote(`Error writing data to ${fullPath}`, () => ctx.client.patch(fullPath, casBody(ctx, data)));
    return printMetadataReply(ctx, fullPath, secret, true);
  },
});

/** GET that keeps a 404's body: a deleted version is a 404 whose body still has its metadata. */
async function readKeeping404(ctx: Context, path: string, query?: Record<string, string>): Promise<Secret | undefined> {
  const r = await ctx.client.request('GET', path, { query, allow: [404] });
  const s = r.body as Secret | undefined;
  if (r.status === 404 && !(s && (s.data || s.warnings?.length))) return undefined;
  return s;
}

const get = defineCommand({
  synopsis: 'coffer kv get [options] KEY',
  help: `  Retrieves the value from the key-value store at the given key name. If no key
  exists with that name, an error is returned.

      $ coffer kv get -mount=secret foo
      $ coffer kv get -mount=secret -version=1 foo`,
  flags: { ...MOUNT_FLAG, version: { kind: 'string', usage: 'The version to read (KV version 2); 0 or absent: the current one.' } },
  output: true,
  field: true,
  args: 1,
  run: async (ctx) => {
    const { facts, relative, given } = await resolve(ctx, ctx.args[0]);
    const fullPath = facts.v2 ? v2Path(facts, 'data', relative) : given;
    const version = ctx.flags.version as string | undefined;
    const query = facts.v2 && version && version !== '0' ? { version } : undefined;
    const secret = await ctx.remote(`Error reading ${fullPath}`, () => readKeeping404(ctx, fullPath, query));
    if (!secret) throw new Failure(`No value found at ${fullPath}`, 2);
    const inner = facts.v2 ? ((secret.data?.data ?? null) as Record<string, unknown> | null) : (secret.data ?? null);
    if (ctx.field) {
      const metadata = (facts.v2 ? secret.data?.metadata : undefined) as Record<string, unknown> | undefined;
      if (inner && Object.prototype.hasOwnProperty.call(inner, ctx.field)) return printField(ctx, inner[ctx.field], true, ctx.field);
      if (metadata && Object.prototype.hasOwnProperty.call(metadata, ctx.field)) return printField(ctx, metadata[ctx.field], true, ctx.field);
      return printField(ctx, undefined, false, ctx.field);
    }
    if (ctx.format !== 'table' || secret.wrap_info) {
      ctx.out(await structured(envelope(secret), ctx.format === 'table' ? 'json' : ctx.format));
      return 0;
    }
    printWarnings(secret);
    let out = facts.v2 ? pathBlock(fullPath) : '';
    const metadata = facts.v2 ? (secret.data?.metadata as Record<string, unknown> | undefined) : undefined;
    if (metadata) out += `${headerForMap('Metadata', metadata)}\n${dataTable(metadata)}\n`;
    if (inner) out += `${headerForMap('Data', inner)}\n${dataTable(inner)}`;
    ctx.out(out);
    return 0;
  },
});

const list = defineCommand({
  synopsis: 'coffer kv list [options] PATH',
  help: `  Lists the key names at the given path (KV version 2: from metadata/).

      $ coffer kv list -mount=secret my-app/`,
  flags: MOUNT_FLAG,
  output: true,
  args: [0, 1],
  run: async (ctx) => {
    const { facts, relative, given } = await resolve(ctx, ctx.args[0] ?? '');
    const fullPath = `${facts.v2 ? v2Path(facts, 'metadata', relative) : given}/`;
    const secret = await ctx.remote(`Error listing ${fullPath}`, () => ctx.client.list(fullPath));
    const keys = secret?.data?.keys;
    if (!secret || !Array.isArray(keys)) throw new Failure(`No value found at ${fullPath}`, 2);
    if (ctx.format !== 'table') {
      ctx.out(await structured(keys, ctx.format));
      return 0;
    }
    ctx.out(table(['Keys'], keys.map((k) => [String(k)])));
    return 0;
  },
});

function versionsFlag(required: boolean): Record<string, FlagSpec> {
  return { versions: { kind: 'string', usage: `Comma-separated versions to act on${required ? '' : ' (KV version 2; without it, the latest version)'}.` } };
}

const del = defineCommand({
  synopsis: 'coffer kv delete [options] PATH',
  help: `  Deletes the data at the given path. On KV version 2 this is a soft delete of
  the latest version (or of -versions), which undelete restores.

      $ coffer kv delete -mount=secret foo
      $ coffer kv delete -mount=secret -versions=1,2 foo`,
  flags: { ...MOUNT_FLAG, ...versionsFlag(false) },
  args: 1,
  run: async (ctx) => {
    const { facts, relative, given } = await resolve(ctx, ctx.args[0]);
    const versions = ctx.flags.versions as string | undefined;
    if (facts.v2 && versions) {
      const fullPath = v2Path(facts, 'delete', relative);
      await ctx.remote(`Error deleting ${fullPath}`, () => ctx.client.write(fullPath, { versions: versions.split(',').map((v) => v.trim()) }));
      ctx.out(`Success! Data deleted (if it existed) at: ${fullPath}\n`);
      return 0;
    }
    const fullPath = facts.v2 ? v2Path(facts, 'data', relative) : given;
    await ctx.remote(`Error deleting ${fullPath}`, () => ctx.client.delete(fullPath));
    ctx.out(`Success! Data deleted (if it existed) at: ${fullPath}\n`);
    return 0;
  },
});

function versionWrite(which: 'undelete' | 'destroy', help: string) {
  return defineCommand({
    synopsis: `coffer kv ${which} [options] KEY`,
    help,
    flags: { ...MOUNT_FLAG, ...versionsFlag(true) },
    args: 1,
    run: async (ctx) => {
      const versions = ctx.flags.versions as string | undefined;
      if (!versions) throw new UsageError('No versions provided, use the "-versions" flag to specify the version to ' + which + '.');
      const { facts, relative } = await resolve(ctx, ctx.args[0]);
      if (!facts.v2) throw new Failure(`${which} is only supported on KV version 2 mounts`, 2);
      const fullPath = v2Path(facts, which, relative);
      await ctx.remote(`Error writing data to ${fullPath}`, () => ctx.client.write(fullPath, { versions: versions.split(',').map((v) => v.trim()) }));
      ctx.out(`Success! Data written to: ${fullPath}\n`);
      return 0;
    },
  });
}

const rollback = defineCommand({
  synopsis: 'coffer kv rollback [options] KEY',
  help: `  Restores a given previous version to the current version at the given path:
  the old data is written as a new version (with check-and-set on the current).

      $ coffer kv rollback -mount=secret -version=2 foo`,
  flags: { ...MOUNT_FLAG, version: { kind: 'string', usage: 'The version to roll back to.' } },
  output: true,
  field: true,
  args: 1,
  run: async (ctx) => {
    const version = ctx.flags.version as string | undefined;
    if (!version || !/^\d+$/.test(version) || version === '0') throw new UsageError('Must specify a valid version to roll back to');
    const { facts, relative } = await resolve(ctx, ctx.args[0]);
    if (!facts.v2) throw new Failure('K/V engine mount must be version 2 for rollback support', 2);
    const dataPath = v2Path(facts, 'data', relative);
    const meta = await ctx.remote(`Error reading ${v2Path(facts, 'metadata', relative)}`, () => ctx.client.read(v2Path(facts, 'metadata', relative)));
    if (!meta) throw new Failure(`No value found at ${dataPath}`, 2);
    const current = Number(meta.data?.current_version ?? 0);
    const old = await ctx.remote(`Error reading ${dataPath}`, () => readKeeping404(ctx, dataPath, { version }));
    const data = old?.data?.data as Record<string, unknown> | null | undefined;
    if (!data) throw new Failure(`Cannot roll back to a version that is deleted or destroyed: ${version}`, 2);
    const secret = await ctx.remote(`Error writing data to ${dataPath}`, () => ctx.client.write(dataPath, { data, options: { cas: current } }));
    return printMetadataReply(ctx, dataPath, secret, true);
  },
});

const metadataGet = defineCommand({
  synopsis: 'coffer kv metadata get [options] KEY',
  help: `  Retrieves the metadata of a key (KV version 2): its settings and its versions.

      $ coffer kv metadata get -mount=secret foo`,
  flags: MOUNT_FLAG,
  output: true,
  field: true,
  args: 1,
  run: async (ctx) => {
    const { facts, relative } = await resolve(ctx, ctx.args[0]);
    if (!facts.v2) throw new Failure('Metadata not supported on KV Version 1', 1);
    const fullPath = v2Path(facts, 'metadata', relative);
    const secret = await ctx.remote(`Error reading ${fullPath}`, () => ctx.client.read(fullPath));
    if (!secret) throw new Failure(`No value found at ${fullPath}`, 2);
    if (ctx.field || ctx.format !== 'table') return outputSecret(ctx, secret);
    const { versions, ...rest } = (secret.data ?? {}) as Record<string, unknown> & { versions?: Record<string, Record<string, unknown>> };
    let out = `${pathBlock(fullPath, 'Metadata Path')}${headerForMap('Metadata', rest)}\n${dataTable(rest)}`;
    for (const n of Object.keys(versions ?? {}).map(Number).sort((a, b) => a - b)) {
      const v = versions![String(n)];
      out += `\n${headerForMap(`Version ${n}`, v)}\n${dataTable(v)}`;
    }
    ctx.out(out);
    return 0;
  },
});

const metadataPut = defineCommand({
  synopsis: 'coffer kv metadata put [options] KEY',
  help: `  Creates or updates the metadata of a key (KV version 2).

      $ coffer kv metadata put -mount=secret -max-versions=5 -custom-metadata=owner=me foo`,
  flags: {
    ...MOUNT_FLAG,
    'max-versions': { kind: 'string', usage: 'The number of versions to keep; 0: the mount\'s setting.' },
    'cas-required': { kind: 'string', usage: 'If true, writes to the key must carry -cas.' },
    'delete-version-after': { kind: 'string', usage: 'Delete versions this long after they are written (e.g. 3h25m19s); 0s: never.' },
    'custom-metadata': { kind: 'strings', usage: 'A key=value pair kept with the metadata (repeatable).' },
  },
  args: 1,
  run: async (ctx) => {
    const { facts, relative } = await resolve(ctx, ctx.args[0]);
    if (!facts.v2) throw new Failure('Metadata not supported on KV Version 1', 1);
    const fullPath = v2Path(facts, 'metadata', relative);
    const body: Record<string, unknown> = {};
    if (ctx.flags['max-versions'] !== undefined) body.max_versions = Number(ctx.flags['max-versions']);
    if (ctx.flags['cas-required'] !== undefined) body.cas_required = ctx.flags['cas-required'] === 'true';
    if (ctx.flags['delete-version-after'] !== undefined) body.delete_version_after = ctx.flags['delete-version-after'];
    const custom = ctx.flags['custom-metadata'] as string[];
    if (custom.length) body.custom_metadata = parseArgsData(custom);
    const secret = await ctx.remote(`Error writing data to ${fullPath}`, () => ctx.client.write(fullPath, body));
    printWarnings(secret);
    ctx.out(`Success! Data written to: ${fullPath}\n`);
    return 0;
  },
});

const metadataDelete = defineCommand({
  synopsis: 'coffer kv metadata delete [options] KEY',
  help: `  Deletes all versions and the metadata of a key (KV version 2).

      $ coffer kv metadata delete -mount=secret foo`,
  flags: MOUNT_FLAG,
  args: 1,
  run: async (ctx) => {
    const { facts, relative } = await resolve(ctx, ctx.args[0]);
    if (!facts.v2) throw new Failure('Metadata not supported on KV Version 1', 1);
    const fullPath = v2Path(facts, 'metadata', relative);
    await ctx.remote(`Error deleting ${fullPath}`, () => ctx.client.delete(fullPath));
    ctx.out(`Success! Data deleted (if it existed) at: ${fullPath}\n`);
    return 0;
  },
});

const enableVersioning = defineCommand({
  synopsis: 'coffer kv enable-versioning [options] KEY',
  help: `  Turns on versioning for a KV version 1 mount: its data becomes version 1 of
  each key.

      $ coffer kv enable-versioning secret/`,
  args: 1,
  run: async (ctx) => {
    const path = `${sanitizePath(ctx.args[0])}/`;
    await ctx.remote(`Error tuning secrets engine ${path}`, () => ctx.client.write(`sys/mounts/${path}tune`, { options: { version: '2' } }, 'POST'));
    ctx.out(`Success! Tuned the secrets engine at: ${path}\n`);
    return 0;
  },
});

const metadata = defineGroup('kv metadata', 'Interact with the metadata of keys in a KV version 2 store', {
  get: { summary: 'Retrieve the metadata of a key', run: metadataGet },
  put: { summary: 'Set or update the metadata of a key', run: metadataPut },
  delete: { summary: 'Delete a key and all of its versions', run: metadataDelete },
});

export const kvCommand = defineGroup('kv', 'Interact with Coffer\'s key-value store (Vault\'s KV secrets engine, version 1 and 2)', {
  delete: { summary: 'Deletes versions in the KV store', run: del },
  destroy: {
    summary: 'Permanently removes one or more versions in the KV store',
    run: versionWrite('destroy', `  Permanently removes the given versions' data (KV version 2).\n\n      $ coffer kv destroy -mount=secret -versions=1 foo`),
  },
  'enable-versioning': { summary: 'Turns on versioning for a KV store', run: enableVersioning },
  get: { summary: 'Retrieves data from the KV store', run: get },
  list: { summary: 'List data or secrets', run: list },
  metadata: { summary: 'Interact with Coffer\'s Key-Value storage metadata', run: metadata },
  patch: { summary: 'Sets or updates data in the KV store without overwriting', run: patch },
  put: { summary: 'Sets or updates data in the KV store', run: put },
  rollback: { summary: 'Rolls back to a previous version of data', run: rollback },
  undelete: {
    summary: 'Undeletes versions in the KV store',
    run: versionWrite('undelete', `  Restores soft-deleted versions (KV version 2).\n\n      $ coffer kv undelete -mount=secret -versions=1 foo`),
  },
});
