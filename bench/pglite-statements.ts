/**
 * Not part of `npm run bench`: what one plugin-storage upsert costs in the dev server's embedded store (PGlite
 * behind its loopback socket, through node-postgres as the services reach it), as CPU of this process per
 * statement: unnamed or named (prepared once), autocommitted or 32 to a transaction (group commit).
 *
 *   node dist/bench/pglite-statements.js [statements=1000]
 */
import pg from 'pg';
import { startEmbeddedStore } from '../apps/cli/src/dev/embedded-store.js';

const N = Number(process.argv[2] ?? 1000);
const store = await startEmbeddedStore();
const client = new pg.Client({ connectionString: store.url });
await client.connect();
await client.query(`CREATE TABLE t (mount_uuid uuid, key text, value bytea, updated_at timestamptz DEFAULT now(), PRIMARY KEY (mount_uuid, key))`);
const mount = '00000000-0000-0000-0000-000000000001';
// The shape of PluginStorage.put's statement.
const text = `WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended($1::text || chr(1) || $2::text, 7)))
 INSERT INTO t (mount_uuid, key, value) SELECT $1::uuid, $2::text, $3::bytea FROM locked
 ON CONFLICT (mount_uuid, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`;
const value = Buffer.alloc(60, 7);
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const put = (named: boolean) => client.query(named ? { name: 'put', text, values: [mount, 'foo', value] } : { text, values: [mount, 'foo', value] });

async function measure(name: string, run: (n: number) => Promise<void>): Promise<void> {
  await run(200);
  const before = cpuMs();
  await run(N);
  process.stdout.write(`${name}: ${(((cpuMs() - before) * 1000) / N).toFixed(0)} µs CPU per statement\n`);
}

const cases: [string, (n: number) => Promise<void>][] = [
  ['autocommit, unnamed', async (n) => { for (let i = 0; i < n; i++) await put(false); }],
  ['autocommit, named', async (n) => { for (let i = 0; i < n; i++) await put(true); }],
  ['32 per transaction, unnamed', async (n) => { for (let i = 0; i < n; i += 32) { await client.query('BEGIN'); for (let j = 0; j < 32; j++) await put(false); await client.query('COMMIT'); } }],
  ['32 per transaction, named', async (n) => { for (let i = 0; i < n; i += 32) { await client.query('BEGIN'); for (let j = 0; j < 32; j++) await put(true); await client.query('COMMIT'); } }],
  ['SELECT 1 (a round trip)', async (n) => { for (let i = 0; i < n; i++) await client.query('SELECT 1'); }],
];
// Twice: the first pass warms the JIT of both sides; the second is the one to read.
for (const pass of [1, 2]) for (const [name, run] of cases) await measure(`pass ${pass}, ${name}`, run);
await client.end();
await store.close();
