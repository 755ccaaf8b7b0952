import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CofferError } from '#contracts';
import { Acl } from './acl.js';
import { DEFAULT_POLICY_TEXT, ROOT_POLICY } from './builtin.js';
import type { AclOperation } from './capabilities.js';
import { parsePolicy } from './policy.js';

/** An Acl from policy texts, one policy each. */
async function acl(...texts: string[]): Promise<Acl> {
  return new Acl(await Promise.all(texts.map((text, i) => parsePolicy(`p${i}`, text))));
}

function rule(path: string, ...capabilities: string[]): string {
  return `path "${path}" { capabilities = ${JSON.stringify(capabilities)} }\n`;
}

function allowed(a: Acl, path: string, op: AclOperation = 'read'): boolean {
  return a.check(path, op).allowed;
}

test('a policy allowing only secret/* read: read allowed, create denied, sys/mounts denied', async () => {
  const a = await acl(rule('secret/*', 'read'));
  assert.deepEqual(a.check('secret/x', 'read'), { allowed: true, rootPrivs: false });
  assert.deepEqual(a.check('secret/x', 'create'), { allowed: false, rootPrivs: false });
  assert.deepEqual(a.check('sys/mounts', 'read'), { allowed: false, rootPrivs: false });
  // The glob is a plain prefix: any depth, but not a sibling that merely shares letters.
  assert.equal(allowed(a, 'secret/a/b/c'), true);
  assert.equal(allowed(a, 'secretive/x'), false);
  assert.equal(allowed(a, 'secret'), false);
});

test('every operation maps to its own capability', async () => {
  const ops: AclOperation[] = ['read', 'list', 'create', 'update', 'delete', 'patch', 'recover'];
  for (const op of ops) {
    const a = await acl(rule('p/*', op));
    for (const other of ops) assert.equal(allowed(a, 'p/x', other), other === op, `${op} grants ${other}?`);
  }
});

test('head is never granted by a capability (Vault has no ACL case for it); help needs none at all', async () => {
  const a = await acl(rule('*', 'create', 'read', 'update', 'delete', 'list', 'patch', 'sudo'));
  assert.equal(allowed(a, 'secret/x', 'head'), false);
  const none = await acl(rule('secret/x', 'deny'));
  // Vault's ACL answers help for any token before looking at the path, even a denied one.
  assert.deepEqual(none.check('secret/x', 'help'), { allowed: true, rootPrivs: false });
  assert.deepEqual(new Acl([]).check('anything', 'help'), { allowed: true, rootPrivs: false });
});

test('an exact rule beats any glob, even a glob that denies', async () => {
  const a = await acl(rule('secret/*', 'create', 'update', 'read'), rule('secret/foo', 'read'));
  assert.equal(allowed(a, 'secret/foo', 'read'), true);
  assert.equal(allowed(a, 'secret/foo', 'create'), false, 'the glob must not add to the exact rule');
  assert.equal(allowed(a, 'secret/bar', 'create'), true);

  const denyGlob = await acl(rule('secret/*', 'deny'), rule('secret/foo', 'read'));
  assert.equal(allowed(denyGlob, 'secret/foo'), true, 'deny only wins on the same pattern');
  assert.equal(allowed(denyGlob, 'secret/bar'), false);

  // An exact rule with no capabilities still shadows the glob.
  const empty = await acl(rule('secret/*', 'read'), 'path "secret/foo" {}');
  assert.equal(allowed(empty, 'secret/foo'), false);
  assert.deepEqual(empty.capabilities('secret/foo'), ['deny']);
});

test('among * globs the longest prefix wins, in both directions', async () => {
  const a = await acl(
    rule('secret/*', 'read'),
    rule('secret/app/*', 'deny'),
    rule('secret/app/public*', 'read', 'list'),
  );
  assert.equal(allowed(a, 'secret/other'), true);
  assert.equal(allowed(a, 'secret/app/x'), false);
  assert.equal(allowed(a, 'secret/app/public-key'), true);
  assert.equal(allowed(a, 'secret/app/public/nested', 'list'), true);
  const b = await acl(rule('*', 'deny'), rule('secret/*', 'read'));
  assert.equal(allowed(b, 'secret/x'), true);
  assert.equal(allowed(b, 'sys/x'), false);
});

