import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CofferError, type MountEnableRequest, type MountEnabledV1 } from '#contracts';
import type { StoredEvent } from '#event-store';
import { mountTableProjection, type Mount, type MountTableState } from '#mount-table';
import { catalogKey, type CatalogEntry, type CatalogState } from '#plugin-catalog';
import {
  CatalogMissError,
  decideDisable,
  decideEnable,
  decideRemount,
  decideTune,
  findConflict,
  mountPathError,
  randomIds,
  sanitizeMountPath,
  type IdSource,
} from './mount-rules.js';

const OPTS = { systemMaxLeaseTtl: 768 * 3600 };

function catalogOf(...entries: Partial<CatalogEntry>[]): CatalogState {
  const state: CatalogState = { entries: {} };
  for (const e of entries) {
    const full: CatalogEntry = { type: 'secret', name: 'x', version: '', sha256: 'a'.repeat(64), command: 'x', args: [], env: [], ...e };
    state.entries[catalogKey(full.type, full.name, full.version)] = full;
  }
  return state;
}

const CATALOG = catalogOf(
  { type: 'secret', name: 'my-mock-plugin', version: 'v0.0.0+mock' },
  { type: 'auth', name: 'userpass', version: '' },
  { type: 'secret', name: 'kv', version: '' },
);

function mount(table: 'secret' | 'auth', path: string, extra: Partial<Mount> = {}): Mount {
  return {
    table,
    path,
    type: 'my-mock-plugin',
    pluginName: 'my-mock-plugin',
    uuid: `uuid-${table}-${path}`,
    accessor: `acc-${table}-${path}`,
    description: '',
    config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, forceNoCache: false, pluginVersion: 'v0.0.0+mock' },
    options: null,
    local: false,
    sealWrap: false,
    ...extra,
  };
}

function tableOf(...mounts: Mount[]): MountTableState {
  const state: MountTableState = { secret: {}, auth: {} };
  for (const m of mounts) state[m.table][m.path] = m;
  return state;
}

const fixedIds = (...suffixes: string[]): IdSource => {
  let i = 0;
  return { uuid: () => '11111111-2222-4333-8444-555555555555', accessorSuffix: () => suffixes[Math.min(i++, suffixes.length - 1)] };
};

function enable(req: Partial<MountEnableRequest>, mounts = tableOf(), catalog = CATALOG, ids = fixedIds('0a1b2c3d')): MountEnabledV1 {
  return decideEnable(mounts, catalog, { table: 'secret', path: 'p', type: 'my-mock-plugin', ...req } as MountEnableRequest, OPTS, ids);
}

/** Asserts a CofferError 'invalid-request' with exactly this text. */
function refuses(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CofferError, `a CofferError, got ${String(err)}`);
    assert.equal(err.code, 'invalid-request');
    assert.equal(err.message, message);
    return true;
  });
}

