import { defineCommand, defineGroup, ensureTrailingSlash, outputData, sanitizePath, UsageError } from '../client/command.js';
import { table } from '../client/format.js';

/** `coffer audit enable|disable|list`, worded and exiting as Vault's `vault audit ...`. */

const enable = defineCommand({
  synopsis: 'coffer audit enable [options] TYPE [CONFIG K=V...]',
  help: `  Enables an audit device at a given path. An audit device records every
  request and response, with secrets replaced by salted HMACs.

  Enable a file audit device at "file/":

      $ coffer audit enable file file_path=/var/log/coffer/audit.log

  Send the entries to a collector over TCP, at "collector/":

      $ coffer audit enable -path=collector socket address=10.0.0.5:9090 socket_type=tcp`,
  flags: {
    description: { kind: 'string', usage: 'Human-friendly description for the purpose of this audit device.' },
    path: { kind: 'string', usage: 'Place where the audit device will be accessible. This must be unique across all audit devices. Defaults to the TYPE.' },
    local: { kind: 'bool', usage: 'Mark the audit device as a local-only device.', default: false },
  },
  args: [1, Infinity],
  run: async (ctx) => {
    const type = ctx.args[0].trim();
    const options: Record<string, string> = {};
    for (const kv of ctx.args.slice(1)) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new UsageError(`Failed to parse K=V data: invalid key/value pair "${kv}": format must be key=value`);
      options[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    const path = ensureTrailingSlash(sanitizePath((ctx.flags.path as string) || type));
    const body = { type, description: (ctx.flags.description as string) ?? '', options, local: !!ctx.flags.local };
    await ctx.remote('Error enabling audit device', () => ctx.client.write(`sys/audit/${path}`, body));
    ctx.out(`Success! Enabled the ${type} audit device at: ${path}\n`);
    return 0;
  },
});

const disable = defineCommand({
  synopsis: 'coffer audit disable [options] PATH',
  help: `  Disables an audit device. Once disabled, no further entries are sent to it.
  The entries it already recorded are left where they are.

  Disable the audit device enabled at "file/":

      $ coffer audit disable file/`,
  args: 1,
  run: async (ctx) => {
    const path = ensureTrailingSlash(sanitizePath(ctx.args[0]));
    await ctx.remote('Error disabling audit device', () => ctx.client.delete(`sys/audit/${path}`));
    ctx.out(`Success! Disabled audit device (if it was enabled) at: ${path}\n`);
    return 0;
  },
});

const list = defineCommand({
  synopsis: 'coffer audit list [options]',
  help: `  Lists the enabled audit devices and their options.

  List all audit devices:

      $ coffer audit list

  With their options:

      $ coffer audit list -detailed`,
  flags: { detailed: { kind: 'bool', usage: 'Print detailed information such as options and replication status about each audit device.', default: false } },
  output: true,
  args: 0,
  run: async (ctx) => {
    const secret = await ctx.remote('Error listing audits', () => ctx.client.read('sys/audit'));
    const devices = (secret?.data ?? {}) as Record<string, { type?: string; description?: string; local?: boolean; options?: Record<string, string> }>;
    if (ctx.format === 'table' && Object.keys(devices).length === 0) {
      // Vault prints this on stdout and exits 2.
      ctx.out('No audit devices are enabled.\n');
      return 2;
    }
    return outputData(ctx, devices, () => {
      const paths = Object.keys(devices).sort();
      if (ctx.flags.detailed) {
        return table(
          ['Path', 'Type', 'Description', 'Replication', 'Options'],
          paths.map((p) => {
            const d = devices[p];
            const opts = Object.entries(d.options ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
            return [p, d.type ?? '', d.description ?? '', d.local ? 'local' : 'replicated', opts];
          }),
        );
      }
      return table(['Path', 'Type', 'Description'], paths.map((p) => [p, devices[p].type ?? '', devices[p].description ?? '']));
    });
  },
});

export const auditCommand = defineGroup('audit', 'Interact with audit devices', {
  disable: { summary: 'Disables an audit device', run: disable },
  enable: { summary: 'Enables an audit device', run: enable },
  list: { summary: 'Lists enabled audit devices', run: list },
});

