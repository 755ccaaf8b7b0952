import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CofferError } from '#contracts';
import { humanDuration } from '#duration';
import { calculateTtl, parseDurationSeconds } from './ttl.js';

describe('Vault durations', () => {
  test('parse as parseutil.ParseDurationSecond does', () => {
    const cases: [unknown, number | undefined][] = [
      [undefined, undefined],
      [null, undefined],
      ['', undefined],
      [90, 90],
      [90.7, 90],
      ['90', 90],
      ['90s', 90],
      ['30m', 1800],
      ['1h', 3600],
      ['1h30m', 5400],
      ['1.5h', 5400],
      ['.5m', 30],
      ['1500ms', 1],
      ['2d', 172800],
      ['0', 0],
      ['-1h', -3600],
    ];
    for (const [input, seconds] of cases) assert.equal(parseDurationSeconds(input), seconds, `${String(input)}`);
  });

  test('refuse with Go\'s messages', () => {
    const cases: [unknown, string][] = [
      ['abc', 'time: invalid duration "abc"'],
      ['1x', 'time: unknown unit "x" in duration "1x"'],
      ['1h2', 'time: missing unit in duration "1h2"'],
      ['1.5d', 'strconv.ParseInt: parsing "1.5": invalid syntax'],
      [{}, 'could not parse duration from input'],
    ];
    for (const [input, message] of cases) {
      assert.throws(
        () => parseDurationSeconds(input),
        (err: unknown) => err instanceof CofferError && err.code === 'invalid-request' && err.message === message,
        String(input),
      );
    }
  });

  test('print as Vault\'s humanDuration', () => {
    assert.equal(humanDuration(0), '0s');
    assert.equal(humanDuration(3600), '1h');
    assert.equal(humanDuration(600), '10m');
    assert.equal(humanDuration(90), '1m30s');
    assert.equal(humanDuration(5400), '1h30m');
    assert.equal(humanDuration(7205), '2h5s');
    assert.equal(humanDuration(768 * 3600), '768h');
  });
});

describe('calculateTtl (framework.CalculateTTL)', () => {
  const base = { increment: 0, backendTtl: 0, period: 0, explicitMaxTtl: 0, start: 1000, now: 1000, defaultLeaseTtl: 3600, maxLeaseTtl: 7200 };

  test('increment, else the token\'s TTL, else the default', () => {
    assert.equal(calculateTtl(base).ttl, 3600);
    assert.equal(calculateTtl({ ...base, backendTtl: 60 }).ttl, 60);
    assert.equal(calculateTtl({ ...base, backendTtl: 60, increment: 120 }).ttl, 120);
  });

  test('never past issue + max TTL, with Vault\'s warning', () => {
    assert.deepEqual(calculateTtl({ ...base, backendTtl: 10_000 }), {
      ttl: 7200,
      warnings: ['TTL of "2h46m40s" exceeded the effective max_ttl of "2h"; TTL value is capped accordingly'],
    });
    assert.equal(calculateTtl({ ...base, now: 1000 + 7000, increment: 3600 }).ttl, 200);
    assert.equal(calculateTtl({ ...base, explicitMaxTtl: 600, increment: 3600 }).ttl, 600);
    assert.throws(() => calculateTtl({ ...base, now: 1000 + 7200 }), /past the max TTL, cannot renew/);
  });

  test('a period wins over everything but the explicit max TTL', () => {
    assert.equal(calculateTtl({ ...base, period: 300, increment: 3600 }).ttl, 300);
    assert.equal(calculateTtl({ ...base, period: 300, now: 1000 + 100_000 }).ttl, 300, 'no max lease TTL for periodic tokens');
    assert.deepEqual(calculateTtl({ ...base, period: 10_000 }), {
      ttl: 7200,
      warnings: ['period of "2h46m40s" exceeded the effective max_ttl of "2h"; period value is capped accordingly'],
    });
    assert.equal(calculateTtl({ ...base, period: 300, explicitMaxTtl: 400, now: 1000 + 350 }).ttl, 50);
  });
});
