import { defineCommand, defineGroup, Failure, outputData, type Context } from '../client/command.js';
import { structured, table } from '../client/format.js';

type SealStatus = Record<string, unknown>;

function sealTable(s: SealStatus): string {
  const v = (x: unknown) => (x === undefined || x === null ? '' : String(x));
  const rows: string[][] = [
    ['Seal Type', v(s.type)],
    ['Initialized', v(s.initialized)],
    ['Sealed', v(s.sealed)],
    ['Total Shares', v(s.n)],
    ['Threshold', v(s.t)],
  ];
  if (s.sealed) rows.push(['Unseal Progress', `${v(s.progress)}/${v(s.t)}`], ['Unseal Nonce', v(s.nonce)]);
  rows.push(['Version', v(s.version)], ['Build Date', v(s.build_date)], ['Storage Type', v(s.storage_type)]);
  if (s.cluster_name) rows.push(['Cluster Name', v(s.cluster_name)]);
  if (s.cluster_id) rows.push(['Cluster ID', v(s.cluster_id)]);
  rows.push(['HA Enabled', 'false']);
  return table(['Key', 'Value'], rows);
}

async function printSeal(ctx: Context, s: SealStatus): Promise<void> {
  await outputData(ctx, s, () => sealTable(s));
}

export const statusCommand = defineCommand({
  synopsis: 'coffer status [options]',
  help: `  Prints the current state of Coffer including whether it is sealed and if HA
  mode is enabled. This command prints regardless of whether the server is
  sealed.

  The exit code reflects the seal status:

      - 0 - unsealed
      - 1 - error
      - 2 - sealed

  Check the status:

      $ coffer status`,
  output: true,
  args: 0,
  run: async (ctx) => {
    const r = await ctx.remote('Error checking seal status', () => ctx.client.request('GET', 'sys/seal-status'));
    const s = (r.body ?? {}) as SealStatus;
    await printSeal(ctx, s);
    return s.sealed ? 2 : 0;
  },
});

const init = defineCommand({
  synopsis: 'coffer operator init [options]',
  help: `  Initializes a Coffer server. Initialization is the process by which Coffer's
  storage backend is prepared to receive data. It generates the unseal keys
  (Shamir's secret sharing) and the initial root token.

  Start initialization with the default options:

      $ coffer operator init

  Initialize with 3 key shares, any 2 of which unseal:

      $ coffer operator init -key-shares=3 -key-threshold=2

  Check whether the server is initialized (exit 0 yes, 2 no):

      $ coffer operator init -status`,
  flags: {
    'key-shares': { kind: 'string', usage: 'Number of key shares to split the generated root key into.', default: '5' },
    'key-threshold': { kind: 'string', usage: 'Number of key shares required to reconstruct the root key.', default: '3' },
    status: { kind: 'bool', usage: 'Print the current initialization status. Exit code 0 when initialized, 2 when not.', default: false },
  },
  output: true,
  args: 0,
  run: async (ctx) => {
    if (ctx.flags.status) {
      const r = await ctx.remote('Error checking init status', () => ctx.client.request('GET', 'sys/init'));
      const initialized = !!(r.body as { initialized?: boolean })?.initialized;
      ctx.out(initialized ? 'Coffer is initialized\n' : 'Coffer is not initialized\n');
      return initialized ? 0 : 2;
    }
    const shares = Number(ctx.flags['key-shares']);
    const threshold = Number(ctx.flags['key-threshold']);
    if (!Number.isInteger(shares) || !Number.isInteger(threshold)) throw new Failure('-key-shares and -key-threshold must be integers', 1);
    const r = await ctx.remote('Error initializing', () => ctx.client.request('PUT', 'sys/init', { body: { secret_shares: shares, secret_threshold: threshold } }));
    const b = (r.body ?? {}) as { keys?: string[]; keys_base64?: string[]; root_token?: string };
    if (ctx.format !== 'table') {
      ctx.out(
        await structured(
          {
            unseal_keys_b64: b.keys_base64 ?? [],
            unseal_keys_hex: b.keys ?? [],
            unseal_shares: shares,
            unseal_threshold: threshold,
            recovery_keys_b64: [],
            recovery_keys_hex: [],
            recovery_keys_shares: 0,
            recovery_keys_threshold: 0,
            root_token: b.root_token ?? '',
          },
          ctx.format,
        ),
      );
      return 0;
    }
    const keys = b.keys_base64 ?? b.keys ?? [];
    ctx.out(
      `${keys.map((k, i) => `Unseal Key ${i + 1}: ${k}`).join('\n')}\n\nInitial Root Token: ${b.root_token}\n\n` +
        `Coffer initialized with ${shares} key shares and a key threshold of ${threshold}. Please securely\n` +
        `distribute the key shares printed above. When Coffer is re-sealed,\n` +
        `restarted, or stopped, you must supply at least ${threshold} of these keys to unseal it\n` +
        `before it can start servicing requests.\n`,
    );
    return 0;
  },
});

