/**
 * Writes ./schemas/*.json from schemas.ts (the source of truth), or with --check says whether they differ.
 *
 *   node dist/libs/plugin-protocol/write-schemas.js [--check]
 *
 * Run from dist, it finds the source folder by walking from dist/libs/plugin-protocol back to the repository root.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderSchemaFiles } from './schemas.js';

/** The source folder of the schema files, whether this runs compiled (dist/libs/...) or not. */
export function schemaSourceDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const fromDist = resolve(here, '../../../libs/plugin-protocol/schemas');
  return here.split(/[\\/]/).includes('dist') ? fromDist : join(here, 'schemas');
}

/** The names of files that are missing, differ, or should not be there. */
export function staleSchemaFiles(dir = schemaSourceDir()): string[] {
  const wanted = renderSchemaFiles();
  const stale: string[] = [];
  for (const [file, text] of Object.entries(wanted)) {
    const path = join(dir, file);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== text) stale.push(file);
  }
  if (existsSync(dir)) for (const file of readdirSync(dir)) if (file.endsWith('.json') && !(file in wanted)) stale.push(file);
  return stale.sort();
}

export function writeSchemaFiles(dir = schemaSourceDir()): void {
  mkdirSync(dir, { recursive: true });
  const wanted = renderSchemaFiles();
  for (const file of readdirSync(dir)) if (file.endsWith('.json') && !(file in wanted)) unlinkSync(join(dir, file));
  for (const [file, text] of Object.entries(wanted)) writeFileSync(join(dir, file), text);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const stale = staleSchemaFiles();
    if (stale.length) {
      console.error(`schemas out of date: ${stale.join(', ')}; run node dist/libs/plugin-protocol/write-schemas.js`);
      process.exit(1);
    }
  } else {
    writeSchemaFiles();
    console.log(`wrote ${Object.keys(renderSchemaFiles()).length} schema files to ${schemaSourceDir()}`);
  }
}