describe('enable', () => {
  test('the guide\'s way: type "plugin" with plugin_name', () => {
    const e = enable({ path: 'my-secrets-plugin', type: 'plugin', pluginName: 'my-mock-plugin', description: 'd' });
    assert.deepEqual(e, {
      v: 1,
      table: 'secret',
      path: 'my-secrets-plugin/',
      type: 'my-mock-plugin',
      pluginName: 'my-mock-plugin',
      uuid: '11111111-2222-4333-8444-555555555555',
      accessor: 'my-mock-plugin_0a1b2c3d',
      description: 'd',
      config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, forceNoCache: false, pluginVersion: 'v0.0.0+mock' },
      options: null,
      local: false,
      sealWrap: false,
    });
  });

  test('type = the plugin name; leading slashes go, a trailing one is added', () => {
    const e = enable({ path: '//mock', type: 'my-mock-plugin' });
    assert.equal(e.path, 'mock/');
    assert.equal(e.type, 'my-mock-plugin');
  });

  test('auth accessors are auth_<type>_<8 hex>; secret ones <type>_<8 hex>', () => {
    const a = decideEnable(tableOf(), CATALOG, { table: 'auth', path: 'userpass', type: 'userpass' }, OPTS);
    assert.match(a.accessor, /^auth_userpass_[0-9a-f]{8}$/);
    assert.match(a.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const s = decideEnable(tableOf(), CATALOG, { table: 'secret', path: 'm', type: 'my-mock-plugin' }, OPTS, randomIds);
    assert.match(s.accessor, /^my-mock-plugin_[0-9a-f]{8}$/);
  });

  test('an accessor already taken is drawn again', () => {
    const mounts = tableOf(mount('secret', 'a/', { accessor: 'my-mock-plugin_0a1b2c3d' }));
    assert.equal(enable({ path: 'b' }, mounts, CATALOG, fixedIds('0a1b2c3d', 'ffffffff')).accessor, 'my-mock-plugin_ffffffff');
  });

  test('a plugin of the wrong type: Coffer\'s texts, naming the plugin', () => {
    refuses(
      () => decideEnable(tableOf(), CATALOG, { table: 'auth', path: 'my-auth-plugin', type: 'plugin', pluginName: 'my-mock-plugin' }, OPTS),
      "cannot mount 'my-mock-plugin' of type 'secret' as an auth method",
    );
    refuses(() => enable({ path: 'up', type: 'userpass' }), "cannot mount 'userpass' of type 'auth' as a secrets engine");
  });

  test('a plugin not in the catalog, with the version when one was asked for', () => {
    refuses(() => enable({ type: 'nope' }), 'plugin not found in the catalog: nope');
    refuses(() => enable({ type: 'my-mock-plugin', config: { pluginVersion: '1.2.3' } }), 'plugin not found in the catalog: my-mock-plugin, version=v1.2.3');
    assert.throws(() => enable({ type: 'nope' }), CatalogMissError, 'a miss the command re-checks after catching the catalog up');
  });

  test('reserved secrets paths, nested ones included; look-alikes are fine', () => {
    for (const p of ['audit', 'auth', 'sys', 'cubbyhole', 'identity']) refuses(() => enable({ path: p }), `cannot mount "${p}/"`);
    refuses(() => enable({ path: 'sys/foo' }), 'cannot mount "sys/foo/"');
    refuses(() => enable({ path: 'auth/userpass' }), 'cannot mount "auth/userpass/"');
    assert.equal(enable({ path: 'system-secrets' }).path, 'system-secrets/');
  });

  test('singleton types are not mountable', () => {
    for (const t of ['cubbyhole', 'system', 'token', 'identity']) refuses(() => enable({ type: t }), `mount type of "${t}" is not mountable`);
    refuses(() => enable({ type: 'plugin', pluginName: 'identity' }), 'mount type of "identity" is not mountable');
  });

  test('the token auth method is the gateway\'s own', () => {
    const auth = (req: Partial<MountEnableRequest>) =>
      decideEnable(tableOf(), CATALOG, { table: 'auth', path: 'x', type: 'userpass', ...req } as MountEnableRequest, OPTS);
    refuses(() => auth({ path: 'token' }), 'token credential backend cannot be instantiated');
    refuses(() => auth({ path: 'other', type: 'token' }), 'token credential backend cannot be instantiated');
    refuses(() => auth({ path: 'token/nested' }), 'path is already in use at token/');
  });

  test('prefix conflicts in both directions, within one table', () => {
    const mounts = tableOf(mount('secret', 'a/'), mount('secret', 'x/y/'), mount('auth', 'userpass/', { type: 'userpass' }));
    refuses(() => enable({ path: 'a' }, mounts), 'path is already in use at a/');
    refuses(() => enable({ path: 'a/b' }, mounts), 'path is already in use at a/');
    refuses(() => enable({ path: 'x' }, mounts), 'path is already in use at x/y/');
    assert.equal(enable({ path: 'ab' }, mounts).path, 'ab/', 'a sibling sharing letters is no conflict');
    assert.equal(enable({ path: 'userpass' }, mounts).path, 'userpass/', 'the auth table is another namespace');
    refuses(
      () => decideEnable(mounts, CATALOG, { table: 'auth', path: 'userpass/more', type: 'userpass' }, OPTS),
      'path is already in use at userpass/',
    );
    assert.equal(findConflict(mounts.secret, 'q/')?.path, undefined);
  });

  test('bad paths', () => {
    refuses(() => enable({ path: '' }), 'backend path must be specified');
    refuses(() => enable({ path: '/' }), 'backend path must be specified');
    refuses(() => enable({ path: 'a//b' }), "path 'a//b/' does not match cleaned path 'a/b/'");
    refuses(() => enable({ path: 'a/../b' }), "path 'a/../b/' does not match cleaned path 'b/'");
    refuses(() => enable({ path: '../b' }), "path '../b/' cannot contain '.' or '..' segments");
    refuses(() => enable({ path: 'a\u0007b' }), 'path cannot contain non-printable characters');
    assert.equal(mountPathError('a/b/'), undefined);
    assert.equal(sanitizeMountPath('///kv'), 'kv/');
  });

  test('lease TTLs', () => {
    refuses(() => enable({ config: { defaultLeaseTtl: 7200, maxLeaseTtl: 3600 } }), 'given default lease TTL greater than given max lease TTL');
    refuses(
      () => enable({ config: { defaultLeaseTtl: OPTS.systemMaxLeaseTtl + 1 } }),
      `given default lease TTL greater than system max lease TTL of ${OPTS.systemMaxLeaseTtl}`,
    );
    assert.deepEqual(enable({ config: { defaultLeaseTtl: 3600, maxLeaseTtl: 3600 } }).config.maxLeaseTtl, 3600);
    assert.equal(enable({ config: { defaultLeaseTtl: 0, maxLeaseTtl: 60 } }).config.defaultLeaseTtl, 0);
  });

  test('type checks and Vault\'s order (TTLs before type, type before path)', () => {
    refuses(() => enable({ type: '' }), 'backend type must be specified as a string');
    refuses(() => enable({ type: 'plugin' }), 'plugin_name must be provided for plugin backend');
    refuses(() => enable({ type: '', config: { defaultLeaseTtl: 2, maxLeaseTtl: 1 } }), 'given default lease TTL greater than given max lease TTL');
    refuses(() => enable({ type: '', path: 'sys' }), 'backend type must be specified as a string');
    refuses(() => enable({ path: 'sys', type: 'nope' }), 'cannot mount "sys/"');
  });

  test('a version option only for kv', () => {
    refuses(() => enable({ options: { version: '2' } }), 'secrets engine "my-mock-plugin" does not allow setting a version');
    refuses(
      () => decideEnable(tableOf(), CATALOG, { table: 'auth', path: 'u', type: 'userpass', options: { version: '1' } }, OPTS),
      'auth method "userpass" does not allow setting a version',
    );
    assert.deepEqual(enable({ type: 'kv', options: { version: '2' } }).options, { version: '2' });
    assert.deepEqual(enable({ options: { other: 'x' } }).options, { other: 'x' });
  });

  test('the plugin version is pinned to the entry selected', () => {
    const catalog = catalogOf({ name: 'multi', version: 'v1.0.0' }, { name: 'multi', version: 'v1.10.0' }, { name: 'multi', version: 'v1.2.0' });
    assert.equal(enable({ type: 'multi' }, tableOf(), catalog).config.pluginVersion, 'v1.10.0', 'the newest, when none is unversioned');
    assert.equal(enable({ type: 'multi', config: { pluginVersion: '1.0.0' } }, tableOf(), catalog).config.pluginVersion, 'v1.0.0');
    assert.equal(enable({ type: 'kv' }).config.pluginVersion, '', 'the unversioned entry stays unversioned');
    refuses(() => enable({ type: 'multi', config: { pluginVersion: 'one' } }, tableOf(), catalog), 'version "one" is not a valid semantic version: Malformed version: one');
  });

  test('two enables of one path at once: the one re-deciding after the other\'s append loses', () => {
    const state = tableOf();
    const first = enable({ path: 'raced' }, state);
    const second = enable({ path: 'raced' }, state);
    assert.equal(second.path, first.path, 'decided on the same version, both looked fine');
    mountTableProjection.fold(state, stored('MountEnabled', first));
    refuses(() => enable({ path: 'raced' }, state), 'path is already in use at raced/');
  });
});

