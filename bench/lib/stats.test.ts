import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTable } from './report.js';
import { median } from './stats.js';

test('median: the middle value, or the mean of the two middle ones; one outlier does not move it', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([10, 11, 9, 1000]), 10.5);
  assert.ok(Number.isNaN(median([])));
});

test('formatTable: one row per figure, met or MISSED against its target, a dash without one', () => {
  const table = formatTable([
    { id: 'a', figure: 'kv read', coffer: '100 req/s', baseline: '1,000 req/s', ratio: 0.1, target: '≥ 0.12×', met: false },
    { id: 'b', figure: 'cold start', coffer: '100 ms', baseline: '90 ms', ratio: 1.11, target: '≤ 2×', met: true },
    { id: 'c', figure: 'scale-out', coffer: '1', baseline: '2', ratio: 0.5 },
  ]);
  const lines = table.split('\n');
  assert.equal(lines.length, 5, 'header, rule, three rows');
  assert.match(lines[2], /\| kv read .*\| 0\.10× \| ≥ 0\.12× +\| MISSED \|/);
  assert.match(lines[3], /\| cold start .*\| 1\.11× \| ≤ 2× +\| met +\|/);
  assert.match(lines[4], /\| scale-out .*\| 0\.50× \| — +\| — +\|/);
  assert.equal(new Set(lines.map((l) => l.length)).size, 1, 'columns line up');
});