test('priority 1: the later first wildcard wins', async () => {
  // secret/a* globs at 8, secret/+/b at 7.
  const a = await acl(rule('secret/+/b', 'update'), rule('secret/a*', 'read'));
  assert.deepEqual(a.capabilities('secret/ab/b'), ['read']);
  // The docs' own pair: foo/bar/+/baz over foo/+/bar/baz.
  const b = await acl(rule('foo/+/bar/baz', 'update'), rule('foo/bar/+/baz', 'read'));
  assert.deepEqual(b.capabilities('foo/bar/bar/baz'), ['read']);
});

test('priority 2: at the same position, not ending in * wins', async () => {
  const a = await acl(rule('foo/*', 'update'), rule('foo/+', 'read'));
  assert.deepEqual(a.capabilities('foo/x'), ['read']);
  assert.deepEqual(a.capabilities('foo/x/y'), ['update'], 'foo/+ is one segment only');
  const b = await acl(rule('foo/+/ba*', 'update'), rule('foo/+/bar', 'read'));
  assert.deepEqual(b.capabilities('foo/x/bar'), ['read']);
  assert.deepEqual(b.capabilities('foo/x/baz'), ['update']);
});

test('priority 3: fewer + segments wins, even against a shorter plain glob', async () => {
  // The docs' example: secret/+/+/foo/* loses to secret/* on rule 3.
  const a = await acl(rule('secret/+/+/foo/*', 'update'), rule('secret/*', 'read'));
  assert.deepEqual(a.capabilities('secret/a/b/foo/c'), ['read']);
  const b = await acl(rule('secret/+/+/+', 'update'), rule('secret/+/x/+', 'read'));
  assert.deepEqual(b.capabilities('secret/a/x/b'), ['read']);
});

test('priority 4: the longer pattern wins', async () => {
  const a = await acl(rule('foo/+/bar/b*', 'update'), rule('foo/+/bar/ba*', 'read'));
  assert.deepEqual(a.capabilities('foo/x/bar/baz'), ['read']);
  assert.deepEqual(a.capabilities('foo/x/bar/bz'), ['update']);
});

test('priority 5: the lexicographically greater pattern wins a full tie', async () => {
  // Same first +, no trailing *, two + each, same length: "a/+/c/+" > "a/+/+/d" because "c" > "+".
  const a = await acl(rule('a/+/+/d', 'update'), rule('a/+/c/+', 'read'));
  assert.deepEqual(a.capabilities('a/b/c/d'), ['read']);
});

test('+ matches exactly one segment, alone or before a *', async () => {
  const a = await acl(rule('secret/+/config', 'read'), rule('team/+/*', 'list'), rule('+/open', 'read'));
  assert.equal(allowed(a, 'secret/app/config'), true);
  assert.equal(allowed(a, 'secret/app/x/config'), false);
  assert.equal(allowed(a, 'secret/config'), false);
  assert.equal(allowed(a, 'secret/app/configs'), false);
  assert.equal(allowed(a, 'team/a/b/c', 'list'), true);
  assert.equal(allowed(a, 'team/a/', 'list'), true);
  assert.equal(allowed(a, 'team/a', 'read'), false);
  assert.equal(allowed(a, 'anything/open'), true);
  assert.equal(allowed(a, 'any/thing/open'), false);
  // A + inside a segment is literal.
  const literal = await acl(rule('x/a+b/+', 'read'));
  assert.equal(allowed(literal, 'x/a+b/c'), true);
  assert.equal(allowed(literal, 'x/aab/c'), false);
});

