import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Bus } from '#bus';
import { CofferError, catalogSubjects, mountSubjects } from '#contracts';
import type { Mount, MountTableState } from '#mount-table';
import type { ProjectionHost, ServiceContext } from '#runtime';
import { SysMountsHandlers } from './sys-mounts.handlers.js';
import type { VaultRequest, VaultResponse } from '../vault-http.js';

function mount(table: 'secret' | 'auth', path: string, extra: Partial<Mount> = {}): Mount {
  return {
    table,
    path,
    type: 'my-mock-plugin',
    pluginName: 'my-mock-plugin',
    uuid: 'uuid-1',
    accessor: 'my-mock-plugin_0a1b2c3d',
    description: 'desc',
    config: { defaultLeaseTtl: 0, maxLeaseTtl: 90, forceNoCache: false, pluginVersion: 'v0.0.0+mock' },
    options: null,
    local: false,
    sealWrap: false,
    ...extra,
  };
}

/** The handlers against a scripted bus and a fixed table: what they send, and what they answer. */
function setup(state: MountTableState, replies: Record<string, unknown> = {}) {
  const sent: { subject: string; data: unknown }[] = [];
  /** Who each write said it came from, kept apart so the assertions on the message itself stay as they were. */
  const actors: unknown[] = [];
  let catchUps = 0;
  const bus = {
    async request(subject: string, data: unknown) {
      const { actor, ...rest } = data as { actor?: unknown };
      if (actor !== undefined) actors.push(actor);
      sent.push({ subject, data: rest });
      const reply = replies[subject];
      if (reply instanceof Error) throw reply;
      return reply ?? null;
    },
  } as unknown as Bus;
  const host = { state, catchUp: async () => void catchUps++ } as unknown as ProjectionHost<MountTableState>;
  const ctx = { config: { defaultLeaseTtl: 3600, maxLeaseTtl: 7200 } } as unknown as ServiceContext;
  return { handlers: new SysMountsHandlers(bus, host, ctx), sent, actors, catchUps: () => catchUps };
}

function req(data: Record<string, unknown> = {}): VaultRequest {
  return { id: 'r', operation: 'update', path: '', data, query: new URLSearchParams(), headers: {} };
}

function dataOf(r: VaultResponse): Record<string, any> {
  assert.equal(r.kind, 'envelope');
  assert.equal((r as { topLevel?: boolean }).topLevel, true, 'repeated at the top level, as Vault does for these paths');
  return (r as { data: Record<string, any> }).data;
}

async function refuses(p: Promise<unknown>, code: string, message: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof CofferError && err.code === code && err.message === message);
}

const SHA = 'ab'.repeat(32);
const LISTING = { entries: [{ type: 'secret', name: 'my-mock-plugin', version: 'v0.0.0+mock', sha256: SHA, builtin: false }] };

