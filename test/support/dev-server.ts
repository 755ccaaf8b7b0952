import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { freePort } from './cluster.js';
import { REPO_ROOT } from './paths.js';

export interface DevServer {
  url: string;
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  rootToken: string;
  unsealKey: string;
  stop(): Promise<void>;
}

/**
 * `coffer server -dev` on a free port, as a newcomer starts it, resolved once it says it has started. `args` adds
 * flags (`-dev-plugin-dir=…`, `-dev-root-token-id=…`); `env` adds to this process's environment; `nodeArgs` go to node
 * itself (`--cpu-prof`, which NODE_OPTIONS does not take); `bin` is another checkout's `bin/coffer.js` (a bench
 * comparing two builds in one run).
 */
export async function startDevServer(
  options: { args?: string[]; env?: NodeJS.ProcessEnv; nodeArgs?: string[]; bin?: string } = {},
): Promise<DevServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.bin ?? join(REPO_ROOT, 'bin/coffer.js'), 'server', '-dev', `-dev-listen-address=127.0.0.1:${port}`, ...(options.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const deadline = Date.now() + 60_000;
  // The banner ends with the root token: once it is all there, the server is serving.
  while (!/Coffer server started[\s\S]*Root Token: \S+\n/.test(text)) {
    if (child.exitCode !== null) throw new Error(`dev server exited:\n${text.slice(-3000)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dev server did not start within 60 s:\n${text.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    output: () => text,
    rootToken: /Root Token: (\S+)/.exec(text)![1],
    unsealKey: /Unseal Key: (\S+)/.exec(text)![1],
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