test('the same pattern in several policies: capabilities are a union', async () => {
  const a = await acl(
    rule('secret/*', 'read'),
    rule('secret/*', 'list'),
    rule('secret/+/x', 'create'),
    rule('secret/+/x', 'update'),
  );
  assert.deepEqual(a.capabilities('secret/a'), ['list', 'read']);
  assert.deepEqual(a.capabilities('secret/a/x'), ['create', 'update']);
  // Two blocks for one pattern inside a single policy merge the same way.
  const single = await acl(rule('k/v', 'read') + rule('k/v', 'delete'));
  assert.deepEqual(single.capabilities('k/v'), ['delete', 'read']);
});

test('deny on the same pattern wins over everything, sudo included, whatever the order', async () => {
  for (const order of [
    [rule('secret/*', 'read', 'sudo'), rule('secret/*', 'deny')],
    [rule('secret/*', 'deny'), rule('secret/*', 'read', 'sudo')],
  ]) {
    const a = await acl(...order);
    assert.deepEqual(a.check('secret/x', 'read'), { allowed: false, rootPrivs: false });
    assert.deepEqual(a.capabilities('secret/x'), ['deny']);
  }
  const exact = await acl(rule('secret/x', 'create', 'read'), rule('secret/x', 'deny'), rule('secret/*', 'read'));
  assert.equal(allowed(exact, 'secret/x'), false);
  assert.equal(allowed(exact, 'secret/y'), true);
});

test('sudo is reported as rootPrivs alongside the operation', async () => {
  const a = await acl(rule('sys/audit/*', 'update', 'sudo'), rule('sys/mounts', 'read'));
  assert.deepEqual(a.check('sys/audit/file', 'update'), { allowed: true, rootPrivs: true });
  assert.deepEqual(a.check('sys/audit/file', 'read'), { allowed: false, rootPrivs: true });
  assert.deepEqual(a.check('sys/mounts', 'read'), { allowed: true, rootPrivs: false });
});

test('list of secret/ and secret: the ACL sees secret/, with Vault\'s trailing-slash fallbacks', async () => {
  // An exact rule without the slash grants the listing of the slash path...
  const bare = await acl(rule('secret', 'list'));
  assert.equal(allowed(bare, 'secret/', 'list'), true);
  assert.equal(allowed(bare, 'secret', 'list'), true);
  // ...for lists only.
  const bareRead = await acl(rule('secret', 'read'));
  assert.equal(allowed(bareRead, 'secret/', 'read'), false);
  // A list of secret is a list of secret/ (Vault's HTTP layer adds the slash), so a rule on secret/ covers it.
  const slashed = await acl(rule('secret/', 'list'));
  assert.equal(allowed(slashed, 'secret', 'list'), true);
  assert.equal(allowed(slashed, 'secret', 'read'), false);
  // Globs are tried on the trimmed path first: secret/+ matches secret/a, not secret/a/.
  const segment = await acl(rule('secret/+', 'list'));
  assert.equal(allowed(segment, 'secret/a/', 'list'), true);
  assert.equal(allowed(segment, 'secret/a/', 'read'), false);
  const glob = await acl(rule('secret/*', 'list'));
  assert.equal(allowed(glob, 'secret/', 'list'), true);
  assert.equal(allowed(glob, 'secret', 'list'), true);
});

test('leading slashes in the request path are ignored', async () => {
  const a = await acl(rule('secret/x', 'read'));
  assert.equal(allowed(a, '/secret/x'), true);
  assert.equal(allowed(a, '//secret/x'), true);
});

test('no policies, or nothing matching: denied, and capabilities answer ["deny"]', async () => {
  const empty = new Acl([]);
  assert.deepEqual(empty.check('secret/x', 'read'), { allowed: false, rootPrivs: false });
  assert.deepEqual(empty.capabilities('secret/x'), ['deny']);
  const a = await acl(rule('secret/*', 'read'));
  assert.deepEqual(a.capabilities('sys/mounts'), ['deny']);
});