describe('disable', () => {
  test('absent is no event; present is MountDisabled with the uuid', () => {
    const mounts = tableOf(mount('secret', 'a/'), mount('auth', 'userpass/'));
    assert.equal(decideDisable(mounts, { table: 'secret', path: 'nothing' }), null);
    assert.equal(decideDisable(mounts, { table: 'secret', path: 'a/b' }), null, 'only an exact path disables');
    assert.deepEqual(decideDisable(mounts, { table: 'secret', path: 'a' }), { v: 1, table: 'secret', path: 'a/', uuid: 'uuid-secret-a/' });
    assert.deepEqual(decideDisable(mounts, { table: 'auth', path: 'userpass/' }), { v: 1, table: 'auth', path: 'userpass/', uuid: 'uuid-auth-userpass/' });
  });

  test('built-ins cannot be disabled', () => {
    const mounts = tableOf(mount('auth', 'userpass/'));
    refuses(() => decideDisable(mounts, { table: 'auth', path: 'token' }), 'token credential backend cannot be disabled');
    refuses(() => decideDisable(mounts, { table: 'secret', path: 'sys' }), 'cannot unmount "sys/"');
    refuses(() => decideDisable(mounts, { table: 'secret', path: 'auth/userpass' }), 'cannot unmount "auth/userpass/"');
  });
});

