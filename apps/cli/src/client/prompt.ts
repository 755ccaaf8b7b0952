import { readFileSync } from 'node:fs';
import { UsageError } from './command.js';

/**
 * A secret typed by a person, never echoed: on a terminal, stdin goes to raw mode (no echo, no line editing by the
 * terminal, Ctrl-C arrives as a byte) until Enter, and the terminal is restored whatever happens. When stdin is not a
 * terminal (a pipe, a file) the first line of it is the secret, so scripts can feed one.
 */
export async function readSecret(prompt: string, what: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    try {
      return readFileSync(0, 'utf8').split('\n')[0].replace(/\r$/, '').trim();
    } catch (err) {
      throw new UsageError(`Failed to read stdin: ${(err as Error).message}`);
    }
  }
  process.stderr.write(prompt);
  const typed = await new Promise<string>((resolve, reject) => {
    let value = '';
    const onEnd = () => finish(new UsageError(`An error occurred attempting to ask for ${what}: end of input`));
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        // Ctrl-C and Ctrl-D (on an empty line): raw mode delivers them as bytes, not as a signal or an end of file.
        if (ch === '\u0003') return finish(new UsageError(`An error occurred attempting to ask for ${what}: interrupted`));
        if (ch === '\u0004' && value === '') return finish(new UsageError(`An error occurred attempting to ask for ${what}: end of input`));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume();
  });
  return typed.trim();
}