test('capabilities() answers sorted, without deny, as sys/capabilities does', async () => {
  const all = ['update', 'sudo', 'read', 'create', 'list', 'delete', 'patch', 'subscribe', 'recover'];
  const a = await acl(rule('secret/*', ...all));
  assert.deepEqual(a.capabilities('secret/x'), [...all].sort());
  assert.deepEqual(a.capabilities('secret/x').slice(-3), ['subscribe', 'sudo', 'update']);
  // Looked up as a list: the exact rule without the trailing slash answers for secret/.
  const b = await acl(rule('secret', 'list'));
  assert.deepEqual(b.capabilities('secret/'), ['list']);
});

test('root allows everything with sudo and answers ["root"]; it cannot be mixed with other policies', async () => {
  const root = new Acl([ROOT_POLICY]);
  assert.equal(root.isRoot, true);
  for (const op of ['read', 'list', 'create', 'update', 'delete', 'patch', 'head', 'help'] as const) {
    assert.deepEqual(root.check('sys/anything', op), { allowed: true, rootPrivs: true });
  }
  assert.deepEqual(root.capabilities('secret/x'), ['root']);
  const other = await parsePolicy('other', rule('secret/*', 'read'));
  assert.throws(
    () => new Acl([ROOT_POLICY, other]),
    (err: unknown) =>
      err instanceof CofferError && err.code === 'internal' && err.message === 'other policies present along with root',
  );
});

test('the default policy: token self-service and cubbyhole, nothing else', async () => {
  const a = new Acl([await parsePolicy('default', DEFAULT_POLICY_TEXT)]);
  assert.equal(allowed(a, 'auth/token/lookup-self', 'read'), true);
  assert.equal(allowed(a, 'auth/token/renew-self', 'update'), true);
  assert.equal(allowed(a, 'auth/token/revoke-self', 'update'), true);
  assert.equal(allowed(a, 'sys/capabilities-self', 'update'), true);
  assert.equal(allowed(a, 'sys/internal/ui/resultant-acl', 'read'), true);
  assert.equal(allowed(a, 'cubbyhole/mine', 'create'), true);
  assert.equal(allowed(a, 'cubbyhole/', 'list'), true);
  assert.equal(allowed(a, 'identity/oidc/provider/p1/authorize', 'read'), true);
  assert.equal(allowed(a, 'secret/x', 'read'), false);
  assert.equal(allowed(a, 'auth/token/lookup-self', 'update'), false);
  assert.equal(allowed(a, 'sys/mounts', 'read'), false);
  // The identity templates resolve only with an entity; unresolved, they grant nothing (not even their literal path).
  assert.equal(allowed(a, 'identity/entity/id/{{identity.entity.id}}', 'read'), false);
  assert.deepEqual(a.capabilities('auth/token/lookup-self'), ['read']);
});

test('allowed, denied and required parameters hold the request body, as in Vault', async () => {
  const a = await acl(`path "secret/restricted" {
  capabilities = ["create", "update", "read", "delete"]
  allowed_parameters = {
    "foo" = []
    "bar" = ["zip", "zap*"]
  }
  denied_parameters = { "bar" = ["zapped"] }
  required_parameters = ["foo"]
}`);
  const check = (data: Record<string, unknown>, op: AclOperation = 'create') =>
    a.check('secret/restricted', op, { data }).allowed;
  assert.equal(check({ foo: 'anything' }), true);
  assert.equal(check({ foo: 1, bar: 'zip' }), true);
  assert.equal(check({ foo: 1, bar: 'zap-2' }), true, 'trailing * globs the value');
  assert.equal(check({ foo: 1, bar: 'zapped' }), false, 'denied values win over allowed globs');
  assert.equal(check({ foo: 1, bar: 'nope' }), false);
  assert.equal(check({ foo: 1, bar: ['zip', 'zap'] }), true, 'every element of a list must be allowed');
  assert.equal(check({ foo: 1, bar: 'zip,zapped' }), false, 'a comma list is split');
  assert.equal(check({ foo: 1, other: 1 }), false, 'names not listed are refused');
  assert.equal(check({ bar: 'zip' }), false, 'foo is required');
  assert.equal(check({}), false, 'required even with no body');
  assert.equal(check({}, 'delete'), true, 'delete does not look at parameters');

  const open = await acl(
    'path "kv/x" {\n  capabilities = ["update"]\n  allowed_parameters = {\n    "*" = []\n    "mode" = ["ro"]\n  }\n}',
  );
  assert.equal(open.check('kv/x', 'update', { data: { anything: 1 } }).allowed, true);
  assert.equal(open.check('kv/x', 'update', { data: { mode: 'rw' } }).allowed, false);
  const closed = await acl('path "kv/x" {\n  capabilities = ["update"]\n  denied_parameters = { "*" = [] }\n}');
  assert.equal(closed.check('kv/x', 'update').allowed, true, 'no body, nothing to deny');
  assert.equal(closed.check('kv/x', 'update', { data: { a: 1 } }).allowed, false);
});

