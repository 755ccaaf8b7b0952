/**
 * The built plugins (scripts/build-plugins.mjs): one executable file each under dist/plugins/, holding all of its
 * code, so the SHA-256 the catalog checks covers everything that runs.
 */
import assert from 'node:assert/strict';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../test/support/paths.js';


const root = REPO_ROOT;
const plugins = readdirSync(join(root, 'plugins'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(root, 'plugins', entry.name, 'src', 'main.ts')))
  .map((entry) => entry.name)
  .sort();

/** Every module specifier the bundle text loads: static imports and exports, side-effect imports, import(), require(). */
function loadedSpecifiers(text: string): string[] {
  const patterns = [
    /^\s*(?:import|export)\s[^'";]*?\sfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)].filter((m) => !insideString(text, m.index!)).map((m) => m[1]!));
}

/**
 * Whether a match sits inside a double-quoted or template string on its line: a library's error message that tells
 * the user to `require('mysql2/promise')` or pass `{ Promise: require('bluebird') }` loads nothing.
 */
function insideString(text: string, index: number): boolean {
  const line = text.slice(text.lastIndexOf('\n', index - 1) + 1, index).replace(/\\./g, '');
  return (line.split('"').length - 1) % 2 === 1 || (line.split('`').length - 1) % 2 === 1;
}

const isBuiltin = (specifier: string) => specifier.startsWith('node:') || builtinModules.includes(specifier);

test('the reference plugins have sources', () => {
  for (const name of ['mock-plugin', 'userpass', 'template', 'approle', 'cubbyhole', 'database']) assert.ok(plugins.includes(name), name);
});

for (const name of plugins) {
  test(`dist/plugins/${name}: one executable file with a shebang, loading nothing but Node built-ins`, () => {
    const file = join(root, 'dist', 'plugins', name);
    assert.ok(existsSync(file), `${file} is missing: run node scripts/build-plugins.mjs`);
    const stats = statSync(file);
    assert.ok(stats.isFile(), `${file} is not a file`);
    assert.equal(stats.mode & 0o777, 0o755);
    accessSync(file, constants.X_OK);

    const text = readFileSync(file, 'utf8');
    assert.ok(text.startsWith('#!/usr/bin/env node\n'), 'starts with the node shebang');
    const specifiers = loadedSpecifiers(text);
    assert.ok(specifiers.includes('node:module'), 'the specifier scan sees the banner import');
    const foreign = specifiers.filter((specifier) => !isBuiltin(specifier));
    assert.deepEqual(foreign, [], 'no package or relative file is loaded at run time');
    // The SDK and the protocol are inside, from their sources.
    assert.match(text, /^\/\/ libs\/plugin-sdk\/backend\.ts$/m);
    assert.match(text, /^\/\/ libs\/plugin-protocol\/plugin-side\.ts$/m);
  });
}

test('the specifier scan finds what it must refuse', () => {
  const sample = [
    'import { a } from "pino";',
    "import './side-effect.js';",
    'export * from "../x.js";',
    'const m = await import("yaml");',
    'const r = require("pg");',
    'import { createHash } from "node:crypto";',
    'const hint = "pass { Promise: require(\'bluebird\') }"; const real = require("denque");',
  ].join('\n');
  assert.deepEqual(loadedSpecifiers(sample).filter((s) => !isBuiltin(s)).sort(), ['../x.js', './side-effect.js', 'denque', 'pg', 'pino', 'yaml']);
});

/** The part of a bundle that esbuild took from one source file (its `// path` marker up to the next one). */
function section(text: string, source: string): string {
  const start = text.indexOf(`\n// ${source}\n`);
  if (start < 0) return '';
  const next = text.slice(start + 1).search(/\n\/\/ [\w./@-]+\.[cm]?[jt]s\n/);
  return next < 0 ? text.slice(start) : text.slice(start, start + 1 + next);
}

for (const name of plugins) {
  test(`dist/plugins/${name}: carries the compiled validators of the plugin side only (handle, exists), about 43 KiB`, () => {
    const text = readFileSync(join(root, 'dist', 'plugins', name), 'utf8');
    const compiled = section(text, 'libs/plugin-protocol/validators.generated.ts');
    assert.ok(compiled.length > 0, 'the compiled validators are in the bundle');
    const exported = [...compiled.matchAll(/^var (\w+) = validate\d+;$/gm)].map((m) => m[1]).sort();
    assert.deepEqual(exported, ['exists_params', 'exists_result', 'handle_params', 'handle_result']);
    // Measured 44,416 bytes (2026-12-02; a bundle was 58 KiB before the validators were compiled, 103 KiB after for
    // the template). The bound catches a change that brings the host's validators, or all of them (~150 KiB), back.
    assert.ok(compiled.length < 64 * 1024, `${compiled.length} bytes of compiled validators`);
  });
}
