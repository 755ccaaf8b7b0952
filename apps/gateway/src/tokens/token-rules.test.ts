import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CofferError } from '#contracts';
import { issuancePolicies, planChildToken, planLoginToken, sanitizePolicies } from './token-rules.js';
import type { TokenEntry } from './token-store.js';

const limits = { defaultLeaseTtl: 3600, maxLeaseTtl: 7200 };
const NOW = Date.parse('2026-01-01T00:00:00Z');

function refused(message: string) {
  return (err: unknown) => {
    assert.ok(err instanceof CofferError, String(err));
    assert.equal(err.code, 'invalid-request');
    assert.equal(err.message, message);
    return true;
  };
}

function parent(policies: string[], over: Partial<TokenEntry> = {}): TokenEntry {
  return {
    accessor: 'parent-accessor',
    policies,
    path: 'auth/token/create',
    meta: null,
    displayName: 'token',
    numUses: 0,
    creationTime: NOW / 1000,
    creationTtl: 0,
    explicitMaxTtl: 0,
    period: 0,
    ttl: 0,
    renewable: false,
    expireTime: null,
    issueTime: new Date(NOW).toISOString(),
    lastRenewalTime: null,
    orphan: true,
    type: 'service',
    entityId: '',
    ...over,
  };
}

describe('the issuance rule (issuancePolicies)', () => {
  test('a login gets its policies sanitized, plus default', () => {
    assert.deepEqual(issuancePolicies([' Web ', 'db', 'web'], { kind: 'login' }), ['db', 'default', 'web']);
  });

  test('a login never gets root, however it is spelled', () => {
    for (const policies of [['root'], ['ROOT'], [' root', 'web']]) {
      assert.throws(() => issuancePolicies(policies, { kind: 'login' }), refused('auth methods cannot create root tokens'));
    }
  });

  test("no login and no child gets Vault's reserved policies", () => {
    for (const policy of ['response-wrapping', 'control-group', 'Response-Wrapping']) {
      const name = policy.toLowerCase();
      assert.throws(() => issuancePolicies([policy], { kind: 'login' }), refused(`cannot assign policy "${name}"`));
      assert.throws(
        () => issuancePolicies([policy], { kind: 'child', parentPolicies: ['root'], sudo: true, noDefaultPolicy: false }),
        refused(`cannot assign policy "${name}"`),
      );
    }
  });

  test('a child of a non-root parent with sudo still cannot be root', () => {
    assert.throws(
      () => issuancePolicies(['root'], { kind: 'child', parentPolicies: ['admin'], sudo: true, noDefaultPolicy: false }),
      refused('root tokens may not be created without parent token being root'),
    );
  });

  test('a child without sudo gets a subset of its parent, or the refusal', () => {
    const issuer = { kind: 'child', parentPolicies: ['default', 'web'], sudo: false, noDefaultPolicy: false } as const;
    assert.deepEqual(issuancePolicies(['web'], issuer), ['default', 'web']);
    assert.throws(() => issuancePolicies(['db'], issuer), refused('child policies must be subset of parent'));
  });

  test('response wrapping gets exactly the response-wrapping policy', () => {
    assert.deepEqual(issuancePolicies(['root', 'web'], { kind: 'wrapping' }), ['response-wrapping']);
  });

  test('sanitizePolicies: root swallows the rest', () => {
    assert.deepEqual(sanitizePolicies(['web', 'root'], true), ['root']);
  });
});

describe('token plans', () => {
  test("a login's TTL is the method's, capped by the mount's and the server's max", () => {
    const entry = planLoginToken({ policies: ['web'], displayName: 'userpass-a', path: 'auth/userpass/login/a', ttl: 9000, mountMaxTtl: 5000 }, NOW, limits);
    assert.equal(entry.ttl, 5000);
    assert.equal(entry.orphan, true);
    assert.deepEqual(entry.policies, ['default', 'web']);
    assert.equal(entry.expireTime, new Date(NOW + 5000 * 1000).toISOString());
  });

  test('a login plan applies the issuance rule', () => {
    assert.throws(() => planLoginToken({ policies: ['root'], displayName: 'x', path: 'auth/x/login' }, NOW, limits), refused('auth methods cannot create root tokens'));
  });

  test("a child never outlives its parent", () => {
    const expiry = NOW + 60_000;
    const planned = planChildToken({ policies: ['web'] }, parent(['web'], { expireTime: new Date(expiry).toISOString() }), expiry, NOW, limits);
    assert.equal(planned.entry.ttl, 60);
    assert.equal(planned.entry.orphan, false);
  });

  test('a custom id needs sudo', () => {
    assert.throws(() => planChildToken({ id: 'mine' }, parent(['web']), null, NOW, limits), refused('root or sudo privileges required to specify token id'));
    assert.equal(planChildToken({ id: 'mine' }, parent(['root']), null, NOW, limits).token, 'mine');
  });
});
