import { defineCommand, defineGroup, Failure, outputData, outputSecret, UsageError, type Context } from '../client/command.js';
import { table } from '../client/format.js';
import { pluginNewCommand, pluginTestCommand } from './plugin-dev.js';

const TYPES = ['auth', 'secret', 'database'];

function typeAndName(args: string[]): { type?: string; name: string } {
  if (args.length === 1) return { name: args[0].trim() };
  const type = args[0].trim();
  if (!TYPES.includes(type)) throw new UsageError(`Error: "${type}" is not a valid plugin type; expected one of auth, secret, database`);
  return { type, name: args[1].trim() };
}

const register = defineCommand({
  synopsis: 'coffer plugin register [options] [TYPE] NAME',
  help: `  Registers a new plugin in the catalog. The plugin binary must exist in Coffer's
  configured plugin directory. The type is one of "auth", "secret" or
  "database"; without it the plugin is probed for its type.

  Register the plugin named my-custom-plugin:

      $ coffer plugin register -sha256=d3f0a8b... -version=v1.0.0 secret my-custom-plugin

  Register a plugin with a command and arguments of its own:

      $ coffer plugin register -sha256=d3f0a8b... -command=my-plugin -args=--debug secret my-custom-plugin`,
  flags: {
    sha256: { kind: 'string', usage: 'SHA256 of the plugin binary. This is required for all plugins.' },
    command: { kind: 'string', usage: 'Command to spawn the plugin, relative to the plugin directory. Defaults to the plugin name.' },
    args: { kind: 'strings', usage: 'Argument to pass to the plugin when starting it (comma separated or repeated).' },
    env: { kind: 'strings', usage: 'Environment variable K=V to set when starting the plugin (repeatable).' },
    version: { kind: 'string', usage: 'Semantic version of the plugin.' },
  },
  args: [1, 2],
  run: async (ctx) => {
    const { type, name } = typeAndName(ctx.args);
    if (!ctx.flags.sha256) throw new UsageError('SHA256 is required for all plugins, please provide -sha256');
    const body: Record<string, unknown> = { sha256: ctx.flags.sha256, command: (ctx.flags.command as string) || name };
    const args = (ctx.flags.args as string[]).flatMap((a) => a.split(',')).filter(Boolean);
    if (args.length) body.args = args;
    if ((ctx.flags.env as string[]).length) body.env = ctx.flags.env;
    if (ctx.flags.version) body.version = ctx.flags.version;
    await ctx.remote(`Error registering plugin ${name}`, () => ctx.client.write(type ? `sys/plugins/catalog/${type}/${name}` : `sys/plugins/catalog/${name}`, body));
    ctx.out(`Success! Registered plugin: ${name}\n`);
    return 0;
  },
});

interface Detailed {
  name: string;
  type: string;
  version?: string;
  builtin?: boolean;
  deprecation_status?: string;
}

const list = defineCommand({
  synopsis: 'coffer plugin list [options] [TYPE]',
  help: `  Lists available plugins registered in the catalog. This does not list whether
  plugins are in use, but rather just their availability.

  List all available plugins in the catalog:

      $ coffer plugin list

  List the secrets plugins:

      $ coffer plugin list secret

  List them with their deprecation status:

      $ coffer plugin list -detailed`,
  flags: { detailed: { kind: 'bool', usage: 'Print detailed plugin information such as the deprecation status.', default: false } },
  output: true,
  args: [0, 1],
  run: async (ctx) => {
    const type = ctx.args[0]?.trim();
    if (type !== undefined && !TYPES.includes(type)) throw new UsageError(`Error: "${type}" is not a valid plugin type; expected one of auth, secret, database`);
    const secret = await ctx.remote('Error listing available plugins', () => ctx.client.read('sys/plugins/catalog'));
    const data = (secret?.data ?? {}) as Record<string, unknown>;
    const detailed = ((data.detailed ?? []) as Detailed[]).filter((p) => !type || p.type === type);
    const sorted = [...detailed].sort((a, b) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type) || (a.version ?? '').localeCompare(b.version ?? ''));
    const structuredValue = ctx.flags.detailed ? sorted : type ? ((data[type] ?? []) as string[]) : data;
    return outputData(ctx, structuredValue, () => {
      const header = ['Name', ...(type ? [] : ['Type']), 'Version', ...(ctx.flags.detailed ? ['Deprecation Status'] : [])];
      const rows = sorted.map((p) => [p.name, ...(type ? [] : [p.type]), p.version ?? '', ...(ctx.flags.detailed ? [p.deprecation_status ?? ''] : [])]);
      return table(header, rows);
    });
  },
});

