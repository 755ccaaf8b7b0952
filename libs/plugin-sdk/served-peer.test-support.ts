/**
 * For the SDK's own tests: serve(backend) over in-memory streams, the real plugin side of the protocol without a
 * process. The test plays the host: it reads the plugin's lines and writes the host's messages.
 */
import { PassThrough } from 'node:stream';
import { MAGIC_ENV, MAGIC_VALUE, PROTOCOLS_ENV } from '#plugin-protocol';
import { serve, type Backend } from './index.js';

/** One protocol message as a test reads it (loosely typed: tests assert on its parts). */
export interface PeerMessage {
  id?: number;
  method?: string;
  params?: any;
  protocol?: number;
  result?: any;
  error?: { code: number; message: string; data?: { kind?: string } };
}

/** `protocols`: the host's PROTOCOLS_ENV offer (absent: a host that offers protocol 1 only). */
export function servedPeer(backend: Backend, protocols?: string) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let buffer = '';
  stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    for (let i = buffer.indexOf('\n'); i !== -1; i = buffer.indexOf('\n')) {
      lines.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
      waiters.splice(0).forEach((wake) => wake());
    }
  });
  let exitCode: number | undefined;
  const env: Record<string, string> = { [MAGIC_ENV]: MAGIC_VALUE, ...(protocols === undefined ? {} : { [PROTOCOLS_ENV]: protocols }) };
  serve(backend, { stdin, stdout, stderr: new PassThrough(), env, exit: (code) => void (exitCode = code) });

  /** The plugin's next line, as written. */
  async function nextLine(): Promise<string> {
    while (lines.length === 0) await new Promise<void>((wake) => waiters.push(wake));
    return lines.shift()!;
  }
  return {
    nextLine,
    next: async () => JSON.parse(await nextLine()) as PeerMessage,
    send: (message: object) => stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`),
    end: () => stdin.end(),
    exitCode: () => exitCode,
  };
}

export type ServedPeer = ReturnType<typeof servedPeer>;
