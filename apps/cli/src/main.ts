import { CofferError } from '#contracts';

/** A command gets its arguments and returns the exit code (Vault's: 0 ok, 1 local or usage error, 2 remote error). */
type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  audit: { summary: 'Interact with audit devices', load: async () => (await import('./commands/audit.js')).auditCommand },
  server: { summary: 'Start a Coffer server', load: async () => (await import('./commands/server.js')).serverCommand },
  version: { summary: 'Print the Coffer version', load: async () => (await import('./commands/version.js')).versionCommand },
  read: { summary: 'Read data and retrieves secrets', load: async () => (await import('./commands/kv.js')).readCommand },
  write: { summary: 'Write data, configuration, and secrets', load: async () => (await import('./commands/kv.js')).writeCommand },
  list: { summary: 'List data or secrets', load: async () => (await import('./commands/kv.js')).listCommand },
  delete: { summary: 'Delete secrets and configuration', load: async () => (await import('./commands/kv.js')).deleteCommand },
  lease: { summary: 'Interact with leases', load: async () => (await import('./commands/lease.js')).leaseCommand },
  kv: { summary: 'Interact with Coffer\'s Key-Value storage', load: async () => (await import('./commands/kv-engine.js')).kvCommand },
  patch: { summary: 'Patch data, configuration, and secrets', load: async () => (await import('./commands/kv.js')).patchCommand },
  'path-help': { summary: 'Retrieve API help for paths', load: async () => (await import('./commands/help.js')).pathHelpCommand },
  secrets: { summary: 'Interact with secrets engines', load: async () => (await import('./commands/mounts.js')).secretsCommand },
  auth: { summary: 'Interact with auth methods', load: async () => (await import('./commands/mounts.js')).authCommand },
  login: { summary: 'Authenticate locally', load: async () => (await import('./commands/token.js')).loginCommand },
  status: { summary: 'Print seal and HA status', load: async () => (await import('./commands/operator.js')).statusCommand },
  plugin: { summary: 'Interact with Coffer plugins and catalog', load: async () => (await import('./commands/plugin.js')).pluginCommand },
  policy: { summary: 'Interact with policies', load: async () => (await import('./commands/policy.js')).policyCommand },
  token: { summary: 'Interact with tokens', load: async () => (await import('./commands/token.js')).tokenCommand },
  operator: { summary: 'Perform operator-specific tasks', load: async () => (await import('./commands/operator.js')).operatorCommand },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '-help' || name === '--help') {
    process.stderr.write(usage());
    return name ? 0 : 127;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`Unknown command: ${name}\n\n${usage()}`);
    return 127;
  }
  try {
    return await (await entry.load())(rest);
  } catch (err) {
    // Vault's exit codes: 1 for local errors, wrong flags and arguments included; 2 for what the server refused.
    if (err instanceof CofferError && err.code === 'invalid-request') {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([n, c]) => `    ${n.padEnd(width)}    ${c.summary}`);
  return `Usage: coffer <command> [args]\n\nCommands:\n${lines.join('\n')}\n`;
}
