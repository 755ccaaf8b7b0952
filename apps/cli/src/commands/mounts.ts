import type { FlagSpec } from '../flags.js';
import { defineCommand, defineGroup, ensureTrailingSlash, Failure, outputData, sanitizePath, UsageError, type Flags } from '../client/command.js';
import { table } from '../client/format.js';

type Kind = 'secrets' | 'auth';

const ENABLE_FLAGS: Record<string, FlagSpec> = {
  path: { kind: 'string', usage: 'Place where the engine will be accessible. This must be unique across all mounts. Defaults to the type (or -plugin-name for "plugin").' },
  description: { kind: 'string', usage: 'Human-friendly description for the purpose of this mount.' },
  'default-lease-ttl': { kind: 'string', usage: 'The default lease TTL for this mount, e.g. "1h" or "30m". Defaults to the system default.' },
  'max-lease-ttl': { kind: 'string', usage: 'The maximum lease TTL for this mount. Defaults to the system maximum.' },
  'force-no-cache': { kind: 'bool', usage: 'Force the mount to disable caching.', default: false },
  'plugin-name': { kind: 'string', usage: 'Name of the plugin in the catalog to mount, used with the type "plugin".' },
  'plugin-version': { kind: 'string', usage: 'Version of the plugin to mount (semantic version, e.g. v1.0.0).' },
  options: { kind: 'strings', usage: 'Key-value pair provided as key=value for the mount options. This can be specified multiple times.' },
  local: { kind: 'bool', usage: 'Mark the mount as a local-only mount, not replicated.', default: false },
  'seal-wrap': { kind: 'bool', usage: 'Enable seal wrapping of critical values.', default: false },
  'external-entropy-access': { kind: 'bool', usage: 'Enable access to the external entropy source.', default: false },
  version: { kind: 'string', usage: 'Select the version of the engine to run (sets options.version; e.g. 2 for kv).' },
};