describe('tune', () => {
  const mounts = tableOf(
    mount('secret', 'a/', { description: 'old', options: { keep: '1', drop: '2' }, config: { defaultLeaseTtl: 60, maxLeaseTtl: 120, forceNoCache: false, pluginVersion: 'v0.0.0+mock' } }),
    mount('auth', 'userpass/', { type: 'userpass', pluginName: 'userpass', config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, forceNoCache: false, pluginVersion: '' } }),
  );
  const catalog = catalogOf(
    { name: 'my-mock-plugin', version: 'v0.0.0+mock' },
    { name: 'my-mock-plugin', version: 'v1.0.0' },
    { type: 'auth', name: 'userpass', version: '' },
  );

  test('nothing to change is no event', () => {
    assert.equal(decideTune(mounts, catalog, { table: 'secret', path: 'a' }), null);
    assert.equal(decideTune(mounts, catalog, { table: 'secret', path: 'a', description: 'old', config: { defaultLeaseTtl: 60 } }), null);
  });

  test('TTLs, description, options (upsert; empty removes), plugin version', () => {
    assert.deepEqual(
      decideTune(mounts, catalog, {
        table: 'secret',
        path: 'a/',
        description: 'new',
        config: { defaultLeaseTtl: 30, maxLeaseTtl: 0, pluginVersion: '1.0.0' },
        options: { drop: '', add: '3' },
      }),
      {
        v: 1,
        table: 'secret',
        path: 'a/',
        description: 'new',
        config: { defaultLeaseTtl: 30, maxLeaseTtl: 0, pluginVersion: 'v1.0.0' },
        options: { keep: '1', add: '3' },
      },
    );
  });

  test('max below default, when both are set', () => {
    refuses(
      () => decideTune(mounts, catalog, { table: 'secret', path: 'a', config: { maxLeaseTtl: 30 } }),
      'backend max lease TTL of 30 would be less than backend default lease TTL of 60',
    );
    assert.ok(decideTune(mounts, catalog, { table: 'secret', path: 'a', config: { defaultLeaseTtl: 0, maxLeaseTtl: 30 } }));
  });

  test('a plugin version must be in the catalog, under the mount\'s table', () => {
    refuses(
      () => decideTune(mounts, catalog, { table: 'secret', path: 'a', config: { pluginVersion: 'v9.9.9' } }),
      'plugin not found in the catalog: my-mock-plugin, version=v9.9.9',
    );
    refuses(
      () => decideTune(mounts, catalog, { table: 'auth', path: 'userpass', config: { pluginVersion: 'v1.0.0' } }),
      'plugin not found in the catalog: userpass, version=v1.0.0',
    );
  });

  test('longest prefix finds the mount; nothing there is Vault\'s text with the full path', () => {
    assert.equal(decideTune(mounts, catalog, { table: 'secret', path: 'a/deeper', description: 'x' })?.path, 'a/');
    refuses(() => decideTune(mounts, catalog, { table: 'secret', path: 'b' }), 'tune of path "b/" failed: no mount entry found');
    refuses(() => decideTune(mounts, catalog, { table: 'auth', path: 'ldap' }), 'tune of path "auth/ldap/" failed: no mount entry found');
    refuses(() => decideTune(mounts, catalog, { table: 'secret', path: 'sys' }), 'cannot tune "sys/"');
  });
});