const unseal = defineCommand({
  synopsis: 'coffer operator unseal [options] [KEY]',
  help: `  Provide a portion of the root key to unseal a Coffer server. Coffer starts in a
  sealed state; run this command once per key share until the threshold is
  reached. With no KEY, Coffer asks for it on the terminal without echoing it
  (or reads the first line of stdin when stdin is not a terminal), so the key
  stays out of the shell's history.

  Enter the key at the prompt:

      $ coffer operator unseal
      Unseal Key (will be hidden):

  Provide an unseal key:

      $ coffer operator unseal <key>

  Discard the progress of the current unseal:

      $ coffer operator unseal -reset`,
  flags: { reset: { kind: 'bool', usage: 'Discard any previously entered keys to the unseal process.', default: false } },
  output: true,
  args: [0, 1],
  run: async (ctx) => {
    let body: Record<string, unknown>;
    if (ctx.flags.reset) body = { reset: true };
    else {
      let key = ctx.args[0];
      if (key === undefined || key === '-') {
        // Loaded here only: the prompt is the one path of the CLI that touches the terminal's modes.
        const { readSecret } = await import('../client/prompt.js');
        key = await readSecret('Unseal Key (will be hidden): ', 'an unseal key');
      }
      if (!key) throw new Failure('Missing unseal key', 1);
      body = { key };
    }
    const r = await ctx.remote('Error unsealing', () => ctx.client.request('PUT', 'sys/unseal', { body }));
    await printSeal(ctx, (r.body ?? {}) as SealStatus);
    return 0;
  },
});

const seal = defineCommand({
  synopsis: 'coffer operator seal [options]',
  help: `  Seals the Coffer server. Sealing tells the server to stop responding to any
  operations until it is unsealed. The root key is discarded from memory.

  Seal the server:

      $ coffer operator seal`,
  args: 0,
  run: async (ctx) => {
    await ctx.remote('Error sealing', () => ctx.client.request('PUT', 'sys/seal'));
    ctx.out('Success! Coffer is sealed.\n');
    return 0;
  },
});

const busConfig = defineCommand({
  synopsis: 'coffer operator bus-config -out=DIR [options]',
  help: `  Generates what a secured cluster's NATS needs: a nats-server config where each
  service role (gateway, catalog, mount-manager, plugin-runner) has its own nkey
  and may use only its own subjects, a CA and a TLS certificate for the server,
  and for each role a folder with its credentials and the bus "nats" block that
  uses them. A client with no credentials is refused. Files are private (0600).

  Give DIR/nats to the NATS server and DIR/<role> to that service's processes
  only (docs/operations.md). Keep DIR/ca/ca-key.pem offline.

      $ coffer operator bus-config -out=./bus -hosts=nats -url=tls://nats:4222 \\
          -install-dir=/etc/coffer/bus`,
  flags: {
    out: { kind: 'string', usage: 'Folder to write into; must not exist or be empty.' },
    'install-dir': { kind: 'string', usage: 'Where the folder is found at run time (paths in the files point there). The default is -out.' },
    url: { kind: 'string', usage: 'URL the services connect to.', default: 'tls://nats:4222' },
    listen: { kind: 'string', usage: "nats-server's client listen address.", default: '0.0.0.0:4222' },
    hosts: { kind: 'string', usage: 'Comma-separated DNS names and IP addresses of the NATS server, for its certificate.', default: 'nats,localhost,127.0.0.1' },
    namespace: { kind: 'string', usage: 'The bus namespace of the cluster, if it has one.' },
  },
  args: 0,
  run: async (ctx) => {
    const out = ctx.flags.out as string | undefined;
    if (!out) throw new Failure('-out is required', 1);
    const { writeBusConfig } = await import('../operator/bus-config.js');
    const hosts = String(ctx.flags.hosts).split(',').map((h) => h.trim()).filter(Boolean);
    const namespace = (ctx.flags.namespace as string | undefined) || undefined;
    if (namespace && !/^[A-Za-z0-9_-]{1,64}$/.test(namespace)) throw new Failure('-namespace must be 1 to 64 letters, digits, "_" or "-"', 1);
    let files: string[];
    try {
      ({ files } = writeBusConfig({
        out,
        installDir: (ctx.flags['install-dir'] as string | undefined) || undefined,
        url: String(ctx.flags.url),
        listen: String(ctx.flags.listen),
        hosts,
        namespace,
      }));
    } catch (err) {
      throw new Failure(`Error generating the bus config: ${(err as Error).message}`, 1);
    }
    ctx.out(`Success! Wrote ${files.length} files under ${out}:\n${files.map((f) => `  ${f}`).join('\n')}\n`);
    return 0;
  },
});

export const operatorCommand = defineGroup('operator', 'This command groups subcommands for operators interacting with Coffer.', {
  init: { summary: 'Initializes a server', run: init },
  unseal: { summary: 'Unseals the server', run: unseal },
  seal: { summary: 'Seals the server', run: seal },
  'bus-config': { summary: 'Generates NATS credentials, permissions and TLS for a cluster', run: busConfig },
});