function options(raw: string[]): Record<string, string> | undefined {
  if (raw.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const kv of raw) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid option "${kv}": format must be key=value`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function mountBody(type: string, flags: Flags): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  if (flags['default-lease-ttl']) config.default_lease_ttl = flags['default-lease-ttl'];
  if (flags['max-lease-ttl']) config.max_lease_ttl = flags['max-lease-ttl'];
  if (flags['force-no-cache']) config.force_no_cache = true;
  if (flags['plugin-version']) config.plugin_version = flags['plugin-version'];
  const opts = options(flags.options as string[]) ?? {};
  if (flags.version) opts.version = String(flags.version);
  const body: Record<string, unknown> = { type, description: (flags.description as string) ?? '', config };
  if (Object.keys(opts).length) body.options = opts;
  if (flags.local) body.local = true;
  if (flags['seal-wrap']) body.seal_wrap = true;
  if (flags['external-entropy-access']) body.external_entropy_access = true;
  if (type === 'plugin') {
    if (!flags['plugin-name']) throw new UsageError('-plugin-name is required when the type is "plugin"');
    body.plugin_name = flags['plugin-name'];
  }
  return body;
}

function enable(kind: Kind) {
  const thing = kind === 'secrets' ? 'secrets engine' : 'auth method';
  return defineCommand({
    synopsis: `coffer ${kind} enable [options] TYPE`,
    help:
      kind === 'secrets'
        ? `  Enables a secrets engine. By default, secrets engines are enabled at the path
  corresponding to their TYPE, but users can customize the path using the
  -path option.

  Enable the mock plugin's secrets engine at "my-secrets-plugin/":

      $ coffer secrets enable -path=my-secrets-plugin -plugin-name=my-mock-plugin plugin

  Enable an engine by its catalog name:

      $ coffer secrets enable -path=mock mock-plugin`
        : `  Enables a new auth method. An auth method is responsible for authenticating
  users or machines and assigning them policies with which they can access
  Coffer.

  Enable the userpass auth method at "userpass/":

      $ coffer auth enable userpass

  Enable a plugin from the catalog:

      $ coffer auth enable -path=my-auth -plugin-name=my-auth-plugin plugin`,
    flags: ENABLE_FLAGS,
    args: 1,
    run: async (ctx) => {
      const type = ctx.args[0].trim();
      const pluginName = ctx.flags['plugin-name'] as string | undefined;
      const path = ensureTrailingSlash(sanitizePath((ctx.flags.path as string) || (type === 'plugin' ? pluginName ?? '' : type)));
      const body = mountBody(type, ctx.flags);
      const base = kind === 'secrets' ? 'sys/mounts' : 'sys/auth';
      const named = type === 'plugin' ? pluginName! : type;
      await ctx.remote(kind === 'secrets' ? 'Error enabling' : `Error enabling ${named} auth`, () => ctx.client.write(`${base}/${path}`, body, 'POST'));
      if (kind === 'secrets') ctx.out(`Success! Enabled the ${type === 'plugin' ? `${named} plugin` : `${type} secrets engine`} at: ${path}\n`);
      else ctx.out(`Success! Enabled ${type === 'plugin' ? `${named} plugin` : `${type} ${thing}`} at: ${path}\n`);
      return 0;
    },
  });
}

function disable(kind: Kind) {
  const thing = kind === 'secrets' ? 'secrets engine' : 'auth method';
  return defineCommand({
    synopsis: `coffer ${kind} disable [options] PATH`,
    help: `  Disables the ${thing} at the given PATH. ${kind === 'secrets' ? 'All secrets created by this engine are revoked and its data is deleted.' : 'All tokens generated via the auth method are revoked.'}

  Disable the ${thing} enabled at "${kind === 'secrets' ? 'my-secrets-plugin' : 'userpass'}/":

      $ coffer ${kind} disable ${kind === 'secrets' ? 'my-secrets-plugin' : 'userpass'}/`,
    args: 1,
    run: async (ctx) => {
      const path = ensureTrailingSlash(sanitizePath(ctx.args[0]));
      await ctx.remote(`Error disabling ${thing} at ${path}`, () => ctx.client.delete(`${kind === 'secrets' ? 'sys/mounts' : 'sys/auth'}/${path}`));
      ctx.out(`Success! Disabled the ${thing} (if it existed) at: ${path}\n`);
      return 0;
    },
  });
}

function list(kind: Kind) {
  return defineCommand({
    synopsis: `coffer ${kind} list [options]`,
    help: `  Lists the enabled ${kind === 'secrets' ? 'secrets engines' : 'auth methods'} on the Coffer server.

  List all enabled ${kind === 'secrets' ? 'secrets engines' : 'auth methods'}:

      $ coffer ${kind} list

  List them with all the details:

      $ coffer ${kind} list -detailed`,
    flags: { detailed: { kind: 'bool', usage: 'Print detailed information such as configuration and replication status.', default: false } },
    output: true,
    args: 0,
    run: async (ctx) => {
      const secret = await ctx.remote(kind === 'secrets' ? 'Error listing secrets engines' : 'Error listing enabled authentications', () =>
        ctx.client.read(kind === 'secrets' ? 'sys/mounts' : 'sys/auth'),
      );
      const mounts = (secret?.data ?? {}) as Record<string, Record<string, unknown>>;
      return outputData(ctx, mounts, () => {
        const paths = Object.keys(mounts).sort();
        const detailed = !!ctx.flags.detailed;
        const header = detailed
          ? ['Path', 'Plugin', 'Accessor', 'Default TTL', 'Max TTL', 'Force No Cache', 'Options', 'Description', 'UUID', 'Version', 'Running Version', 'Running SHA256']
          : kind === 'secrets'
            ? ['Path', 'Type', 'Accessor', 'Description']
            : ['Path', 'Type', 'Accessor', 'Description', 'Version'];
        const rows = paths.map((p) => {
          const m = mounts[p];
          const s = (v: unknown) => (v === undefined || v === null ? '' : String(v));
          if (detailed) {
            const c = (m.config ?? {}) as Record<string, unknown>;
            const ttl = (v: unknown) => (Number(v ?? 0) === 0 ? 'system' : String(v));
            return [p, s(m.type), s(m.accessor), ttl(c.default_lease_ttl), ttl(c.max_lease_ttl), s(c.force_no_cache ?? false), m.options ? `map[${Object.entries(m.options as Record<string, unknown>).sort().map(([k, v]) => `${k}:${String(v)}`).join(' ')}]` : 'map[]', s(m.description), s(m.uuid), s(m.plugin_version), s(m.running_plugin_version), s(m.running_sha256)];
          }
          const row = [p, s(m.type), s(m.accessor), s(m.description)];
          if (kind === 'auth') row.push(s(m.plugin_version));
          return row;
        });
        return table(header, rows);
      });
    },
  });
}

function tune(kind: Kind) {
  const thing = kind === 'secrets' ? 'secrets engine' : 'auth method';
  return defineCommand({
    synopsis: `coffer ${kind} tune [options] PATH`,
    help: `  Tunes the configuration options for the ${thing} at the given PATH.

  Tune the default lease for the ${thing} at "${kind === 'secrets' ? 'my-secrets-plugin' : 'userpass'}/":

      $ coffer ${kind} tune -default-lease-ttl=72h ${kind === 'secrets' ? 'my-secrets-plugin' : 'userpass'}/`,
    flags: {
      description: ENABLE_FLAGS.description,
      'default-lease-ttl': ENABLE_FLAGS['default-lease-ttl'],
      'max-lease-ttl': ENABLE_FLAGS['max-lease-ttl'],
      'plugin-version': ENABLE_FLAGS['plugin-version'],
      options: ENABLE_FLAGS.options,
      version: ENABLE_FLAGS.version,
    },
    args: 1,
    run: async (ctx) => {
      const path = ensureTrailingSlash(sanitizePath(ctx.args[0]));
      const body: Record<string, unknown> = {};
      if (ctx.flags.description !== undefined) body.description = ctx.flags.description;
      if (ctx.flags['default-lease-ttl']) body.default_lease_ttl = ctx.flags['default-lease-ttl'];
      if (ctx.flags['max-lease-ttl']) body.max_lease_ttl = ctx.flags['max-lease-ttl'];
      if (ctx.flags['plugin-version']) body.plugin_version = ctx.flags['plugin-version'];
      const opts = options(ctx.flags.options as string[]) ?? {};
      if (ctx.flags.version) opts.version = String(ctx.flags.version);
      if (Object.keys(opts).length) body.options = opts;
      await ctx.remote(`Error tuning ${thing} ${path}`, () => ctx.client.write(`${kind === 'secrets' ? 'sys/mounts' : 'sys/auth'}/${path}tune`, body, 'POST'));
      ctx.out(`Success! Tuned the ${thing} at: ${path}\n`);
      return 0;
    },
  });
}

/** Between two status polls of a long wait (Vault waits 10 s; a Coffer remount is a table edit and ends quickly). */
const POLL_MS = 1_000;

const move = defineCommand({
  synopsis: 'coffer secrets move [options] SOURCE DESTINATION',
  help: `  Moves an existing secrets engine to a new path. Any leases from the old
  secrets engine are revoked, but all configuration associated with the engine
  is preserved. It starts the migration and polls its status until it ends,
  showing progress on stderr.

  WARNING! Moving a secrets engine will revoke any leases from the
  old engine.

  Move the secrets engine at my-secrets-plugin/ to other-plugin/:

      $ coffer secrets move my-secrets-plugin/ other-plugin/`,
  args: 2,
  run: async (ctx) => {
    const source = ensureTrailingSlash(ctx.args[0]);
    const destination = ensureTrailingSlash(ctx.args[1]);
    const started = await ctx.remote(`Error moving secrets engine ${source} to ${destination}`, () =>
      ctx.client.write('sys/remount', { from: source, to: destination }, 'POST'),
    );
    const id = String(started?.data?.migration_id ?? '');
    const about = `secrets engine ${source} to ${destination}, with migration ID ${id}`;
    ctx.out(`Started moving ${about}\n`);
    for (;;) {
      const status = await ctx.remote(`Error checking migration status of secrets engine ${source} to ${destination}`, () =>
        ctx.client.request('GET', `sys/remount/status/${encodeURIComponent(id)}`),
      );
      const info = ((status.body as { data?: { migration_info?: { status?: string } } })?.data?.migration_info ?? {}) as { status?: string };
      if (info.status === 'success') {
        ctx.out(`Success! Finished moving ${about}\n`);
        return 0;
      }
      // Vault prints this and still exits 0; a failed move is a remote error here (2), so scripts can tell.
      if (info.status === 'failure') throw new Failure(`Failure! Error encountered moving ${about}`, 2);
      process.stderr.write(`Waiting for terminal status in migration of ${about}\n`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  },
});

export const secretsCommand = defineGroup('secrets', 'This command groups subcommands for interacting with Coffer\'s secrets engines.', {
  enable: { summary: 'Enable a secrets engine', run: enable('secrets') },
  disable: { summary: 'Disable a secrets engine', run: disable('secrets') },
  list: { summary: 'List enabled secrets engines', run: list('secrets') },
  tune: { summary: 'Tune a secrets engine configuration', run: tune('secrets') },
  move: { summary: 'Move a secrets engine to a new path', run: move },
});

export const authCommand = defineGroup('auth', 'This command groups subcommands for interacting with Coffer\'s auth methods.', {
  enable: { summary: 'Enables a new auth method', run: enable('auth') },
  disable: { summary: 'Disables an auth method', run: disable('auth') },
  list: { summary: 'Lists enabled auth methods', run: list('auth') },
  tune: { summary: 'Tunes an auth method configuration', run: tune('auth') },
});