describe('remount', () => {
  const mounts = tableOf(mount('secret', 'a/'), mount('secret', 'b/'), mount('auth', 'userpass/'), mount('auth', 'other/'));

  test('moves a mount to a free path', () => {
    assert.deepEqual(decideRemount(mounts, { table: 'secret', from: 'a', to: 'c/d' }), { v: 1, table: 'secret', from: 'a/', to: 'c/d/' });
    assert.deepEqual(decideRemount(mounts, { table: 'auth', from: 'userpass', to: 'up' }), { v: 1, table: 'auth', from: 'userpass/', to: 'up/' });
  });

  test('refusals, with Vault\'s texts', () => {
    refuses(() => decideRemount(mounts, { table: 'secret', from: '', to: 'x' }), "both 'from' and 'to' path must be specified as a string");
    refuses(() => decideRemount(mounts, { table: 'secret', from: ' a', to: 'x' }), "'from' path cannot contain trailing whitespace");
    refuses(() => decideRemount(mounts, { table: 'secret', from: 'a', to: 'x ' }), "'to' path cannot contain trailing whitespace");
    refuses(() => decideRemount(mounts, { table: 'secret', from: 'zz', to: 'x' }), 'no matching mount at "zz/"');
    refuses(() => decideRemount(mounts, { table: 'secret', from: 'a', to: 'b' }), 'path already in use at "b/"');
    refuses(() => decideRemount(mounts, { table: 'secret', from: 'a', to: 'a/inner' }), 'path already in use at "a/"');
    refuses(() => decideRemount(mounts, { table: 'secret', from: 'a', to: 'sys/x' }), 'cannot remount to destination sys/x/');
    refuses(() => decideRemount(mounts, { table: 'secret', from: 'a', to: 'auth/x' }), 'cannot remount to destination auth/x/');
    refuses(() => decideRemount(mounts, { table: 'secret', from: 'sys', to: 'x' }), 'cannot remount "sys/"');
    refuses(() => decideRemount(mounts, { table: 'secret', from: 'a', to: 'x//y' }), "invalid destination mount: path 'x//y/' does not match cleaned path 'x/y/'");
    refuses(() => decideRemount(mounts, { table: 'auth', from: 'token', to: 'x' }), 'cannot remount "auth/token/"');
    refuses(() => decideRemount(mounts, { table: 'auth', from: 'userpass', to: 'token' }), 'cannot remount to destination "auth/token/"');
    refuses(() => decideRemount(mounts, { table: 'auth', from: 'userpass', to: 'other' }), 'path already in use at "auth/other/"');
    refuses(() => decideRemount(mounts, { table: 'auth', from: 'nope', to: 'x' }), 'no matching mount at "auth/nope/"');
  });
});

let version = 0;
function stored(type: string, data: unknown, metadata: Record<string, unknown> = {}): StoredEvent {
  version++;
  return { position: version, stream: 'mount-table', version, type, data, metadata, recordedAt: new Date(0) };
}

describe('builtins and the kv aliases', () => {
  const builtinKv: CatalogEntry = { type: 'secret', name: 'kv', version: 'v0.1.0+builtin', sha256: 'b'.repeat(64), command: 'kv', args: [], env: [], builtin: true };
  const withBuiltin = (registered: Partial<CatalogEntry>[] = []): CatalogState => ({ ...catalogOf(...registered), builtins: { 'secret/kv': builtinKv } });
  const enable = (catalog: CatalogState, req: Partial<MountEnableRequest>) =>
    decideEnable({ secret: {}, auth: {} }, catalog, { table: 'secret', path: 'p', type: 'kv', ...req } as MountEnableRequest, OPTS);

  test('a builtin mounts with no registration, and is not pinned to its version', () => {
    const e = enable(withBuiltin(), {});
    assert.deepEqual([e.type, e.config.pluginVersion, e.options], ['kv', '', null]);
  });

  test('kv-v2 and kv-v1 are kv with the version option, as in Vault', () => {
    assert.deepEqual([enable(withBuiltin(), { type: 'kv-v2' }).type, enable(withBuiltin(), { type: 'kv-v2' }).options], ['kv', { version: '2' }]);
    assert.deepEqual(enable(withBuiltin(), { type: 'kv-v1' }).options, { version: '1' });
    assert.deepEqual(enable(withBuiltin(), { options: { version: '2' } }).options, { version: '2' });
  });

  test('a registered plugin of the same name and type takes precedence over the builtin', () => {
    const e = enable(withBuiltin([{ type: 'secret', name: 'kv', version: 'v9.0.0' }]), {});
    assert.equal(e.config.pluginVersion, 'v9.0.0');
    // The builtin's own version still names the builtin.
    assert.equal(enable(withBuiltin([{ type: 'secret', name: 'kv', version: 'v9.0.0' }]), { config: { pluginVersion: 'v0.1.0+builtin' } }).config.pluginVersion, '');
  });

  test('tuning kv: the version only goes up, and must be a number', () => {
    const state: MountTableState = { secret: { 'p/': mount('secret', 'p/', { type: 'kv', pluginName: 'kv', options: { version: '2' } }) }, auth: {} };
    assert.throws(() => decideTune(state, withBuiltin(), { table: 'secret', path: 'p', options: { version: '1' } }), /cannot downgrade mount from version 2/);
    assert.throws(() => decideTune(state, withBuiltin(), { table: 'secret', path: 'p', options: { version: 'two' } }), /invalid version provided: two/);
    const v1: MountTableState = { secret: { 'p/': mount('secret', 'p/', { type: 'kv', pluginName: 'kv', options: null }) }, auth: {} };
    assert.deepEqual(decideTune(v1, withBuiltin(), { table: 'secret', path: 'p', options: { version: '2' } })?.options, { version: '2' });
  });
});
