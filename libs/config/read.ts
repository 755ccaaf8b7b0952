import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parse as parseHcl } from '@cdktf/hcl2json';
import { ConfigError } from './errors.js';

/** One config file, parsed but not yet checked. */
export interface ConfigFile {
  path: string;
  body: Record<string, unknown>;
}

/**
 * An HCL string that is a template or an expression (`"${var.x}"`, `1 + 2`, a bare word). Coffer, like Vault, reads
 * literal values only; it keeps the source text so the error can show what was written.
 */
export class HclExpression {
  constructor(readonly text: string) {}
}

/** Expands directories and parses every file, in the order the files will be merged. */
export async function readConfigFiles(paths: readonly string[]): Promise<ConfigFile[]> {
  if (paths.length === 0) throw new ConfigError('config', undefined, 'no config file or directory was given');
  const files: string[] = [];
  for (const path of paths) files.push(...(await filesAt(path)));
  const parsed: ConfigFile[] = [];
  for (const path of files) parsed.push({ path, body: await parseFile(path) });
  return parsed;
}

async function filesAt(path: string): Promise<string[]> {
  const stats = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(path, undefined, describeFsError(err));
  });
  if (stats.isFile()) return [path];
  if (!stats.isDirectory()) throw new ConfigError(path, undefined, 'is neither a file nor a directory');
  const files = await configFilesIn(path);
  if (files.length === 0) throw new ConfigError(path, undefined, 'holds no *.hcl or *.json file');
  return files;
}

/**
 * The directory's config files, sorted by name so that which file wins never depends on the file system's order.
 * Symbolic links are followed: Kubernetes mounts a ConfigMap's files as links.
 */
async function configFilesIn(directory: string): Promise<string[]> {
  const names = (await readdir(directory).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(directory, undefined, describeFsError(err));
  })).filter(isConfigFileName);
  const files: string[] = [];
  for (const name of names.sort()) {
    const path = join(directory, name);
    if ((await stat(path).catch(() => undefined))?.isFile()) files.push(path);
  }
  return files;
}

/** *.hcl and *.json, minus the backup and lock files editors leave behind (Emacs `#a.hcl#`, `.#a.hcl`; `a.hcl~`). */
function isConfigFileName(name: string): boolean {
  const editorLeftover = name.endsWith('~') || name.startsWith('.#') || (name.startsWith('#') && name.endsWith('#'));
  return !editorLeftover && (name.endsWith('.hcl') || name.endsWith('.json'));
}

async function parseFile(path: string): Promise<Record<string, unknown>> {
  const source = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(path, undefined, describeFsError(err));
  });
  const body = extname(path) === '.json' ? parseJson(path, source) : literalValues(await parseHclText(path, source));
  if (!isRecord(body)) throw new ConfigError(path, undefined, 'must hold an object of keys at the top level');
  return body;
}

async function parseHclText(path: string, source: string): Promise<unknown> {
  try {
    return await parseHcl(path, source);
  } catch (err) {
    throw new ConfigError(path, undefined, hclProblem(path, err));
  }
}

/**
 * The parser says `parse config: [/etc/a.hcl:1,20-2,1: Invalid expression; Expected ...]`. The error already starts
 * with the file, so each position becomes "line 1, column 20" and the parser's own words are kept.
 */
function hclProblem(path: string, err: unknown): string {
  const text = String(err instanceof Error ? err.message : err)
    .replace(/^parse config: \[/, '')
    .replace(/\]$/, '');
  const position = new RegExp(`${escapeRegExp(path)}:(\\d+),(\\d+)(?:-[\\d,]+)?: `, 'g');
  return text.replace(position, (_, line: string, column: string) => `line ${line}, column ${column}: `).trim();
}

/**
 * V8 quotes the start of the document in some JSON errors (`"{"password": ...}" is not valid JSON`), which could
 * put a secret in a log. Keep its summary, drop the quote, and turn a position into a line and column.
 */
function parseJson(path: string, source: string): unknown {
  try {
    return JSON.parse(source);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const summary = message.split(/,| in JSON at| at position/)[0];
    const offset = /at position (\d+)/.exec(message)?.[1];
    const where = offset === undefined ? '' : `${lineAndColumn(source, Number(offset))}: `;
    throw new ConfigError(path, undefined, `${where}invalid JSON: ${summary}`);
  }
}

function lineAndColumn(source: string, offset: number): string {
  const before = source.slice(0, offset).split('\n');
  return `line ${before.length}, column ${before.at(-1)!.length + 1}`;
}

/**
 * hcl2json renders every string as HCL template source: `"$${x}"` stays `$${x}` and an expression becomes
 * `${...}`. Unescape the literal ones and mark the rest.
 */
function literalValues(value: unknown): unknown {
  if (typeof value === 'string') return literalString(value);
  if (Array.isArray(value)) return value.map(literalValues);
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, literalValues(item)]));
  return value;
}

function literalString(template: string): string | HclExpression {
  let literal = '';
  for (let i = 0; i < template.length; i++) {
    const pair = template.slice(i, i + 2);
    const escaped = template.slice(i, i + 3);
    if (escaped === '$${' || escaped === '%%{') {
      literal += escaped.slice(1);
      i += 2;
    } else if (pair === '${' || pair === '%{') {
      return new HclExpression(template);
    } else {
      literal += template[i];
    }
  }
  return literal;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof HclExpression);
}

function describeFsError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read: permission denied';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    default:
      return `cannot be read (${err.code ?? err.message})`;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
