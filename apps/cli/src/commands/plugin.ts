import { defineCommand, defineGroup, Failure, outputData, outputSecret, UsageError } from '../client/command.js';
import { table } from '../client/format.js';

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
    if (!secret || !secret.data) throw new Failure(`No value found for plugin "${name}"`, 2);
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

export const pluginCommand = defineGroup('plugin', 'This command groups subcommands for interacting with Coffer\'s plugins and the plugin catalog.', {
  register: { summary: 'Registers a new plugin in the catalog', run: register },
  list: { summary: 'Lists available plugins', run: list },
  info: { summary: 'Read information about a plugin in the catalog', run: info },
  deregister: { summary: 'Deregister an existing plugin in the catalog', run: deregister },
});
