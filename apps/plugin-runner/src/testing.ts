/** Helpers for the runner's tests; not part of its surface. */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DataSource } from 'typeorm';
import { Keyring, KeyringBarrier, type Barrier } from '#barrier';
import { CofferError } from '#contracts';
import { qualifiedTable } from '#event-store';
import type { Mount } from '#mount-table';
import type { CatalogEntry } from '#plugin-catalog';
import { REPO_ROOT } from '../../../test/support/paths.js';
import { launchPlugin, type PluginLog, type PluginProcess, type StorageHandler } from '#plugin-protocol';
import { openTestStore, uniqueName } from '../../../libs/event-store/testing.js';
import type { RunnerDirectory } from './directory.js';
import { PluginStorage, STORAGE_TABLE, type PluginStorageOptions } from './plugin-storage.js';

export const HOUR = 3600;

/** The repository root (one finder for every test: test/support/paths.ts). */
export function repoRoot(): string {
  return REPO_ROOT;
}

export interface TestDb {
  dataSource: DataSource;
  /** `"schema"."coffer_plugin_storage"`, for tests that look at the raw rows. */
  table: string;
  /** What the storage's `barrier()` returns; `undefined` seals it. */
  barrier: Barrier | undefined;
  storage(options?: Partial<PluginStorageOptions>): PluginStorage;
  drop(): Promise<void>;
}

/** A migrated schema of its own (others test against the same database at once), with a real keyring barrier. */
export async function openTestDb(mountTtls: PluginStorageOptions['mountTtls'] = () => ({ defaultLeaseTtl: 0, maxLeaseTtl: 0 })): Promise<TestDb> {
  const { dataSource, drop } = await openTestStore({ poolSize: 8, applicationName: uniqueName('coffer_runner_test') });
  const db: TestDb = {
    dataSource,
    table: qualifiedTable(dataSource, STORAGE_TABLE),
    barrier: new KeyringBarrier(Keyring.create()),
    storage: (options = {}) =>
      new PluginStorage(dataSource, {
        barrier: () => db.barrier,
        mountTtls,
        system: { defaultLeaseTtl: 768 * HOUR, maxLeaseTtl: 768 * HOUR },
        ...options,
      }),
    drop,
  };
  return db;
}

export interface LogRecord {
  level: 'info' | 'warn';
  fields: Record<string, unknown>;
  message: string;
}

export function recordingLog(): PluginLog & { lines: LogRecord[] } {
  const lines: LogRecord[] = [];
  return {
    lines,
    info: (fields, message) => void lines.push({ level: 'info', fields: fields as Record<string, unknown>, message }),
    warn: (fields, message) => void lines.push({ level: 'warn', fields: fields as Record<string, unknown>, message }),
  };
}

/** A plugin directory (0700) holding the built mock-plugin and whatever scripts a test adds, plus a private cache. */
export class PluginDir {
  readonly root = mkdtempSync(join(tmpdir(), 'coffer-runner-test-'));
  readonly dir = join(this.root, 'plugins');
  readonly cacheDir = join(this.root, 'cache');

  constructor() {
    // The host side refuses a plugin directory that group or others may write.
    chmodSync(this.root, 0o700);
    mkdirSync(this.dir, { mode: 0o700 });
  }

  /** Copies the built mock-plugin bundle in; fails with a hint when `npm run build` has not produced it. */
  addMock(file = 'mock-plugin'): string {
    const built = join(repoRoot(), 'dist', 'plugins', 'mock-plugin');
    assert.ok(existsSync(built), `${built} is missing: run npm run build (or node scripts/build-plugins.mjs)`);
    copyFileSync(built, join(this.dir, file));
    chmodSync(join(this.dir, file), 0o755);
    return sha256Of(join(this.dir, file));
  }

