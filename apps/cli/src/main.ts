import { CofferError } from '#contracts';

/** A command gets its arguments and returns the exit code (Vault's: 0 ok, 1 local error, 2 usage or remote error). */
type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  server: { summary: 'Start a Coffer server', load: async () => (await import('./commands/server.js')).serverCommand },
  version: { summary: 'Print the Coffer version', load: async () => (await import('./commands/version.js')).versionCommand },
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
    if (err instanceof CofferError && err.code === 'invalid-request') {
      process.stderr.write(`${err.message}\n`);
      return 2;
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
