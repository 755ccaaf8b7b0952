/**
 * Micro-benchmark, not a test: `node dist/bench/audit-entries.js`. Audit's own work for one dev kv read, in one
 * process, with no HTTP and no other sessions' load in the figure: the request and response entries built and
 * written to a real file sink (`openSink`: one fstat and one write per event-loop turn), 50 requests a turn as under
 * the bench's 50 connections. The generic path (entry objects and `JSON.stringify`, what every device used before
 * `entry-json.ts`, still what `log_raw` and jsonx devices use) against the direct one, alternated in rounds; the
 * figure is this process's CPU time (user + system) per request, medians of the rounds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSink } from '../apps/gateway/src/audit/devices.js';
import { entryBody, requestEntryJson, responseEntryJson } from '../apps/gateway/src/audit/entry-json.js';
import { requestEntry, responseEntry, type AuditMount, type AuditRequestInput, type EntryOptions } from '../apps/gateway/src/audit/entry.js';
import { median } from './lib/stats.js';

const SALT = 'c0ffee00-0000-4000-8000-000000000000';
const OPTIONS: EntryOptions = { logRaw: false, hmacAccessor: true, elideListResponses: false };
const MOUNT: AuditMount = { point: 'bench/', type: 'mock', accessor: 'mock_1234abcd', nonHmacRequestKeys: [], nonHmacResponseKeys: [] };
const TURNS = 1000;
const PER_TURN = 50;
const ROUNDS = 11;

let n = 0;
/** A kv read as the broker describes it: a fresh id and a fresh auth object each time, the mount's object shared. */
function kvRead(): AuditRequestInput {
  return {
    id: `3f2a9e3c-1111-4222-8333-${String(n++).padStart(12, '0')}`,
    operation: 'read',
    path: 'bench/kv/foo',
    data: {},
    clientToken: 'bench-root-token',
    remoteAddress: '127.0.0.1',
    remotePort: 51234,
    auth: { clientToken: 'bench-root-token', accessor: 'acc-1234567890', displayName: 'root', policies: ['root'], metadata: null, entityId: '', tokenType: 'service', tokenTtl: 0, tokenIssueTime: '2026-12-01T00:00:00.000Z' },
    mount: MOUNT,
  };
}
const RESPONSE = { data: { value: 'bar' } };

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-audit-entries-'));
  const path = join(dir, 'audit.log');
  const sink = openSink({ path: 'bench/', type: 'file', description: '', local: false, salt: SALT, options: { file_path: path } }, {});
  const ways = {
    generic: async () => {
      const r = kvRead();
      const request = requestEntry(SALT, OPTIONS, r, new Date());
      await sink.write(`${JSON.stringify(request)}\n`);
      await sink.write(`${JSON.stringify(responseEntry(SALT, OPTIONS, r, RESPONSE, new Date(), request as { auth?: unknown; request: unknown }))}\n`);
    },
    direct: async () => {
      const r = kvRead();
      const body = entryBody(SALT, OPTIONS, r);
      await sink.write(`${requestEntryJson(body, r, new Date())}\n`);
      await sink.write(`${responseEntryJson(SALT, OPTIONS, body, r, RESPONSE, new Date())}\n`);
    },
  };
  const us: Record<keyof typeof ways, number[]> = { generic: [], direct: [] };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const way of round % 2 ? (['direct', 'generic'] as const) : (['generic', 'direct'] as const)) {
        const before = process.cpuUsage();
        for (let t = 0; t < TURNS; t++) await Promise.all(Array.from({ length: PER_TURN }, ways[way]));
        const cpu = process.cpuUsage(before);
        // The first round warms the JIT up and is left out.
        if (round > 0) us[way].push((cpu.user + cpu.system) / (TURNS * PER_TURN));
        rmSync(path, { force: true });
      }
    }
  } finally {
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const ratio = median(us.direct.map((d, i) => d / us.generic[i]));
  process.stdout.write(`audit entries + file sink, CPU per kv read: generic ${median(us.generic).toFixed(1)} µs, direct ${median(us.direct).toFixed(1)} µs (${ratio.toFixed(2)}×, medians of ${ROUNDS - 1} rounds)\n`);
}

await main();