describe('sys/mounts handlers', () => {
  test('list: Vault\'s mountInfo per path, running_sha256 from the catalog', async () => {
    const { handlers } = setup({ secret: { 'kv/': mount('secret', 'kv/') }, auth: {} }, { [catalogSubjects.list]: LISTING });
    const { 'sys/': system, ...listed } = dataOf(await handlers.listMounts()) as Record<string, { type: string }>;
    assert.equal(system.type, 'system');
    assert.deepEqual(listed, {
      'kv/': {
        accessor: 'my-mock-plugin_0a1b2c3d',
        config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 90 },
        deprecation_status: '',
        description: 'desc',
        external_entropy_access: false,
        local: false,
        options: null,
        plugin_version: 'v0.0.0+mock',
        running_plugin_version: 'v0.0.0+mock',
        running_sha256: SHA,
        seal_wrap: false,
        type: 'my-mock-plugin',
        uuid: 'uuid-1',
      },
    });
  });

  test('running_sha256 is "" when the catalog cannot answer', async () => {
    const { handlers } = setup({ secret: { 'kv/': mount('secret', 'kv/') }, auth: {} }, { [catalogSubjects.list]: new CofferError('unavailable', 'x') });
    assert.equal(dataOf(await handlers.listMounts())['kv/'].running_sha256, '');
  });

  test('read: longest prefix; absent is Vault\'s 400', async () => {
    const { handlers } = setup({ secret: { 'kv/': mount('secret', 'kv/') }, auth: { 'userpass/': mount('auth', 'userpass/', { type: 'userpass' }) } });
    assert.equal(dataOf(await handlers.readMount(req(), 'kv/deeper')).uuid, 'uuid-1');
    assert.equal(dataOf(await handlers.readMount(req(), 'auth/userpass')).type, 'userpass');
    await refuses(handlers.readMount(req(), 'nothing'), 'invalid-request', 'No secret engine mount at nothing/');
  });

  test('enable: Vault\'s body becomes the bus request; 204 after catching the projection up', async () => {
    const { handlers, sent, catchUps } = setup({ secret: {}, auth: {} });
    const r = await handlers.enableMount(
      req({
        type: 'plugin',
        plugin_name: 'my-mock-plugin',
        description: 'd',
        config: { default_lease_ttl: '1h', max_lease_ttl: 7200, force_no_cache: 'true', plugin_version: '0.0.0+mock' },
        options: { a: 1 },
        local: true,
        seal_wrap: false,
      }),
      'my-secrets-plugin',
    );
    assert.deepEqual(r, { kind: 'empty' });
    assert.equal(catchUps(), 1);
    assert.deepEqual(sent, [
      {
        subject: mountSubjects.enable,
        data: {
          table: 'secret',
          path: 'my-secrets-plugin',
          type: 'plugin',
          pluginName: 'my-mock-plugin',
          description: 'd',
          config: { defaultLeaseTtl: 3600, maxLeaseTtl: 7200, forceNoCache: true, pluginVersion: '0.0.0+mock' },
          options: { a: '1' },
          local: true,
          sealWrap: false,
        },
      },
    ]);
  });

  test('enable: TTL texts are handleMount\'s; "system" is 0', async () => {
    const { handlers, sent } = setup({ secret: {}, auth: {} });
    await refuses(handlers.enableMount(req({ type: 'x', config: { default_lease_ttl: 'abc' } }), 'p'), 'invalid-request', 'unable to parse default TTL of abc: time: invalid duration "abc"');
    await refuses(handlers.enableMount(req({ type: 'x', config: { max_lease_ttl: '1x' } }), 'p'), 'invalid-request', 'unable to parse max TTL of 1x: time: unknown unit "x" in duration "1x"');
    await handlers.enableAuth(req({ type: 'userpass', config: { default_lease_ttl: 'system' } }), 'userpass');
    assert.deepEqual(sent.at(-1), {
      subject: mountSubjects.enable,
      data: {
        table: 'auth',
        path: 'userpass',
        type: 'userpass',
        pluginName: undefined,
        description: '',
        config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, forceNoCache: false, pluginVersion: undefined },
        options: null,
        local: false,
        sealWrap: false,
      },
    });
  });

  test('tune: read shows effective TTLs; write sends only what was given', async () => {
    const { handlers, sent } = setup({ secret: { 'kv/': mount('secret', 'kv/') }, auth: {} });
    assert.deepEqual(dataOf(await handlers.readMountTune(req(), 'kv')), {
      default_lease_ttl: 3600,
      description: 'desc',
      force_no_cache: false,
      max_lease_ttl: 90,
      plugin_version: 'v0.0.0+mock',
    });
    await refuses(handlers.readMountTune(req(), 'nope'), 'invalid-request', 'cannot fetch sysview for path "nope/"');
    await handlers.tuneMount(req({ default_lease_ttl: 'system', max_lease_ttl: '', description: 'new' }), 'kv');
    assert.deepEqual(sent.at(-1), { subject: mountSubjects.tune, data: { table: 'secret', path: 'kv/', config: { defaultLeaseTtl: 0 }, description: 'new' } });
    await handlers.tuneMount(req({ plugin_version: 'v1.0.0' }), 'auth/userpass');
    assert.deepEqual(sent.at(-1), { subject: mountSubjects.tune, data: { table: 'auth', path: 'userpass/', config: { pluginVersion: 'v1.0.0' } } });
  });

  test('disable: 204, absent or not', async () => {
    const { handlers, sent } = setup({ secret: {}, auth: {} });
    assert.deepEqual(await handlers.disableMount(req(), 'gone'), { kind: 'empty' });
    assert.deepEqual(sent, [{ subject: mountSubjects.disable, data: { table: 'secret', path: 'gone' } }]);
  });
});

