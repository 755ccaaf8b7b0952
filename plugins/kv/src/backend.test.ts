import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createHarness, type Harness } from '#plugin-sdk';
import { kvV1Backend, kvV2Backend, upgradeToV2 } from './backend.js';
import { goDuration, mergePatch, subkeys, timestamp } from './records.js';

const v2 = () => createHarness(kvV2Backend, { mount: { path: 'secret/', type: 'kv', options: { version: '2' } } });
const ok = async (h: Harness, ...args: Parameters<Harness['request']>) => {
  const r = await h.request(...args);
  assert.equal(r.error, undefined, r.error?.message);
  return r.response;
};
const fails = async (h: Harness, message: string | RegExp, ...args: Parameters<Harness['request']>) => {
  const r = await h.request(...args);
  assert.ok(r.error, `expected an error, got ${JSON.stringify(r.response)}`);
  if (typeof message === 'string') assert.equal(r.error.message, message);
  else assert.match(r.error.message, message);
  return r.error;
};
/** A raw 404 answer's envelope. */
const raw404 = (response: unknown) => {
  const raw = (response as { raw?: { status: number; bodyBase64: string } }).raw;
  assert.equal(raw?.status, 404);
  return JSON.parse(Buffer.from(raw!.bodyBase64, 'base64').toString('utf8'));
};

