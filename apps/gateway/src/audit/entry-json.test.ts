import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashData, hmacOf, requestEntry, responseEntry, type AuditRequestInput, type AuditResponseInput, type EntryOptions } from './entry.js';
import { entryBody, hashedJson, requestEntryJson, responseEntryJson } from './entry-json.js';

/**
 * The entries written directly (`entry-json.ts`) are the generic entries' `JSON.stringify`, byte for byte: the
 * same keys in the same order, the same omissions, the same hashes. Each case is written both ways and compared.
 */

const SALT = 'c0ffee00-0000-4000-8000-000000000000';
const DEFAULTS: EntryOptions = { logRaw: false, hmacAccessor: true, elideListResponses: false };
const NOW = new Date('2026-12-02T00:00:00.123Z');

const auth = {
  clientToken: 'hvs.root-token',
  accessor: 'acc-1',
  displayName: 'root',
  policies: ['root', 'défaut'],
  metadata: { user: 'alice', team: 'ünïcødé ✓ \u2028' },
  entityId: '',
  tokenType: 'service',
  tokenTtl: 0,
  tokenIssueTime: '2026-12-01T00:00:00.000Z',
};
const mount = { point: 'secret/', type: 'kv', accessor: 'kv_1234abcd', nonHmacRequestKeys: [] as string[], nonHmacResponseKeys: [] as string[] };

const base: AuditRequestInput = { id: 'req-1', operation: 'read', path: 'secret/foo', data: {}, clientToken: 'hvs.root-token', remoteAddress: '127.0.0.1', remotePort: 51234, auth, mount };

/** Nested maps and arrays, numbers (zero, negative, fractional, huge), booleans, null, times, unicode, escapes. */
const tricky = {
  value: 'hunter2',
  empty: '',
  nested: { deep: ['a', 1, true, null, { x: 'y', z: [] }], n: -0.5, big: 1e21, zero: 0, f: false, none: null, blank: {} },
  at: '2026-01-02T03:04:05Z',
  atOffset: '2026-01-02T03:04:05.999+02:00',
  notATime: '2026-01-02',
  list: [],
  unicode: 'naïve ☃ 𝄞 "quoted" \\ back\nnewline \u0000 \ud800',
  'key with "quotes" and ☃': 'v',
  '10': 'numeric key first',
  // JSON.parse makes this an own key; it must be in the log like any other.
  ...JSON.parse('{"__proto__": "evasive"}'),
};

const cases: { name: string; options?: Partial<EntryOptions>; request: Partial<AuditRequestInput>; response: AuditResponseInput }[] = [
  { name: 'a kv read: no request data, a map answered', request: {}, response: { data: { value: 'bar', version: 3 } } },
  { name: 'tricky request and response data', request: { operation: 'update', data: tricky }, response: { data: tricky, warnings: ['w1', 'wärning'] } },
  {
    name: "a mount's non-HMAC keys, top level only",
    request: { operation: 'update', data: { keep: 'clear text', nested: { keep: 'hashed' }, other: 'x', obj: { a: ['b', 2] } }, mount: { ...mount, nonHmacRequestKeys: ['keep', 'obj'], nonHmacResponseKeys: ['ttl', 'lease'] } },
    response: { data: { ttl: '1h', lease: { id: 'l-1' }, secret: 's3cr3t' } },
  },
  {
    name: 'a login: issued token, metadata, renewable false, zero lease',
    request: { operation: 'update', path: 'auth/approle/login', data: { role_id: 'r', secret_id: 's' }, auth: undefined, clientToken: undefined },
    response: { auth: { clientToken: 'hvs.new', accessor: 'acc-2', policies: ['default'], metadata: { role_name: 'r' }, leaseDuration: 0, renewable: false, entityId: 'ent-1' } },
  },
  {
    name: 'an issued token with token_policies, no metadata',
    request: { operation: 'update', path: 'auth/token/create' },
    response: { auth: { clientToken: 'hvs.c', accessor: '', policies: ['a'], tokenPolicies: ['a', 'b'], metadata: null, leaseDuration: 60, renewable: true } },
  },
  {
    name: 'a wrapped response',
    request: { operation: 'update', data: { x: 'y' } },
    response: { wrapInfo: { token: 'hvs.wrap', accessor: 'wacc', ttl: 300, creationTime: '2026-12-02T00:00:00Z', creationPath: 'secret/foo', wrappedAccessor: '' } },
  },
  { name: 'a list response, elided', options: { elideListResponses: true }, request: { operation: 'list' }, response: { data: { keys: ['a', 'b', 'c'], key_info: { a: {}, b: {} } } } },
  { name: 'a list response, not elided', request: { operation: 'list' }, response: { data: { keys: ['a', 'b'] } } },
  { name: 'refused before it ran', request: { error: 'permission denied', mount: undefined, auth: undefined }, response: { error: 'permission denied' } },
  { name: 'a refused request whose response adds nothing', request: { error: 'bad', clientToken: '' }, response: {} },
  { name: 'accessors in clear (hmac_accessor=false)', options: { hmacAccessor: false }, request: { data: { a: 'b' } }, response: { auth: { clientToken: 'hvs.n', accessor: 'acc-3', policies: [], metadata: {}, leaseDuration: 1, renewable: true } } },
  { name: 'a sys answer of the plain JSON kind', request: { path: 'sys/mounts', mount: { point: 'sys/', type: 'system', accessor: '', nonHmacRequestKeys: [], nonHmacResponseKeys: [] } }, response: { data: { 'secret/': { type: 'kv', options: null, local: false } } } },
  { name: 'answers that are not maps', request: { data: { a: 1 } }, response: { data: ['x', 2] } },
  { name: 'an empty answer', request: {}, response: { data: {} } },
  { name: 'a string answer', request: {}, response: { data: '' } },
  { name: 'no remote port, no token, empty metadata', request: { remotePort: undefined, clientToken: undefined, auth: { ...auth, metadata: {}, policies: [] } }, response: { data: { a: 'b' } } },
  { name: 'an odd token TTL', request: { auth: { ...auth, tokenTtl: Number.NaN } }, response: {} },
];