describe('sys/auth handlers', () => {
  test('the token method is always listed, with stable identifiers; others keyed without auth/', async () => {
    const { handlers } = setup({ secret: {}, auth: { 'userpass/': mount('auth', 'userpass/', { type: 'userpass', pluginName: 'userpass' }) } });
    const data = dataOf(await handlers.listAuth());
    assert.deepEqual(Object.keys(data), ['token/', 'userpass/']);
    assert.equal(data['token/'].type, 'token');
    assert.match(data['token/'].accessor, /^auth_token_[0-9a-f]{8}$/);
    assert.deepEqual(data['token/'], dataOf(await handlers.readAuth(req(), 'token')));
    assert.equal(data['userpass/'].config.token_type, 'default-service');
  });

  test('read is exact; absent is Vault\'s text', async () => {
    const { handlers } = setup({ secret: {}, auth: { 'userpass/': mount('auth', 'userpass/') } });
    await refuses(handlers.readAuth(req(), 'userpass/more'), 'invalid-request', 'No auth engine at userpass/more/');
  });
});

describe('sys/remount handlers', () => {
  test('an auth/ source moves within the auth table', async () => {
    const { handlers, sent } = setup({ secret: {}, auth: {} }, { [mountSubjects.remount]: { migrationId: 'm1' } });
    const r = await handlers.remount(req({ from: 'auth/userpass', to: 'auth/up' }));
    assert.deepEqual(dataOf(r), { migration_id: 'm1' });
    assert.deepEqual(sent, [{ subject: mountSubjects.remount, data: { table: 'auth', from: 'userpass/', to: 'up/' } }]);
    await refuses(handlers.remount(req({ from: 'auth/userpass', to: 'up' })), 'invalid-request', 'cannot remount auth mount to non-auth mount "up/"');
    await handlers.remount(req({ from: 'a', to: 'b' }));
    assert.deepEqual(sent.at(-1), { subject: mountSubjects.remount, data: { table: 'secret', from: 'a', to: 'b' } });
  });

  test('status in Vault\'s shape; unknown id is a bare 404', async () => {
    const status = { migrationId: 'm1', sourceMount: 'a/', targetMount: 'b/', status: 'success' };
    const { handlers } = setup({ secret: {}, auth: {} }, { [mountSubjects.remountStatus]: status });
    assert.deepEqual(dataOf(await handlers.remountStatus(req(), 'm1')), {
      migration_id: 'm1',
      migration_info: { source_mount: 'a/', target_mount: 'b/', status: 'success' },
    });
    const none = setup({ secret: {}, auth: {} });
    await refuses(none.handlers.remountStatus(req(), 'nope'), 'not-found', '');
  });

  test('every write names its actor: the request id and the caller\'s accessor, never the token', async () => {
    const { handlers, actors } = setup({ secret: { 'kv/': mount('secret', 'kv/') }, auth: {} }, { [mountSubjects.remount]: { migrationId: 'm1' } });
    const r = { ...req({ type: 'kv' }), token: 'hvs.secret-token', callerAccessor: 'acc-1' };
    await handlers.enableMount(r, 'kv2');
    await handlers.tuneMount(r, 'kv');
    await handlers.disableMount(r, 'kv2');
    await handlers.remount({ ...r, data: { from: 'kv', to: 'kv3' } });
    assert.deepEqual(actors, Array(4).fill({ requestId: 'r', actorAccessor: 'acc-1' }));
  });
});