test('parameters merge across policies: an empty list (any value) absorbs a concrete one', async () => {
  const a = await acl(
    'path "kv/x" {\n  capabilities = ["update"]\n  allowed_parameters = { "mode" = ["ro"] }\n}',
    'path "kv/x" {\n  capabilities = ["create"]\n  allowed_parameters = { "mode" = [] }\n}',
  );
  assert.equal(a.check('kv/x', 'update', { data: { mode: 'rw' } }).allowed, true);
  const b = await acl(
    'path "kv/x" {\n  capabilities = ["update"]\n  allowed_parameters = { "mode" = ["ro"] }\n}',
    'path "kv/x" {\n  capabilities = ["update"]\n  allowed_parameters = { "mode" = ["rw"] }\n}',
  );
  assert.equal(b.check('kv/x', 'update', { data: { mode: 'rw' } }).allowed, true);
  assert.equal(b.check('kv/x', 'update', { data: { mode: 'xx' } }).allowed, false);
});

test('wrapping TTL bounds: required when set, smallest bound kept when merged', async () => {
  const a = await acl(
    'path "auth/approle/role/r/secret-id" {\n  capabilities = ["update"]\n  min_wrapping_ttl = "1s"\n  max_wrapping_ttl = "90s"\n}',
  );
  const path = 'auth/approle/role/r/secret-id';
  assert.equal(a.check(path, 'update').allowed, false, 'wrapping is mandatory');
  assert.equal(a.check(path, 'update', { wrapTtl: 60 }).allowed, true);
  assert.equal(a.check(path, 'update', { wrapTtl: 120 }).allowed, false);
  const merged = await acl(
    'path "w" {\n  capabilities = ["read"]\n  max_wrapping_ttl = "90s"\n}',
    'path "w" {\n  capabilities = ["read"]\n  max_wrapping_ttl = "30s"\n}',
  );
  assert.equal(merged.check('w', 'read', { wrapTtl: 60 }).allowed, false);
  assert.equal(merged.check('w', 'read', { wrapTtl: 30 }).allowed, true);
});

test('check never re-parses: a compiled Acl is independent of the Policy objects it came from', async () => {
  const policy = await parsePolicy('p', rule('secret/*', 'read'));
  const a = new Acl([policy]);
  policy.paths[0]!.capabilities.push('create');
  policy.paths.push({ path: 'sys/*', capabilities: ['read'], templated: false });
  assert.equal(allowed(a, 'secret/x', 'create'), false);
  assert.equal(allowed(a, 'sys/mounts'), false);
});

/**
 * The lookup tables against a transcription of Vault's CheckAllowedFromNonExactPaths (split, collect every match,
 * sort by its `less`), over random patterns and paths from a small alphabet so that they collide often.
 */
