import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CofferError } from '#contracts';
import type { StoredEvent } from '#event-store';
import { openTestStore, type TestStore } from '../../../../libs/event-store/testing.js';
import { MAX_HISTORY_LIMIT, readHistory } from './event-history.handlers.js';
import { historyEntry, type HistoryEntry } from './history-view.js';

const at = new Date('2026-12-01T10:00:00.000Z');
const stored = (stream: string, type: string, data: unknown, metadata: Record<string, unknown> = {}, position = 7): StoredEvent => ({
  position,
  stream,
  version: 1,
  type,
  data,
  metadata,
  recordedAt: at,
});
const actor = { requestId: 'req-1', actorAccessor: 'acc-1' };

describe('history view: an allow-list of each event', () => {
  test('a plugin registration shows name, version, sha256 and command, never args or env', () => {
    const e = historyEntry(
      stored('plugin-catalog', 'PluginRegistered', { v: 1, type: 'secret', name: 'mock', version: 'v1.0.0', sha256: 'ab'.repeat(32), command: 'mock', args: ['--password=hunter2'], env: ['DB_PASSWORD=hunter2'] }, actor),
    );
    assert.deepEqual(e, {
      sequence: 7,
      stream: 'plugin-catalog',
      type: 'PluginRegistered',
      recorded_at: '2026-12-01T10:00:00.000Z',
      request_id: 'req-1',
      actor_accessor: 'acc-1',
      details: { plugin_type: 'secret', plugin_name: 'mock', plugin_version: 'v1.0.0', sha256: 'ab'.repeat(32), command: 'mock' },
    } satisfies HistoryEntry);
    assert.doesNotMatch(JSON.stringify(e), /hunter2/);
  });

  test('mounts: auth paths under auth/, only the version option, tune lists what changed', () => {
    const enabled = historyEntry(
      stored('mount-table', 'MountEnabled', {
        v: 1,
        table: 'auth',
        path: 'approle/',
        type: 'approle',
        pluginName: 'approle',
        uuid: 'u-1',
        accessor: 'auth_approle_1',
        description: 'apps',
        config: { defaultLeaseTtl: 0, maxLeaseTtl: 60, forceNoCache: false, pluginVersion: '' },
        options: { version: '2', token: 'hunter2' },
        local: false,
        sealWrap: false,
      }),
    );
    assert.equal(enabled.details.path, 'auth/approle/');
    assert.deepEqual(enabled.details.options, { version: '2' });
    assert.equal(enabled.details.max_lease_ttl, 60);
    assert.equal(enabled.request_id, '', 'no actor: empty, not absent');
    assert.doesNotMatch(JSON.stringify(enabled), /hunter2/);

    const tuned = historyEntry(stored('mount-table', 'MountTuned', { v: 1, table: 'secret', path: 'mock/', description: 'new', config: { maxLeaseTtl: 120, auditNonHmacRequestKeys: ['password'] } }));
    assert.deepEqual(tuned.details, { table: 'secret', path: 'mock/', changed: ['description', 'max_lease_ttl', 'audit_non_hmac_request_keys'], description: 'new', max_lease_ttl: 120 });

    const moved = historyEntry(stored('mount-table', 'MountMoved', { v: 1, table: 'secret', from: 'a/', to: 'b/' }, { ...actor, migrationId: 'm-1' }));
    assert.deepEqual(moved.details, { table: 'secret', from: 'a/', to: 'b/', migration_id: 'm-1' });
  });

  test('policies show their name, not their text; audit devices not their salt or options', () => {
    const policy = historyEntry(stored('acl-policies', 'PolicyWritten', { v: 1, name: 'app', policy: 'path "secret/*" { capabilities = ["read"] }' }));
    assert.deepEqual(policy.details, { name: 'app' });
    const audit = historyEntry(
      stored('audit-devices', 'AuditDeviceEnabled', { v: 1, path: 'file/', type: 'file', description: '', options: { file_path: '/var/log/a' }, local: false, salt: 'c2FsdHNhbHQ=' }),
    );
    assert.deepEqual(audit.details, { path: 'file/', audit_type: 'file', description: '', local: false });
  });

  test('an unknown event type, or values of the wrong type, show nothing of the data', () => {
    assert.deepEqual(historyEntry(stored('mount-table', 'MountSealWrapped', { secret: 'hunter2' })).details, {});
    const odd = historyEntry(stored('acl-policies', 'PolicyDeleted', { name: { nested: 'hunter2' } }, { requestId: 5, actorAccessor: ['x'] }));
    assert.deepEqual([odd.details, odd.request_id, odd.actor_accessor], [{ name: '' }, '', '']);
  });
});

describe('sys/event-history against a real store', () => {
  let db: TestStore;
  const positions: number[] = [];

  before(async () => {
    db = await openTestStore();
    const first = await db.store.append('mount-table', 0, [{ type: 'MountDisabled', data: { v: 1, table: 'secret', path: 'a/', uuid: 'u' }, metadata: actor }]);
    const second = await db.store.append('acl-policies', 0, [{ type: 'PolicyWritten', data: { v: 1, name: 'p', policy: 'x' }, metadata: actor }]);
    const third = await db.store.append('acl-policies', 1, [{ type: 'PolicyDeleted', data: { v: 1, name: 'p' }, metadata: actor }]);
    positions.push(first.position, second.position, third.position);
  });
  after(async () => {
    await db?.drop();
  });

  const page = async (data: Record<string, unknown>) => {
    const r = await readHistory(db.store, { data });
    assert.equal(r.kind, 'envelope');
    return (r as { data: { events: HistoryEntry[]; next_after: number | null } }).data;
  };

  test('pages newest first; next_after continues until it is null', async () => {
    const one = await page({ limit: '2' });
    assert.deepEqual(one.events.map((e) => e.type), ['PolicyDeleted', 'PolicyWritten']);
    assert.equal(one.next_after, positions[1]);
    const two = await page({ limit: '2', after: String(one.next_after) });
    assert.deepEqual(two.events.map((e) => e.type), ['MountDisabled']);
    assert.equal(two.next_after, null);
    const all = await page({});
    assert.equal(all.events.length, 3);
    assert.equal(all.next_after, null, 'a page that holds the rest says there is no more');
    assert.deepEqual((await page({ stream: 'mount-table' })).events.map((e) => e.sequence), [positions[0]]);
    assert.deepEqual((await page({ stream: 'mount-table,acl-policies', limit: '1' })).events.map((e) => e.sequence), [positions[2]]);
  });

  test('refuses bad parameters with invalid-request (400)', async () => {
    for (const data of [{ limit: '0' }, { limit: String(MAX_HISTORY_LIMIT + 1) }, { limit: 'ten' }, { limit: ['1', '2'] }, { after: '-1' }, { after: '1.5' }, { stream: 'tokens' }, { stream: ',' }]) {
      await assert.rejects(readHistory(db.store, { data }), (err: unknown) => err instanceof CofferError && err.code === 'invalid-request', JSON.stringify(data));
    }
  });
});