const info = defineCommand({
  synopsis: 'coffer plugin info [options] TYPE NAME',
  help: `  Displays information about a plugin in the catalog with the given name. If
  the plugin does not exist, an error is returned.

  Display information about a plugin:

      $ coffer plugin info secret my-custom-plugin

  Display information about a specific version:

      $ coffer plugin info -version=v1.0.0 secret my-custom-plugin`,
  flags: { version: { kind: 'string', usage: 'Semantic version of the plugin. Optional.' } },
  output: true,
  field: true,
  args: 2,
  run: async (ctx) => {
    const { type, name } = typeAndName(ctx.args);
    const query = ctx.flags.version ? { version: String(ctx.flags.version) } : undefined;
    const secret = await ctx.remote(`Error reading plugin named ${name}`, () => ctx.client.read(`sys/plugins/catalog/${type}/${name}`, query));
    // A 404 may carry a warning: the catalog has the plugin only under versions, and says which.
    if (!secret || !secret.data) throw new Failure(`No value found for plugin "${name}"${secret?.warnings?.length ? `\n\n${secret.warnings.join('\n')}` : ''}`, 2);
    const d = secret.data;
    const shown: Record<string, unknown> = {
      args: d.args ?? [],
      builtin: d.builtin ?? false,
      command: d.command ?? '',
      deprecation_status: d.deprecation_status ?? '',
      name: d.name ?? name,
      oci_image: d.oci_image ?? '',
      runtime: d.runtime ?? '',
      sha256: d.sha256 ?? '',
      version: d.version ?? '',
    };
    return outputSecret(ctx, { ...secret, data: ctx.format === 'table' ? shown : d });
  },
});

const deregister = defineCommand({
  synopsis: 'coffer plugin deregister [options] TYPE NAME',
  help: `  Deregisters an existing plugin in the catalog. If the plugin does not exist,
  no action is taken (the command is idempotent).

  Deregister a plugin:

      $ coffer plugin deregister secret my-custom-plugin

  Deregister one version of it:

      $ coffer plugin deregister -version=v1.0.0 secret my-custom-plugin`,
  flags: { version: { kind: 'string', usage: 'Semantic version of the plugin to deregister.' } },
  args: 2,
  run: async (ctx) => {
    const { type, name } = typeAndName(ctx.args);
    const query = ctx.flags.version ? { version: String(ctx.flags.version) } : undefined;
    await ctx.remote(`Error deregistering plugin named ${name}`, () => ctx.client.delete(`sys/plugins/catalog/${type}/${name}`, query));
    ctx.out(`Success! Deregistered plugin (if it was registered): ${name}\n`);
    return 0;
  },
});

interface ReloadStatus {
  reload_id?: string;
  results?: Record<string, { timestamp?: string; success?: boolean; message?: string }>;
  in_progress?: string[];
}

const POLL_MS = 500;
/** With no runner heard from by then, nobody is reloading anything. */
const NO_ANSWER_MS = 10_000;
/** A drain waits for in-flight plugin calls, which time out after 60 s themselves. */
const GIVE_UP_MS = 120_000;

const readStatus = (ctx: Context, id: string) =>
  ctx.remote('Error retrieving plugin reload status', async () => {
    const r = await ctx.client.request('GET', 'sys/plugins/reload/backend/status', { query: { reload_id: id } });
    return ((r.body as { data?: ReloadStatus })?.data ?? {}) as ReloadStatus;
  });

/** Vault's reload-status table: one row per runner (the participant) that finished, then those still working. */
function statusTable(status: ReloadStatus): string {
  const rows = Object.entries(status.results ?? {}).map(([runner, r]) => [clock(r.timestamp), runner, String(!!r.success), r.message ?? '']);
  for (const runner of status.in_progress ?? []) rows.push(['', runner, 'false', 'in progress']);
  return table(['Time', 'Participant', 'Success', 'Message'], rows);
}