test('the compiled lookup agrees with a literal port of Vault\'s matching on random policies', async () => {
  let seed = 42;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pick = <T>(items: readonly T[]): T => items[random(items.length)]!;
  const segment = () => pick(['a', 'b', 'ab', 'ba', '']);
  const ops = ['read', 'update', 'create', 'delete'] as const;

  type Ref = { path: string; caps: string[] };
  const isSegment = (p: string) => p === '+' || p.includes('/+') || p.startsWith('+/');
  /** The capabilities Vault would find for a non-list request on `path`, or undefined when nothing matches. */
  const reference = (rules: Ref[], path: string): Set<string> | undefined => {
    const union = (of: Ref[]) => {
      const all = new Set(of.flatMap((r) => r.caps));
      return all.has('deny') ? new Set(['deny']) : all;
    };
    const exact = rules.filter((r) => !isSegment(r.path) && !r.path.endsWith('*') && r.path === path);
    if (exact.length > 0) return union(exact);

    type Match = { first: number; isPrefix: boolean; wildcards: number; wc: string; caps: Set<string> };
    const matches: Match[] = [];
    const prefixes = rules.filter((r) => !isSegment(r.path) && r.path.endsWith('*'));
    const longest = prefixes
      .map((r) => r.path.slice(0, -1))
      .filter((p) => path.startsWith(p))
      .sort((x, y) => y.length - x.length)[0];
    if (longest !== undefined) {
      const caps = union(prefixes.filter((r) => r.path === `${longest}*`));
      matches.push({ first: longest.length, isPrefix: true, wildcards: 0, wc: longest, caps });
    }
    const parts = path.split('/');
    for (const full of new Set(rules.filter((r) => isSegment(r.path)).map((r) => r.path))) {
      const isPrefix = full.endsWith('*');
      const wc = isPrefix ? full.slice(0, -1) : full;
      const split = wc.split('/');
      if (parts.length < split.length || (!isPrefix && parts.length !== split.length)) continue;
      const last = split.length - 1;
      const ok = split.every((p, i) => p === '+' || p === parts[i] || (isPrefix && i === last && parts[i]!.startsWith(p)));
      const wildcards = split.filter((p) => p === '+').length;
      const caps = union(rules.filter((r) => r.path === full));
      if (ok) matches.push({ first: full.indexOf('+'), isPrefix, wildcards, wc, caps });
    }
    const less = (i: Match, j: Match): boolean =>
      i.first !== j.first ? i.first < j.first
      : i.isPrefix !== j.isPrefix ? i.isPrefix
      : i.wildcards !== j.wildcards ? i.wildcards > j.wildcards
      : i.wc.length !== j.wc.length ? i.wc.length < j.wc.length
      : i.wc < j.wc;
    return matches.sort((x, y) => (less(x, y) ? -1 : less(y, x) ? 1 : 0)).at(-1)?.caps;
  };

  for (let round = 0; round < 80; round++) {
    const rules: Ref[] = [];
    const texts: string[] = [];
    for (let p = 0; p < 3; p++) {
      let text = '';
      for (let r = 0; r < 6; r++) {
        let path = Array.from({ length: 1 + random(3) }, () => (random(3) === 0 ? '+' : segment())).join('/');
        if (random(2) === 0 && !path.endsWith('+')) path += '*';
        const caps = [pick([...ops, 'deny']), pick(ops)];
        text += rule(path, ...caps);
        rules.push({ path: path.startsWith('/') ? path.slice(1) : path, caps });
      }
      texts.push(text);
    }
    const a = await acl(...texts);
    for (let i = 0; i < 40; i++) {
      const path = Array.from({ length: 1 + random(4) }, segment).join('/');
      // Vault's AllowOperation strips leading slashes from the request path before matching.
      const caps = reference(rules, path.replace(/^\/+/, ''));
      for (const op of ops) {
        const want = caps !== undefined && caps.has(op);
        assert.equal(a.check(path, op).allowed, want, `round ${round}: ${op} ${JSON.stringify(path)}\n${texts.join('')}`);
      }
    }
  }
});