describe('kv version 2', () => {
  test('write and read: Vault\'s shapes; each write is the next version', async () => {
    const h = v2();
    const w1 = await ok(h, 'update', 'data/app/db', { data: { pw: 's3' } });
    assert.deepEqual(Object.keys(w1!.data!).sort(), ['created_time', 'custom_metadata', 'deletion_time', 'destroyed', 'version']);
    assert.equal(w1!.data!.version, 1);
    assert.equal(w1!.data!.deletion_time, '');
    assert.equal(w1!.data!.custom_metadata, null);
    assert.equal((await ok(h, 'update', 'data/app/db', { data: { pw: 's4' } }))!.data!.version, 2);
    const read = await ok(h, 'read', 'data/app/db');
    assert.deepEqual(read!.data!.data, { pw: 's4' });
    assert.equal((read!.data!.metadata as { version: number }).version, 2);
    const old = await ok(h, 'read', 'data/app/db', { version: 1 });
    assert.deepEqual(old!.data!.data, { pw: 's3' });
    assert.equal(await ok(h, 'read', 'data/nope'), null);
    assert.equal(await ok(h, 'read', 'data/app/db', { version: 9 }), null);
  });

  test('create vs update comes from the existence check, without reading the value', async () => {
    const h = v2();
    assert.deepEqual(await h.exists('data/k'), { checkFound: true, exists: false });
    await ok(h, 'update', 'data/k', { data: { a: 1 } });
    assert.deepEqual(await h.exists('data/k'), { checkFound: true, exists: true });
  });

  test('input errors: Vault\'s texts', async () => {
    const h = v2();
    await fails(h, 'no data provided', 'update', 'data/k', {});
    await fails(h, "cannot write to a path ending in '/'", 'update', 'data/k/', { data: { a: 1 } });
    await fails(h, 'No version number provided', 'update', 'delete/k', {});
    await fails(h, 'No version number provided', 'update', 'undelete/k', {});
    await fails(h, 'no version number provided', 'update', 'destroy/k', {});
    await fails(h, /^custom_metadata validation failed: /, 'update', 'metadata/k', { custom_metadata: { ['x'.repeat(129)]: 'v' } });
  });

  test('check-and-set: 0 only creates, N must be current, required by config or key', async () => {
    const h = v2();
    await ok(h, 'update', 'data/k', { data: { a: 1 }, options: { cas: 0 } });
    await fails(h, 'check-and-set parameter did not match the current version', 'update', 'data/k', { data: { a: 2 }, options: { cas: 0 } });
    await ok(h, 'update', 'data/k', { data: { a: 2 }, options: { cas: 1 } });
    await fails(h, 'error parsing check-and-set parameter', 'update', 'data/k', { data: { a: 2 }, options: { cas: 'x' } });
    await ok(h, 'update', 'config', { cas_required: true });
    await fails(h, 'check-and-set parameter required for this call', 'update', 'data/k', { data: { a: 3 } });
    await fails(h, 'check-and-set parameter required for this call', 'patch', 'data/k', { data: { a: 3 } });
    const warned = await ok(h, 'update', 'metadata/k', { cas_required: false });
    assert.deepEqual(warned!.warnings, ['"cas_required" set to false, but is mandated by backend config. This value will be ignored.']);
    await ok(h, 'update', 'config', { cas_required: false });
    await ok(h, 'update', 'metadata/other', { cas_required: true });
    await fails(h, 'check-and-set parameter required for this call', 'update', 'data/other', { data: { a: 1 } });
  });

  test('concurrent writes of one secret: each its own version, as if one after another', async () => {
    const h = v2();
    const writes = await Promise.all(Array.from({ length: 25 }, (_, i) => ok(h, 'update', 'data/busy', { data: { n: i } })));
    const versions = writes.map((w) => w!.data!.version as number);
    assert.deepEqual([...versions].sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i + 1));
    const meta = await ok(h, 'read', 'metadata/busy');
    assert.equal(meta!.data!.current_version, 25);
    // The default keeps 10: versions 16 to 25, the last write's data current.
    assert.deepEqual(Object.keys(meta!.data!.versions as object).map(Number).sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => i + 16));
    assert.deepEqual((await ok(h, 'read', 'data/busy'))!.data!.data, { n: versions.indexOf(25) });
  });

  test('concurrent check-and-set writes of one secret: exactly one with cas 0 creates it; a refused one changes nothing', async () => {
    const h = v2();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => h.request('update', 'data/once', { data: { n: i }, options: { cas: 0 } })));
    assert.equal(results.filter((r) => r.error === undefined).length, 1);
    for (const r of results.filter((r) => r.error)) assert.equal(r.error!.message, 'check-and-set parameter did not match the current version');
    const winner = results.findIndex((r) => r.error === undefined);
    const read = await ok(h, 'read', 'data/once');
    assert.deepEqual(read!.data!.data, { n: winner });
    assert.equal((read!.data!.metadata as { version: number }).version, 1);
    // Writes and patches in one burst: whatever order they land in, each version is one of them applied to the one before.
    const burst = await Promise.all([
      ...[0, 1, 2].map((i) => ok(h, 'update', 'data/once', { data: { w: i } }).then((r) => ({ version: r!.data!.version as number, write: i }))),
      ...[0, 1, 2].map((i) => ok(h, 'patch', 'data/once', { data: { [`p${i}`]: i } }).then((r) => ({ version: r!.data!.version as number, patch: i }))),
    ]);
    assert.deepEqual(burst.map((b) => b.version).sort((x, y) => x - y), [2, 3, 4, 5, 6, 7]);
    let previous = read!.data!.data as Record<string, unknown>;
    for (const change of [...burst].sort((x, y) => x.version - y.version)) {
      const data = (await ok(h, 'read', 'data/once', { version: change.version }))!.data!.data as Record<string, unknown>;
      assert.deepEqual(data, 'write' in change ? { w: change.write } : { ...previous, [`p${change.patch}`]: change.patch });
      previous = data;
    }
  });

  test('patch merges onto the current version (JSON merge patch); absent key is a bare 404', async () => {
    const h = v2();
    assert.equal(await ok(h, 'patch', 'data/k', { data: { a: 1 } }), null);
    await ok(h, 'update', 'data/k', { data: { a: 1, b: { c: 2, d: 3 } } });
    assert.equal((await ok(h, 'patch', 'data/k', { data: { a: null, b: { c: 9 } } }))!.data!.version, 2);
    assert.deepEqual((await ok(h, 'read', 'data/k'))!.data!.data, { b: { c: 9, d: 3 } });
  });

  test('soft delete, undelete, destroy; a deleted version reads as 404 with its metadata', async () => {
    const h = v2();
    await ok(h, 'update', 'data/k', { data: { a: 1 } });
    await ok(h, 'update', 'data/k', { data: { a: 2 } });
    assert.equal(await ok(h, 'delete', 'data/k'), null);
    const body = raw404(await ok(h, 'read', 'data/k'));
    assert.equal(body.data.data, null);
    assert.equal(body.data.metadata.version, 2);
    assert.notEqual(body.data.metadata.deletion_time, '');
    await ok(h, 'update', 'undelete/k', { versions: [2] });
    assert.deepEqual((await ok(h, 'read', 'data/k'))!.data!.data, { a: 2 });
    await ok(h, 'update', 'delete/k', { versions: '1,2' });
    raw404(await ok(h, 'read', 'data/k', { version: 1 }));
    await ok(h, 'update', 'destroy/k', { versions: [1] });
    const destroyed = raw404(await ok(h, 'read', 'data/k', { version: 1 }));
    assert.equal(destroyed.data.metadata.destroyed, true);
    // A destroyed version cannot be undeleted; its data is gone from storage.
    await ok(h, 'update', 'undelete/k', { versions: [1] });
    raw404(await ok(h, 'read', 'data/k', { version: 1 }));
    const stored = JSON.parse(h.storage.get('meta/k')!.toString('utf8'));
    assert.equal(stored.versions['1'].data, undefined);
  });

  test('metadata: read shape, max_versions purges the oldest, custom_metadata, delete removes all, list', async () => {
    const h = v2();
    for (let i = 1; i <= 4; i++) await ok(h, 'update', 'data/dir/k', { data: { i } });
    await ok(h, 'update', 'metadata/dir/k', { max_versions: 2, custom_metadata: { owner: 'me' }, delete_version_after: '1h' });
    const m = (await ok(h, 'read', 'metadata/dir/k'))!.data!;
    assert.deepEqual(Object.keys(m).sort(), [
      'cas_required', 'created_time', 'current_version', 'custom_metadata', 'delete_version_after', 'max_versions', 'oldest_version', 'updated_time', 'versions',
    ]);
    assert.deepEqual([m.current_version, m.oldest_version, m.max_versions, m.delete_version_after], [4, 3, 2, '1h0m0s']);
    assert.deepEqual(Object.keys(m.versions as object), ['3', '4']);
    assert.deepEqual(m.custom_metadata, { owner: 'me' });
    // delete_version_after applies to new versions: a deletion time in the future, still readable now.
    const w = (await ok(h, 'update', 'data/dir/k', { data: { i: 5 } }))!.data!;
    assert.ok(Date.parse(w.deletion_time as string) > Date.now() + 3500_000);
    assert.deepEqual((await ok(h, 'read', 'data/dir/k'))!.data!.data, { i: 5 });
    await ok(h, 'update', 'data/top', { data: { a: 1 } });
    assert.deepEqual((await ok(h, 'list', 'metadata/'))!.data, { keys: ['dir/', 'top'] });
    assert.deepEqual((await ok(h, 'list', 'metadata/dir'))!.data, { keys: ['k'] });
    await ok(h, 'patch', 'metadata/top', { custom_metadata: { x: 'y' } });
    assert.equal(await ok(h, 'patch', 'metadata/none', { max_versions: 1 }), null);
    assert.equal(await ok(h, 'read', 'metadata/none'), null);
    await ok(h, 'delete', 'metadata/dir/k');
    assert.equal(await ok(h, 'read', 'metadata/dir/k'), null);
    assert.equal(await ok(h, 'read', 'data/dir/k'), null);
  });

  test('config and subkeys', async () => {
    const h = v2();
    assert.deepEqual((await ok(h, 'read', 'config'))!.data, { cas_required: false, delete_version_after: '0s', max_versions: 0 });
    await ok(h, 'update', 'config', { max_versions: 3, delete_version_after: '90s' });
    assert.deepEqual((await ok(h, 'read', 'config'))!.data, { cas_required: false, delete_version_after: '1m30s', max_versions: 3 });
    await ok(h, 'update', 'data/k', { data: { a: 1, b: { c: { d: 1 } }, e: {} } });
    assert.deepEqual((await ok(h, 'read', 'subkeys/k'))!.data!.subkeys, { a: null, b: { c: { d: null } }, e: null });
    assert.deepEqual((await ok(h, 'read', 'subkeys/k', { depth: 1 }))!.data!.subkeys, { a: null, b: null, e: null });
  });

  test('paths outside the versioned API: Vault\'s warnings, as 404s', async () => {
    const h = v2();
    const body = raw404(await ok(h, 'read', 'foo'));
    assert.deepEqual(body.warnings, [
      "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.",
    ]);
    assert.match(raw404(await ok(h, 'update', 'foo', { a: 1 })).warnings[0], /use 'vault kv put' for this operation/);
    assert.deepEqual(raw404(await ok(h, 'read', 'data')).warnings, ['Non-listing operations on the root of a K/V v2 mount are not supported.']);
  });
});

