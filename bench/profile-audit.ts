/**
 * Not a benchmark: `node dist/bench/profile-audit.js DIR [seconds]` starts the dev server with `--cpu-prof`
 * (profiles land in DIR when it stops), enables a file audit device and puts the dev kv read load on it, so the
 * audit figure (`--only=audit`) can be read as where the time goes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_MOUNT, call, mountMock } from './lib/cluster.js';
import { measureLoad } from './lib/load.js';
import { startDevServer } from './lib/processes.js';

const [dir = '/tmp/coffer-profiles', seconds = '8', audit = 'on'] = process.argv.slice(2);
const ROOT = 'bench-root-token';
const logs = mkdtempSync(join(tmpdir(), 'coffer-profile-audit-'));
const dev = await startDevServer(ROOT, { COFFER_PLUGIN_IDLE_MS: '600000' }, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
try {
  await mountMock(dev.url, ROOT);
  if (audit === 'on') await call(dev.url, ROOT, 'PUT', 'sys/audit/bench', { type: 'file', options: { file_path: join(logs, 'audit.log') } });
  const figures = await measureLoad({ url: `${dev.url}/v1/${BENCH_MOUNT}/kv/foo`, headers: { 'x-vault-token': ROOT } }, { connections: 50, seconds: Number(seconds), warmupSeconds: 1 });
  process.stdout.write(`${JSON.stringify(figures)}\n`);
} finally {
  await dev.stop();
  rmSync(logs, { recursive: true, force: true });
}
