import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Keyring, KeyringBarrier, barrierCodec } from '#barrier';
import type { EventOf } from '#contracts';
import { EventStore, ProjectionKeeper, createDataSource, qualifiedTable, runMigrations, type NewEvent } from '#event-store';
import { mountTableProjection } from '#mount-table';
import { catalogProjection } from '#plugin-catalog';
import { createLogger } from '#runtime';
import { REPO_ROOT } from '../../test/support/paths.js';
import { median } from './stats.js';

export interface ReplayFigures {
  events: number;
  /** Median milliseconds to rebuild both projections from their streams (read, decrypt, fold). */
  replayMs: number;
  /** Median milliseconds of a raw `SELECT` of the same rows, nothing decoded. */
  selectMs: number;
  eventsPerSecond: number;
  /** replayMs / selectMs: what decryption and folding add to reading the rows. */
  ratioToSelect: number;
}

const SHA = 'a'.repeat(64);

/**
 * A realistic mix: half of the events are the mount table's (enables, tunes, disables, moves across 2,000 paths),
 * half the catalog's (registrations and deregistrations of 500 names across versions), so both folds do real work
 * and the state stays the size of a large installation, not of the event count.
 */
function mountEvent(i: number): EventOf<'mount-table'> {
  const table = i % 10 === 0 ? 'auth' : 'secret';
  const path = `team${i % 2000}/app/`;
  switch (i % 4) {
    case 0:
    case 1:
      return {
        type: 'MountEnabled',
        data: {
          v: 1, table, path, type: 'mock-plugin', pluginName: 'mock-plugin', uuid: randomUUID(), accessor: `mock_${randomBytes(4).toString('hex')}`,
          description: `mount ${i}`, config: { defaultLeaseTtl: 3600, maxLeaseTtl: 7200, forceNoCache: false, pluginVersion: '' }, options: { version: '2' }, local: false, sealWrap: false,
        },
      } as EventOf<'mount-table'>;
    case 2:
      return { type: 'MountTuned', data: { v: 1, table, path, description: `tuned ${i}`, config: { defaultLeaseTtl: 60 } } } as EventOf<'mount-table'>;
    default:
      return { type: 'MountDisabled', data: { v: 1, table, path, uuid: randomUUID() } } as EventOf<'mount-table'>;
  }
}

function catalogEvent(i: number): EventOf<'plugin-catalog'> {
  const name = `plugin-${i % 500}`;
  const version = `v1.${i % 7}.0`;
  if (i % 5 === 4) return { type: 'PluginDeregistered', data: { v: 1, type: 'secret', name, version } } as EventOf<'plugin-catalog'>;
  return {
    type: 'PluginRegistered',
    data: { v: 1, type: i % 3 ? 'secret' : 'auth', name, version, sha256: SHA, command: name, args: ['-tls=false'], env: ['LOG=info'] },
  } as EventOf<'plugin-catalog'>;
}

/** Appends events number `from` up to `to` (exclusive) to a stream at version `from`, a thousand per append. */
async function appendRange(store: EventStore, stream: string, from: number, to: number, make: (i: number) => NewEvent): Promise<void> {
  const BATCH = 1000;
  for (let at = from; at < to; at += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, to - at) }, (_, k) => make(at + k));
    await store.append(stream, at, batch);
  }
}

/**
 * Rebuilds the catalog and mount projections exactly as a service does after unseal (ProjectionKeeper.replay over
 * the encrypted store), against a raw SELECT of the same rows on the same connection pool.
 */
export async function measureReplay(databaseUrl: string, counts: number[], rounds: number): Promise<ReplayFigures[]> {
  const schema = `bench_replay_${randomBytes(4).toString('hex')}`;
  const log = createLogger('bench', 'warn');
  const dataSource = createDataSource({ url: databaseUrl, schema, poolSize: 2, applicationName: 'coffer-bench', logger: log });
  await dataSource.initialize();
  const figures: ReplayFigures[] = [];
  try {
    await runMigrations(dataSource);
    const barrier = new KeyringBarrier(Keyring.create());
    const store = new EventStore(dataSource, barrierCodec(() => barrier));
    const table = qualifiedTable(dataSource, 'coffer_events');
    let written = 0;
    for (const total of [...counts].sort((a, b) => a - b)) {
      // Each size extends the same two streams, so 100k replays include the first 10k.
      const perStream = total / 2;
      await appendRange(store, 'mount-table', written, perStream, mountEvent);
      await appendRange(store, 'plugin-catalog', written, perStream, catalogEvent);
      written = perStream;
      await dataSource.query(`ANALYZE ${table}`);

      const replays: number[] = [];
      const selects: number[] = [];
      for (let r = 0; r < rounds; r++) {
        // Alternate, so drift in the machine's load hits both alike.
        let t = performance.now();
        const rows: unknown[][] = await Promise.all(
          ['mount-table', 'plugin-catalog'].map((stream) => dataSource.query(`SELECT * FROM ${table} WHERE stream = $1 ORDER BY version`, [stream])),
        );
        selects.push(performance.now() - t);
        if (rows[0].length + rows[1].length !== total) throw new Error(`expected ${total} rows, read ${rows[0].length + rows[1].length}`);

        t = performance.now();
        const mounts = new ProjectionKeeper(store, mountTableProjection);
        const catalog = new ProjectionKeeper(store, catalogProjection);
        const versions = await Promise.all([mounts.replay(), catalog.replay()]);
        replays.push(performance.now() - t);
        if (versions[0] + versions[1] !== total) throw new Error(`replay reached ${versions.join('+')}, expected ${total}`);
      }
      const replayMs = median(replays);
      const selectMs = median(selects);
      figures.push({ events: total, replayMs, selectMs, eventsPerSecond: (total / replayMs) * 1000, ratioToSelect: replayMs / selectMs });
    }
  } finally {
    await dataSource.query(`DROP SCHEMA "${schema}" CASCADE`).catch(() => undefined);
    await dataSource.destroy();
  }
  return figures;
}

/** Runs measureReplay in a process of its own (bench/replay-main.ts) and returns its figures. */
export async function replayInChild(counts: number[], rounds: number): Promise<ReplayFigures[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'dist/bench/replay-main.js'), counts.join(','), String(rounds)], {
    maxBuffer: 1 << 20,
  });
  // The figures are one line; anything else a library printed to stdout (seen once under a heavy load) is not them.
  const line = stdout.split('\n').find((l) => l.startsWith('['));
  if (line === undefined) throw new Error(`replay: no figures in the child's output:\n${stdout.slice(0, 2000)}`);
  return JSON.parse(line) as ReplayFigures[];
}
