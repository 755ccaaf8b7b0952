import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { startDevServer as startTestDevServer } from '../../test/support/dev-server.js';
import { REPO_ROOT } from '../../test/support/paths.js';

export const COFFER_BIN = join(REPO_ROOT, 'bin/coffer.js');

export interface RunningProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Spawns `args` under this Node and resolves once `ready` matches what it printed. */
async function startProcess(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const deadline = Date.now() + 60_000;
  while (!ready.test(text)) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited during start:\n${text.slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`${args.join(' ')} did not start within 60 s:\n${text.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => text };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await once(child, 'exit');
  clearTimeout(timer);
}

/** The bare node:http ceiling server (bench/ceiling-server.ts) in a process of its own. */
export async function startCeiling(): Promise<RunningProcess> {
  const { child, output } = await startProcess([join(REPO_ROOT, 'dist/bench/ceiling-server.js')], /^\d+\n/);
  const port = Number(output().trim().split('\n')[0]);
  return { url: `http://127.0.0.1:${port}`, child, output, stop: () => stopProcess(child) };
}

/** `coffer server -dev` as a newcomer runs it (embedded store, in-process bus), on a free port, with a known root token. */
export async function startDevServer(rootToken: string, env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = [], bin?: string): Promise<RunningProcess> {
  const dev = await startTestDevServer({ args: [`-dev-root-token-id=${rootToken}`], env: { COFFER_LOG_LEVEL: 'warn', ...env }, nodeArgs, bin });
  return { url: dev.url, child: dev.child, output: dev.output, stop: dev.stop };
}

/** Milliseconds from spawn to exit of one run of `node <args>`; throws when it fails. */
export async function timeNode(args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited ${code}: ${stderr.slice(-1000)}`);
  return ms;
}
