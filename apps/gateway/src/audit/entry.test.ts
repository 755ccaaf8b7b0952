import { createHmac } from 'node:crypto';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashData, hmacOf, requestEntry, responseEntry, toJsonx, type AuditRequestInput, type EntryOptions } from './entry.js';

const SALT = 'c0ffee00-0000-4000-8000-000000000000';
const DEFAULTS: EntryOptions = { logRaw: false, hmacAccessor: true, elideListResponses: false };
const NOW = new Date('2026-12-02T00:00:00.000Z');

const request: AuditRequestInput = {
  id: 'req-1',
  operation: 'update',
  path: 'secret/foo',
  data: { value: 'hunter2', nested: { deep: ['a', 1, true] }, at: '2026-01-02T03:04:05Z' },
  clientToken: 'hvs.root-token',
  remoteAddress: '127.0.0.1',
  auth: {
    clientToken: 'hvs.root-token',
    accessor: 'acc-1',
    displayName: 'root',
    policies: ['root'],
    metadata: { user: 'alice' },
    entityId: '',
    tokenType: 'service',
    tokenTtl: 0,
    tokenIssueTime: '2026-12-01T00:00:00.000Z',
  },
  mount: { point: 'secret/', type: 'kv', accessor: 'kv_1234abcd', nonHmacRequestKeys: [], nonHmacResponseKeys: [] },
};

describe('audit entry format', () => {
  it('hashes as Vault does: hmac-sha256 keyed by the salt string, hex', () => {
    const expected = createHmac('sha256', SALT).update('hunter2').digest('hex');
    assert.equal(hmacOf(SALT, 'hunter2'), `hmac-sha256:${expected}`);
  });

  it('hashes every string leaf of data, keeps keys, numbers, booleans and RFC 3339 times', () => {
    assert.deepEqual(hashData(SALT, request.data), {
      value: hmacOf(SALT, 'hunter2'),
      nested: { deep: [hmacOf(SALT, 'a'), 1, true] },
      at: '2026-01-02T03:04:05Z',
    });
  });

  it("leaves in clear only the top-level keys a mount's audit_non_hmac_*_keys name", () => {
    assert.deepEqual(hashData(SALT, { a: 'x', b: { a: 'y' } }, ['a']), { a: 'x', b: { a: hmacOf(SALT, 'y') } });
  });

  it('writes a request entry with the hashed token and accessor, policies, metadata, mount, path, data, address', () => {
    const e = requestEntry(SALT, DEFAULTS, request, NOW) as any;
    assert.equal(e.type, 'request');
    assert.equal(e.time, '2026-12-02T00:00:00.000Z');
    assert.equal(e.auth.client_token, hmacOf(SALT, 'hvs.root-token'));
    assert.equal(e.auth.accessor, hmacOf(SALT, 'acc-1'));
    assert.deepEqual(e.auth.policies, ['root']);
    assert.deepEqual(e.auth.metadata, { user: 'alice' });
    assert.equal(e.request.id, 'req-1');
    assert.equal(e.request.operation, 'update');
    assert.equal(e.request.mount_type, 'kv');
    assert.equal(e.request.mount_accessor, 'kv_1234abcd');
    assert.equal(e.request.path, 'secret/foo');
    assert.equal(e.request.client_token, hmacOf(SALT, 'hvs.root-token'));
    assert.equal(e.request.client_token_accessor, hmacOf(SALT, 'acc-1'));
    assert.equal(e.request.remote_address, '127.0.0.1');
    assert.equal(e.request.data.value, hmacOf(SALT, 'hunter2'));
    assert.equal('error' in e, false, 'empty fields are omitted');
    assert.doesNotMatch(JSON.stringify(e), /hunter2|hvs\.root-token/);
  });

  it('keeps accessors in clear with hmac_accessor=false, everything with log_raw', () => {
    const e = requestEntry(SALT, { ...DEFAULTS, hmacAccessor: false }, request, NOW) as any;
    assert.equal(e.auth.accessor, 'acc-1');
    assert.equal(e.auth.client_token, hmacOf(SALT, 'hvs.root-token'));
    const raw = requestEntry(SALT, { ...DEFAULTS, logRaw: true }, request, NOW) as any;
    assert.equal(raw.auth.client_token, 'hvs.root-token');
    assert.equal(raw.request.data.value, 'hunter2');
  });

  it('writes a response entry with the issued token hashed, the data hashed and the error', () => {
    const e = responseEntry(
      SALT,
      DEFAULTS,
      request,
      { data: { password: 'p@ss' }, auth: { clientToken: 'hvs.new', accessor: 'acc-2', policies: ['default'], metadata: null, leaseDuration: 60, renewable: true } },
      NOW,
    ) as any;
    assert.equal(e.type, 'response');
    assert.equal(e.response.auth.client_token, hmacOf(SALT, 'hvs.new'));
    assert.equal(e.response.auth.accessor, hmacOf(SALT, 'acc-2'));
    assert.equal(e.response.data.password, hmacOf(SALT, 'p@ss'));
    assert.equal(e.response.mount_type, 'kv');
    const failed = responseEntry(SALT, DEFAULTS, request, { error: 'permission denied' }, NOW) as any;
    assert.equal(failed.error, 'permission denied');
  });

  it('elides list responses to counts with elide_list_responses', () => {
    const list = { ...request, operation: 'list' };
    const e = responseEntry(SALT, { ...DEFAULTS, elideListResponses: true }, list, { data: { keys: ['a', 'b', 'c'] } }, NOW) as any;
    assert.equal(e.response.data.keys, 3);
  });

  it('writes jsonx as XML with escaped strings', () => {
    const x = toJsonx({ type: 'request', n: 1, s: '<&>' });
    assert.match(x, /^<\?xml version="1.0" encoding="UTF-8"\?><json:object xmlns:json="http:\/\/www.ibm.com\/xmlns\/prod\/2009\/jsonx">/);
    assert.match(x, /<json:string name="s">&lt;&amp;&gt;<\/json:string>/);
    assert.match(x, /<json:number name="n">1<\/json:number>/);
  });
});
