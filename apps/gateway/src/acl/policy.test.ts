import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CofferError } from '#contracts';
import { parsePolicy } from './policy.js';

function rejects(message: string | RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof CofferError, `expected a CofferError, got ${err}`);
    assert.equal(err.code, 'invalid-request');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  };
}

test('HCL: path blocks become rules, names are normalized, the text is kept', async () => {
  const text = `
# comment
path "secret/*" {
  capabilities = ["read", "list"]
}
path "/sys/mounts" { capabilities = ["sudo", "read", "read"] }
`;
  const policy = await parsePolicy('  Ops ', text);
  assert.equal(policy.name, 'ops');
  assert.equal(policy.raw, text);
  assert.equal(policy.templated, false);
  assert.deepEqual(
    [...policy.paths].sort((a, b) => a.path.localeCompare(b.path)),
    [
      { path: 'secret/*', capabilities: ['read', 'list'], templated: false },
      // One leading slash is dropped, as Vault does; duplicates collapse.
      { path: 'sys/mounts', capabilities: ['sudo', 'read'], templated: false },
    ],
  );
});

test('JSON policies (object, list-of-bodies and list-of-objects forms) parse like the HCL one', async () => {
  const hcl = await parsePolicy('p', 'path "secret/*" { capabilities = ["read"] }');
  for (const json of [
    '{"path": {"secret/*": {"capabilities": ["read"]}}}',
    '{"path": {"secret/*": [{"capabilities": ["read"]}]}}',
    '  {"path": [{"secret/*": {"capabilities": ["read"]}}]}',
  ]) {
    assert.deepEqual((await parsePolicy('p', json)).paths, hcl.paths, json);
  }
});

test('an empty document is a policy with no rules', async () => {
  assert.deepEqual((await parsePolicy('p', '')).paths, []);
  assert.deepEqual((await parsePolicy('p', '# nothing\n')).paths, []);
});

test('HCL syntax errors are invalid-request with the position, HCL1-style', async () => {
  await assert.rejects(
    parsePolicy('p', 'path "secret/*" {'),
    rejects(/^failed to parse policy: At 1:17: Unclosed configuration block; /),
  );
  await assert.rejects(
    parsePolicy('p', 'path "a" {\n  capabilities = ["read"\n}'),
    rejects(/^failed to parse policy: At 3:1: Missing item separator; /),
  );
});

test('bad JSON is invalid-request', async () => {
  await assert.rejects(parsePolicy('p', '{"path": '), rejects(/^failed to parse policy: .*JSON/));
  await assert.rejects(parsePolicy('p', '{"path": {"a": "read"}}'), rejects('failed to parse policy: path "a": expected a block'));
});

test('an unknown capability is refused with Vault\'s text', async () => {
  await assert.rejects(
    parsePolicy('p', 'path "secret/*" { capabilities = ["read", "reed"] }'),
    rejects('failed to parse policy: path "secret/*": invalid capability "reed"'),
  );
  // A bare word is an HCL2 expression, which hcl2json renders as ${...}: never a capability.
  await assert.rejects(
    parsePolicy('p', 'path "secret/*" { capabilities = [read] }'),
    rejects('failed to parse policy: path "secret/*": invalid capability "${read}"'),
  );
});

test('unknown keys, in a path block or at the top, are refused in go-multierror form with their lines', async () => {
  await assert.rejects(
    parsePolicy('p', 'path "secret/*" {\n  capabilities = ["read"]\n  capabilites = ["list"]\n}'),
    rejects('failed to parse policy: 1 error occurred:\n\t* path "secret/*": invalid key "capabilites" on line 3\n\n'),
  );
  await assert.rejects(
    parsePolicy('p', 'path "a" {\n  zeta = 1\n  alpha = 2\n}'),
    rejects(
      'failed to parse policy: 2 errors occurred:\n' +
        '\t* path "a": invalid key "zeta" on line 2\n' +
        '\t* path "a": invalid key "alpha" on line 3\n\n',
    ),
  );
  await assert.rejects(
    parsePolicy('p', 'rules = 1\npath "a" { capabilities = ["read"] }'),
    rejects('failed to parse policy: 1 error occurred:\n\t* invalid key "rules" on line 1\n\n'),
  );
  await assert.rejects(
    parsePolicy('p', '{"path": {"a": {"capabilities": ["read"], "nope": 1}}}'),
    rejects('failed to parse policy: 1 error occurred:\n\t* path "a": invalid key "nope" on line 1\n\n'),
  );
});

test('the keys Vault accepts but Coffer does not enforce (comment, mfa_methods, control_group) parse', async () => {
  const policy = await parsePolicy(
    'p',
    `name = "ignored"
path "a" {
  comment = "x"
  capabilities = ["read"]
  mfa_methods = ["m"]
  control_group {
    ttl = "4h"
  }
}`,
  );
  assert.deepEqual(policy.paths, [{ path: 'a', capabilities: ['read'], templated: false }]);
});

