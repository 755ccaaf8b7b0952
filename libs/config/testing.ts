/** Helpers for this library's tests. Not named test-*.ts: node --test would run it as a test file. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { ConfigError } from './errors.js';
import type { ConfigLog } from './watch.js';

/** A fresh directory under the OS temp dir, removed when the test ends. */
export async function scratchDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes files (relative name → text) under dir and returns the path of the first. */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<string> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return join(dir, Object.keys(files)[0]!);
}

/** Asserts a ConfigError that names the file (first in the message) and the key, with the expected words. */
export async function rejectsWithConfigError(
  loading: Promise<unknown>,
  expected: { source: string; key?: string; includes?: (string | RegExp)[]; excludes?: string[] },
): Promise<ConfigError> {
  const err = await loading.then(
    () => assert.fail('expected a ConfigError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
  assert.equal(err.code, 'invalid-request');
  assert.equal(err.source, expected.source);
  assert.ok(err.message.startsWith(`${expected.source}: `), err.message);
  assert.equal(err.key, expected.key);
  if (expected.key !== undefined) assert.ok(err.message.includes(`"${expected.key}"`), err.message);
  for (const part of expected.includes ?? []) {
    if (typeof part === 'string') assert.ok(err.message.includes(part), `${JSON.stringify(err.message)} lacks ${JSON.stringify(part)}`);
    else assert.match(err.message, part);
  }
  for (const secret of expected.excludes ?? []) assert.ok(!err.message.includes(secret), `${err.message} leaks ${secret}`);
  return err;
}

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  details: Record<string, unknown>;
  message: string;
}

/** A ConfigLog that keeps what it is told. */
export function recordingLog(): ConfigLog & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const record = (level: LogLine['level']) => (details: object, message: string) =>
    void lines.push({ level, details: details as Record<string, unknown>, message });
  return { lines, info: record('info'), warn: record('warn'), error: record('error') };
}
