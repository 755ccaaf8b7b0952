import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CatalogEntry } from '#plugin-catalog';
import { versionsWarning } from './catalog.commands.js';

const entry = (type: 'secret' | 'auth', name: string, version: string): CatalogEntry =>
  ({ type, name, version, sha256: 'ab'.repeat(32), command: name, args: [], env: [] }) as unknown as CatalogEntry;

test('versionsWarning: an unversioned read of a plugin that exists only under versions names them, sorted', () => {
  const entries = [entry('secret', 'kv', 'v1.1.0'), entry('secret', 'kv', 'v1.0.0'), entry('auth', 'kv', 'v9.0.0'), entry('secret', 'other', 'v2.0.0')];
  assert.equal(
    versionsWarning(entries, { type: 'secret', name: 'kv' }),
    'Plugin "kv" (secret) has no unversioned catalog entry; it is registered with version v1.0.0, v1.1.0. Read one with ?version=v1.0.0 (coffer plugin info -version=v1.0.0 secret kv)',
  );
});

test('versionsWarning: nothing to say for a versioned read, an untyped one, or a name with no versions', () => {
  const entries = [entry('secret', 'kv', 'v1.0.0')];
  assert.equal(versionsWarning(entries, { type: 'secret', name: 'kv', version: 'v2.0.0' }), undefined);
  assert.equal(versionsWarning(entries, { name: 'kv' } as never), undefined);
  assert.equal(versionsWarning(entries, { type: 'secret', name: 'nope' }), undefined);
  assert.equal(versionsWarning(entries, { type: 'auth', name: 'kv' }), undefined);
});
