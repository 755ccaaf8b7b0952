import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseListenAddress } from './index.js';
import { closest } from './suggest.js';
import { parseDurationSeconds } from './values.js';

test('durations read as Vault reads them, in whole seconds', () => {
  const cases: [unknown, number][] = [
    [0, 0],
    [45, 45],
    ['45', 45],
    ['90s', 90],
    ['1500ms', 1],
    ['30m', 1800],
    ['1h30m15s', 5415],
    ['.5h', 1800],
    ['768h', 2_764_800],
    ['2d', 172_800],
  ];
  for (const [raw, seconds] of cases) assert.equal(parseDurationSeconds(raw), seconds, String(raw));
  for (const bad of ['', 'h', '1x', '1h 30m', '-5s', -5, 1.5, true, '1d2h']) {
    assert.throws(() => parseDurationSeconds(bad), Error, String(bad));
  }
});

test('listener addresses split into host and port', () => {
  assert.deepEqual(parseListenAddress('127.0.0.1:8200'), { host: '127.0.0.1', port: 8200 });
  assert.deepEqual(parseListenAddress('[::]:8200'), { host: '::', port: 8200 });
  assert.deepEqual(parseListenAddress('coffer.internal:0'), { host: 'coffer.internal', port: 0 });
  for (const bad of ['8200', ':8200', '::1:8200', 'host:99999', 'host:port']) assert.throws(() => parseListenAddress(bad), Error, bad);
});

test('a mistyped key gets the closest known one, a foreign one gets none', () => {
  const known = ['plugin_directory', 'plugin_file_uid', 'plugin_file_permissions', 'log_level', 'listener'];
  assert.equal(closest('plugin_dir', known), 'plugin_directory');
  assert.equal(closest('log_levl', known), 'log_level');
  assert.equal(closest('listeners', known), 'listener');
  assert.equal(closest('plugin_file_perms', known), 'plugin_file_permissions');
  assert.equal(closest('cluster_addr', known), undefined);
  assert.equal(closest('frobnicate', known), undefined);
});
