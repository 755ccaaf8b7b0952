/**
 * Not part of `npm run bench`: the dev server's kv write under a busy load (50 connections, the bench's) and quiet
 * ones (1 and 4 connections), against the node:http ceiling of the same round, with the dev server's CPU per write.
 *
 *   node dist/bench/dev-write.js [rounds=3] [seconds=5] [bin=...,bin=...] [prof=DIR]
 *
 * Each `bin=` is a checkout's `bin/coffer.js` (default: this one's): with two, every round measures both, one after
 * the other, so the machine's drift hits both. `prof=DIR`: the dev servers run with `--cpu-prof` (a profile per
 * server start lands in DIR). Prints one JSON line per measurement and a summary of medians.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { BENCH_MOUNT, mountMock } from './lib/cluster.js';
import { measureLoad, type LoadFigures } from './lib/load.js';
import { startCeiling, startDevServer } from './lib/processes.js';
import { median } from './lib/stats.js';
import { REPO_ROOT } from '../test/support/paths.js';

const positional = process.argv.slice(2).filter((a) => !a.includes('='));
const named = (name: string) => process.argv.slice(2).filter((a) => a.startsWith(`${name}=`)).map((a) => a.slice(name.length + 1));
const ROUNDS = Number(positional[0] ?? 3);
const SECONDS = Number(positional[1] ?? 5);
const BINS = named('bin').length ? named('bin') : [join(REPO_ROOT, 'bin/coffer.js')];
const PROF = named('prof')[0];
const CASES = [50, 4, 1];
const ROOT = 'bench-root-token';

interface Sample extends LoadFigures {
  bin: string;
  connections: number;
  ratio: number;
  load1: number;
}

const samples: Sample[] = [];
const ceiling = await startCeiling();
try {
  for (let round = 0; round < ROUNDS; round++) {
    const base = await measureLoad({ url: ceiling.url }, { connections: 50, seconds: SECONDS, warmupSeconds: 1 });
    // Alternate which build goes first, so neither always runs on the warmer (or busier) half of the round.
    const order = round % 2 === 0 ? BINS : [...BINS].reverse();
    for (const bin of order) {
      const dev = await startDevServer(ROOT, { COFFER_PLUGIN_IDLE_MS: '600000' }, PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : [], bin);
      try {
        await mountMock(dev.url, ROOT);
        for (const connections of CASES) {
          const target = {
            url: `${dev.url}/v1/${BENCH_MOUNT}/kv/foo`,
            method: 'PUT' as const,
            headers: { 'x-vault-token': ROOT, 'content-type': 'application/json' },
            body: '{"value":"bar"}',
          };
          const f = await measureLoad(target, { connections, seconds: SECONDS, warmupSeconds: 1 }, dev.child.pid);
          const sample = { bin, connections, ...f, ratio: f.rps / base.rps, load1: loadavg()[0] };
          samples.push(sample);
          process.stdout.write(`${JSON.stringify({ round, ceilingRps: base.rps, ...sample })}\n`);
        }
      } finally {
        await dev.stop();
      }
    }
  }
} finally {
  await ceiling.stop();
}

for (const bin of BINS) {
  for (const connections of CASES) {
    const s = samples.filter((x) => x.bin === bin && x.connections === connections);
    const m = (key: keyof Sample) => median(s.map((x) => Number(x[key])));
    process.stdout.write(
      `${bin} c=${connections}: ${m('rps').toFixed(0)} req/s, ${m('ratio').toFixed(3)}x ceiling, p50 ${m('p50Ms')} ms, p99 ${m('p99Ms')} ms, ` +
        `server CPU ${m('serverCpuUs').toFixed(0)} us/write, failures ${s.reduce((a, x) => a + x.failures, 0)}, load1 ${m('load1').toFixed(1)}\n`,
    );
  }
}