/** Go's "15:04:05" layout, in local time as Vault prints it. */
function clock(iso: string | undefined): string {
  const d = iso ? new Date(iso) : undefined;
  if (!d || Number.isNaN(d.getTime())) return '';
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

const reload = defineCommand({
  synopsis: 'coffer plugin reload [options]',
  help: `  Reloads mounted plugins. Either the plugin name or the desired plugin
  mount(s) must be provided, but not both. In case the plugin name is provided,
  all of its corresponding mounted paths that use the plugin backend will be
  reloaded. Every plugin-runner replaces its processes of the plugin, letting
  the calls in flight finish.

  Reload the plugin named "my-mock-plugin":

      $ coffer plugin reload -plugin=my-mock-plugin

  Reload two mounts:

      $ coffer plugin reload -mounts=my-secrets-plugin,auth/my-auth

  Reload on every runner and wait until each has finished, showing progress:

      $ coffer plugin reload -plugin=my-mock-plugin -scope=global`,
  flags: {
    plugin: { kind: 'string', usage: 'The name of the plugin to reload, as registered in the plugin catalog.' },
    mounts: { kind: 'strings', usage: 'Array or comma-separated string mount paths of the plugin backends to reload.' },
    scope: { kind: 'string', usage: 'The scope of the reload: omitted for local, "global" to wait for every plugin-runner and report each.' },
  },
  args: 0,
  run: async (ctx) => {
    const plugin = ((ctx.flags.plugin as string | undefined) ?? '').trim();
    const mounts = (ctx.flags.mounts as string[]).flatMap((m) => m.split(',')).map((m) => m.trim()).filter(Boolean);
    const scope = ((ctx.flags.scope as string | undefined) ?? '').trim();
    if (!plugin && mounts.length === 0) throw new UsageError('Not enough arguments (expected 1, got 0)');
    if (plugin && mounts.length) throw new UsageError(`Too many arguments (expected 1, got ${1 + mounts.length})`);
    if (scope !== '' && scope !== 'global') throw new UsageError(`Invalid reload scope: ${scope}`);
    const body: Record<string, unknown> = plugin ? { plugin } : { mounts };
    if (scope) body.scope = scope;
    const secret = await ctx.remote('Error reloading plugin/mounts', () => ctx.client.write('sys/plugins/reload/backend', body));
    const id = scope === 'global' ? String(secret?.data?.reload_id ?? '') : '';
    // Go's %s of a []string.
    const what = plugin ? `plugin: ${plugin}` : `mounts: [${mounts.join(' ')}]`;
    if (!id) {
      ctx.out(`Success! Reloaded ${what}\n`);
      return 0;
    }
    ctx.out(`Success! Reloading ${what}, reload_id: ${id}\n`);
    return waitForReload(ctx, id);
  },
});

/**
 * Polls the reload's status until every runner that started has finished. Nobody knows how many runners there are,
 * so "finished" is: someone reported, nobody is still working, and the next poll says the same.
 */
async function waitForReload(ctx: Context, id: string): Promise<number> {
  const start = Date.now();
  let lastCount = -1;
  let lastLine = '';
  for (;;) {
    const status = await readStatus(ctx, id);
    const done = Object.keys(status.results ?? {}).length;
    const working = status.in_progress?.length ?? 0;
    if (done > 0 && working === 0 && done === lastCount) {
      const failed = Object.entries(status.results ?? {}).filter(([, r]) => !r.success);
      for (const [runner, r] of Object.entries(status.results ?? {})) {
        process.stderr.write(`  ${runner}: ${r.success ? 'reloaded' : `failed: ${r.message ?? ''}`}\n`);
      }
      if (failed.length) throw new Failure(`Error reloading plugin/mounts: ${failed.length} of ${done} plugin-runners failed (see: coffer plugin reload-status ${id})`, 2);
      return 0;
    }
    lastCount = working === 0 ? done : -1;
    const waited = Date.now() - start;
    if (done + working === 0 && waited > NO_ANSWER_MS) {
      throw new Failure(`Error reloading plugin/mounts: no plugin-runner reported on reload ${id} within ${NO_ANSWER_MS / 1000}s`, 2);
    }
    if (waited > GIVE_UP_MS) throw new Failure(`Error reloading plugin/mounts: still in progress after ${GIVE_UP_MS / 1000}s; check with: coffer plugin reload-status ${id}`, 2);
    // One line per change, and none while merely confirming that nobody is left.
    const line = `Waiting for the plugin-runners to reload: ${done} finished, ${working} in progress`;
    if (line !== lastLine && (working > 0 || done === 0)) process.stderr.write(`${line}\n`);
    lastLine = line;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const reloadStatus = defineCommand({
  synopsis: 'coffer plugin reload-status [options] RELOAD_ID',
  help: `  Retrieves the status of a recent global plugin reload: one row per
  plugin-runner. The reload id must be provided.

      $ coffer plugin reload-status d60a3e83-a598-4f3a-879d-0ddd95f11d4e`,
  output: true,
  args: 1,
  run: async (ctx) => {
    const status = await readStatus(ctx, ctx.args[0].trim());
    return outputData(ctx, status, () => statusTable(status));
  },
});

export const pluginCommand = defineGroup('plugin', 'This command groups subcommands for interacting with Coffer\'s plugins and the plugin catalog.', {
  register: { summary: 'Registers a new plugin in the catalog', run: register },
  list: { summary: 'Lists available plugins', run: list },
  info: { summary: 'Read information about a plugin in the catalog', run: info },
  deregister: { summary: 'Deregister an existing plugin in the catalog', run: deregister },
  reload: { summary: 'Reload mounted plugin backend', run: reload },
  'reload-status': { summary: 'Get the status of an active or recently completed global plugin reload', run: reloadStatus },
  new: { summary: 'Create a plugin project (TypeScript, with the SDK package)', run: pluginNewCommand },
  test: { summary: 'Check a plugin executable against the plugin protocol (any language)', run: pluginTestCommand },
});