  add(file: string, text: string): string {
    writeFileSync(join(this.dir, file), text, { mode: 0o755 });
    chmodSync(join(this.dir, file), 0o755);
    return sha256Of(join(this.dir, file));
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  /** The pool's launch function over this directory, counting launches per plugin. */
  launcher(storage: StorageHandler, log: PluginLog): { launch: (entry: CatalogEntry) => Promise<PluginProcess>; launches: Map<string, number> } {
    const launches = new Map<string, number>();
    return {
      launches,
      launch: (entry) => {
        launches.set(entry.name, (launches.get(entry.name) ?? 0) + 1);
        return launchPlugin({
          name: entry.name,
          pluginDirectory: this.dir,
          command: entry.command,
          args: entry.args,
          env: entry.env,
          sha256: entry.sha256,
          cacheDir: this.cacheDir,
          shutdownGraceMs: 1_000,
          log,
          storage,
        });
      },
    };
  }
}

export function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function catalogEntry(name: string, sha256: string, more: Partial<CatalogEntry> = {}): CatalogEntry {
  return { type: 'secret', name, version: '', sha256, command: name, args: [], env: [], ...more };
}

export function mountOf(pluginName: string, more: Partial<Mount> = {}): Mount {
  const uuid = randomUUID();
  const path = more.path ?? `${pluginName}-${randomBytes(3).toString('hex')}/`;
  return {
    table: 'secret',
    path,
    type: pluginName,
    pluginName,
    uuid,
    accessor: `${pluginName}_${uuid.slice(0, 8)}`,
    description: '',
    config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, forceNoCache: false, pluginVersion: '' },
    options: null,
    local: false,
    sealWrap: false,
    ...more,
  };
}

/**
 * The two projection lookups as plain maps. `pending` holds what a catch-up would fold in: a test can make the
 * runner's projection lag behind the gateway's.
 */
export class FakeDirectory implements RunnerDirectory {
  readonly mounts = new Map<string, Mount>();
  readonly entries = new Map<string, CatalogEntry>();
  readonly pendingMounts: Mount[] = [];
  readonly pendingEntries: CatalogEntry[] = [];
  catchUps = 0;

  addMount(mount: Mount): Mount {
    this.mounts.set(mount.uuid, mount);
    return mount;
  }

  addEntry(entry: CatalogEntry): CatalogEntry {
    this.entries.set(entry.name, entry);
    return entry;
  }

  mount(uuid: string): Mount | undefined {
    return this.mounts.get(uuid);
  }

  plugin(mount: Mount): CatalogEntry | undefined {
    return this.entries.get(mount.pluginName);
  }

  async catchUp(): Promise<void> {
    this.catchUps++;
    for (const m of this.pendingMounts.splice(0)) this.addMount(m);
    for (const e of this.pendingEntries.splice(0)) this.addEntry(e);
  }
}

/**
 * A plugin script on the compiled plugin side: `pid` says which process answered, `sleep` takes `ms`, `hang` never
 * answers, `put`/`get` use storage. CommonJS on purpose: it runs from the cache as an extensionless file.
 */
export function scriptPlugin(name: string, options: { multiplex?: boolean; hangSetup?: boolean } = {}): string {
  const pluginSide = pathToFileURL(join(repoRoot(), 'dist', 'libs', 'plugin-protocol', 'plugin-side.js')).href;
  const hello = { type: 'secret', name, version: 'v1.0.0', multiplex: options.multiplex ?? true };
  return `#!/usr/bin/env node
(async () => {
  const { serve, PluginError } = await import(${JSON.stringify(pluginSide)});
  const setups = [];
  serve({
    hello: ${JSON.stringify(hello)},
    async setup(mount) {
      setups.push(mount.id);
      ${options.hangSetup ? 'await new Promise(() => {});' : ''}
    },
    async handle(mount, req, host) {
      switch (req.path) {
        case 'pid': return { data: { pid: process.pid, mount, setups } };
        case 'sleep': await new Promise((r) => setTimeout(r, req.data.ms)); return { data: { pid: process.pid, slept: req.data.ms } };
        case 'hang': return new Promise(() => {});
        case 'put':
          await host.call('storage.put', { mount, key: req.data.key, value: Buffer.from(req.data.value).toString('base64') });
          return null;
        case 'get': {
          const r = await host.call('storage.get', { mount, key: req.data.key });
          return { data: { value: r.value === null ? null : Buffer.from(r.value, 'base64').toString() } };
        }
      }
      throw new PluginError('unsupported-path', 'unsupported path');
    },
    async exists() { return { checkFound: false, exists: false }; },
    specialPaths() { return ['login']; },
  });
})();
`;
}

/** A CofferError matcher for assert.rejects. */
export function isCode(code: string, message?: string | RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof CofferError, `expected a CofferError, got ${String(err)}`);
    assert.equal(err.code, code, `code of "${err.message}"`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    return true;
  };
}

/** Whether a pid is still a live process. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor(check: () => boolean, timeoutMs = 3_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