describe('audit entries written as JSON directly', () => {
  for (const c of cases) {
    it(`equals the generic entry: ${c.name}`, () => {
      const options = { ...DEFAULTS, ...c.options };
      const r = { ...base, ...c.request };
      const body = entryBody(SALT, options, r);
      assert.equal(requestEntryJson(body, r, NOW), JSON.stringify(requestEntry(SALT, options, r, NOW)));
      // The response entry of the same request, with its body reused and as built fresh (a request refused earlier).
      const generic = JSON.stringify(responseEntry(SALT, options, r, c.response, NOW));
      assert.equal(responseEntryJson(SALT, options, body, r, c.response, NOW), generic);
      assert.equal(JSON.stringify(JSON.parse(generic)), generic, 'the entry is valid JSON');
    });
  }

  it("writes a caller's auth block anew when the same token's fields changed (the per-token text is reused only when equal)", () => {
    const variants = [
      auth,
      { ...auth },
      { ...auth, policies: ['root', 'extra'] },
      { ...auth, policies: ['root', 'extra'] },
      { ...auth, metadata: { user: 'bob', team: 'ünïcødé ✓ \u2028' } },
      { ...auth, metadata: { team: 'ünïcødé ✓ \u2028', user: 'alice' } },
      { ...auth, metadata: null },
      { ...auth, displayName: 'token-renamed', tokenTtl: 60 },
      { ...auth, accessor: 'acc-other' },
      auth,
    ];
    for (const [i, a] of variants.entries()) {
      const r = { ...base, auth: a };
      assert.equal(requestEntryJson(entryBody(SALT, DEFAULTS, r), r, NOW), JSON.stringify(requestEntry(SALT, DEFAULTS, r, NOW)), `variant ${i}`);
    }
    // The same token in place, its policies changed in the array the caller holds.
    const held = { ...auth, policies: ['a'] };
    const r = { ...base, auth: held };
    entryBody(SALT, DEFAULTS, r);
    held.policies.push('b');
    assert.match(entryBody(SALT, DEFAULTS, r), /"policies":\["a","b"\]/);
  });

  it('hashes data as hashData does, with the non-HMAC keys in clear', () => {
    assert.equal(hashedJson(SALT, tricky, ['value'], true), JSON.stringify(hashData(SALT, tricky, ['value'])));
    assert.equal(hashedJson(SALT, 'x', [], true), `"${hmacOf(SALT, 'x')}"`);
  });

  it('records a body key named __proto__ hashed (the generic walk too)', () => {
    const line = requestEntryJson(entryBody(SALT, DEFAULTS, { ...base, data: JSON.parse('{"__proto__":"evasive"}') }), base, NOW);
    assert.match(line, new RegExp(`"data":\\{"__proto__":"${hmacOf(SALT, 'evasive')}"\\}`));
    assert.doesNotMatch(line, /evasive/);
  });

  it('never writes a secret, token or accessor in clear', () => {
    const r = { ...base, operation: 'update', data: { password: 'p@ssw0rd' } };
    const body = entryBody(SALT, DEFAULTS, r);
    const text = requestEntryJson(body, r, NOW) + responseEntryJson(SALT, DEFAULTS, body, r, { data: { password: 'p@ssw0rd' }, auth: { clientToken: 'hvs.issued', accessor: 'acc-9', policies: [], metadata: null, leaseDuration: 1, renewable: true } }, NOW);
    assert.doesNotMatch(text, /p@ssw0rd|hvs\.root-token|hvs\.issued|acc-1|acc-9/);
  });
});