describe('kv version 1', () => {
  test('plain paths: write 204, read the map, list folders, delete; empty write refused', async () => {
    const h = createHarness(kvV1Backend, { mount: { path: 'kv/', type: 'kv' } });
    assert.equal(await ok(h, 'update', 'a/b', { x: '1', n: 2 }), null);
    assert.deepEqual((await ok(h, 'read', 'a/b'))!.data, { x: '1', n: 2 });
    await ok(h, 'update', 'c', { y: 'z' });
    assert.deepEqual((await ok(h, 'list', ''))!.data, { keys: ['a/', 'c'] });
    assert.deepEqual((await ok(h, 'list', 'a/'))!.data, { keys: ['b'] });
    await fails(h, 'missing data fields', 'update', 'd', {});
    await ok(h, 'delete', 'a/b');
    assert.equal(await ok(h, 'read', 'a/b'), null);
  });

  test('upgrade to version 2 keeps the data as version 1 of each key, once', async () => {
    const h1 = createHarness(kvV1Backend, { mount: { path: 'kv/', type: 'kv' } });
    await ok(h1, 'update', 'a/b', { x: '1' });
    await ok(h1, 'update', 'c', { y: '2' });
    const { hostStorage } = await import('#plugin-sdk');
    const storage = hostStorage(h1.host, h1.mount.id);
    assert.equal(await upgradeToV2(storage), 2);
    assert.equal(await upgradeToV2(storage), 0);
    assert.deepEqual(h1.storage.keys(), ['meta/a/b', 'meta/c', 'upgraded-to-v2']);
    const record = JSON.parse(h1.storage.get('meta/a/b')!.toString('utf8'));
    assert.deepEqual([record.current_version, record.versions['1'].data], [1, { x: '1' }]);
  });
});

test('helpers: Go durations, timestamps, merge patch, subkeys', () => {
  assert.deepEqual([0, 45, 150, 3600, 3661].map(goDuration), ['0s', '45s', '2m30s', '1h0m0s', '1h1m1s']);
  assert.equal(timestamp(Date.UTC(2026, 0, 2, 3, 4, 5, 600)), '2026-01-02T03:04:05.6Z');
  assert.equal(timestamp(Date.UTC(2026, 0, 2, 3, 4, 5, 0)), '2026-01-02T03:04:05Z');
  assert.deepEqual(mergePatch({ a: 1, b: { c: 1 } }, { a: null, b: { d: 2 } }), { b: { c: 1, d: 2 } });
  assert.deepEqual(subkeys({ a: { b: 1 } }, 0), { a: { b: null } });
});