test('the deprecated policy shorthand expands as Vault expands it', async () => {
  const expand = async (value: string) => (await parsePolicy('p', `path "a" { policy = "${value}" }`)).paths[0]!.capabilities;
  assert.deepEqual(await expand('read'), ['read', 'list']);
  assert.deepEqual(await expand('write'), ['create', 'read', 'update', 'delete', 'list']);
  assert.deepEqual(await expand('sudo'), ['create', 'read', 'update', 'delete', 'list', 'sudo']);
  assert.deepEqual(await expand('deny'), ['deny']);
  // Shorthand and capabilities add up (the docs' own example).
  const both = await parsePolicy('p', 'path "a" {\n  policy = "read"\n  capabilities = ["create", "sudo"]\n}');
  assert.deepEqual(both.paths[0]!.capabilities, ['read', 'list', 'create', 'sudo']);
  await assert.rejects(
    parsePolicy('p', 'path "a" { policy = "admin" }'),
    rejects('failed to parse policy: path "a": invalid policy "admin"'),
  );
});

test('deny swallows every other capability and stops validation there, as in Vault', async () => {
  const policy = await parsePolicy('p', 'path "a" {\n  capabilities = ["read", "deny", "bogus"]\n  allowed_parameters = { "x" = [] }\n}');
  assert.deepEqual(policy.paths, [{ path: 'a', capabilities: ['deny'], templated: false }]);
  const legacy = await parsePolicy('p', 'path "a" {\n  policy = "deny"\n  capabilities = ["bogus"]\n}');
  assert.deepEqual(legacy.paths[0]!.capabilities, ['deny']);
});

test('subscribe and recover are capabilities; a lone string counts as a list of one', async () => {
  const policy = await parsePolicy(
    'p',
    'path "a" {\n  capabilities = ["subscribe", "recover"]\n  subscribe_event_types = ["kv*"]\n}',
  );
  assert.deepEqual(policy.paths[0], {
    path: 'a',
    capabilities: ['subscribe', 'recover'],
    templated: false,
    subscribeEventTypes: ['kv*'],
  });
  assert.deepEqual((await parsePolicy('p', 'path "a" { capabilities = "read" }')).paths[0]!.capabilities, ['read']);
});

test('+* is forbidden', async () => {
  await assert.rejects(
    parsePolicy('p', 'path "foo/+*" { capabilities = ["read"] }'),
    rejects("failed to parse policy: path \"foo/+*\": invalid use of wildcards ('+*' is forbidden)"),
  );
});

test('templated paths are flagged; unbalanced braces are refused', async () => {
  const policy = await parsePolicy('p', 'path "secret/{{identity.entity.id}}/*" { capabilities = ["read"] }');
  assert.equal(policy.templated, true);
  assert.equal(policy.paths[0]!.templated, true);
  await assert.rejects(
    parsePolicy('p', 'path "secret/{{identity.entity.id}/*" { capabilities = ["read"] }'),
    rejects('failed to parse policy: failed to validate policy templating: unbalanced templating characters'),
  );
  await assert.rejects(
    parsePolicy('p', 'path "secret/}}x" { capabilities = ["read"] }'),
    rejects('failed to parse policy: failed to validate policy templating: unbalanced templating characters'),
  );
});

test('parameters and wrapping TTLs are read (names lower-cased, durations in seconds)', async () => {
  const policy = await parsePolicy(
    'p',
    `path "a" {
  capabilities = ["create"]
  allowed_parameters = {
    "Foo" = []
    "bar" = ["zip", "zap"]
  }
  denied_parameters = { "baz" = [] }
  required_parameters = ["bar"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "1m30s"
}`,
  );
  assert.deepEqual(policy.paths[0], {
    path: 'a',
    capabilities: ['create'],
    templated: false,
    allowedParameters: { foo: [], bar: ['zip', 'zap'] },
    deniedParameters: { baz: [] },
    requiredParameters: ['bar'],
    minWrappingTtl: 1,
    maxWrappingTtl: 90,
  });
  const numbers = await parsePolicy('p', 'path "a" {\n  min_wrapping_ttl = 5\n  max_wrapping_ttl = "2d"\n}');
  assert.equal(numbers.paths[0]!.minWrappingTtl, 5);
  assert.equal(numbers.paths[0]!.maxWrappingTtl, 172800);
});

test('bad parameters and TTLs are refused with Vault\'s texts', async () => {
  await assert.rejects(
    parsePolicy('p', 'path "a" {\n  min_wrapping_ttl = "10s"\n  max_wrapping_ttl = "5s"\n}'),
    rejects('failed to parse policy: max_wrapping_ttl cannot be less than min_wrapping_ttl'),
  );
  await assert.rejects(
    parsePolicy('p', 'path "a" { min_wrapping_ttl = "soon" }'),
    rejects('failed to parse policy: error parsing min_wrapping_ttl: strconv.ParseInt: parsing "soon": invalid syntax'),
  );
  await assert.rejects(
    parsePolicy('p', 'path "a" { max_wrapping_ttl = "1x5s" }'),
    rejects('failed to parse policy: error parsing max_wrapping_ttl: time: invalid duration "1x5s"'),
  );
  await assert.rejects(
    parsePolicy('p', 'path "a" {\n  allowed_parameters = { "a*b" = [] }\n}'),
    rejects('failed to parse policy: path "a": allowed_parameters: parameter key "a*b" cannot contain non-tail wildcards'),
  );
  await assert.rejects(
    parsePolicy('p', 'path "a" {\n  denied_parameters = { "/nested/key" = [] }\n}'),
    rejects(/JSON pointer keys are not supported$/),
  );
});
