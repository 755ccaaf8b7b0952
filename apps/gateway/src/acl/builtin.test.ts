import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CofferError } from '#contracts';
import {
  assertPolicyDeletable,
  assertPolicyWritable,
  DEFAULT_POLICY_NAME,
  normalizePolicyName,
  ROOT_POLICY,
  ROOT_POLICY_NAME,
} from './builtin.js';

function rejects(message: string) {
  return (err: unknown) => {
    assert.ok(err instanceof CofferError, `expected a CofferError, got ${err}`);
    assert.equal(err.code, 'invalid-request');
    assert.equal(err.message, message);
    return true;
  };
}

test('the built-in names', () => {
  assert.equal(ROOT_POLICY_NAME, 'root');
  assert.equal(DEFAULT_POLICY_NAME, 'default');
  assert.equal(ROOT_POLICY.name, 'root');
  assert.deepEqual(ROOT_POLICY.paths, []);
});

test('names are trimmed and lower-cased; an empty one is refused', () => {
  assert.equal(normalizePolicyName('  Dev-ReadOnly '), 'dev-readonly');
  assert.throws(() => normalizePolicyName('   '), rejects('policy name must be provided in the URL'));
});

test('root (in any case) and the internal policies cannot be written', () => {
  assert.throws(() => assertPolicyWritable('root'), rejects('cannot update "root" policy'));
  assert.throws(() => assertPolicyWritable(' ROOT'), rejects('cannot update "root" policy'));
  assert.throws(() => assertPolicyWritable('response-wrapping'), rejects('cannot update "response-wrapping" policy'));
  assert.equal(assertPolicyWritable('Default'), 'default');
  assert.equal(assertPolicyWritable('my-policy'), 'my-policy');
});

test('root and default cannot be deleted, each with Vault\'s wording', () => {
  assert.throws(() => assertPolicyDeletable('root'), rejects('cannot delete "root" policy'));
  assert.throws(() => assertPolicyDeletable('Default'), rejects('cannot delete default policy'));
  assert.equal(assertPolicyDeletable('Ops'), 'ops');
});
