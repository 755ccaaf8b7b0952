import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createHarness,
  defineBackend,
  definePath,
  defineRoute,
  genericNameRegex,
  HARNESS_TOKEN_ACCESSOR,
  listResponse,
  matchesSpecialPath,
  PluginError,
  toPluginImplementation,
  type BackendDeclaration,
  type HarnessResult,
  type PathDeclaration,
  type Request,
  type RequestOf,
} from './index.js';

function backend(paths: PathDeclaration<string, any>[], more: Partial<BackendDeclaration> = {}) {
  return defineBackend({ type: 'secret', name: 'test', version: 'v1.0.0', help: 'A test backend.', paths, ...more });
}

/** Asserts a PluginError result and returns it. */
function failed(result: HarnessResult, kind: string, message: string | RegExp): PluginError {
  assert.ok(result.error, `expected an error, got ${JSON.stringify(result.response)}`);
  assert.equal(result.error.kind, kind);
  if (typeof message === 'string') assert.equal(result.error.message, message);
  else assert.match(result.error.message, message);
  return result.error;
}

function data(result: HarnessResult): Record<string, unknown> | null | undefined {
  assert.ok(!result.error, `unexpected error: ${result.error?.kind} ${result.error?.message}`);
  return result.response?.data;
}

const echo = (req: Request<Record<string, unknown>>) => ({ data: { ...req.data } });

test('routing: the first declared pattern that matches the whole path; named groups become fields', async () => {
  const harness = createHarness(
    backend([
      { pattern: 'items/?', operations: { list: () => ({ data: { route: 'list' } }) } },
      { pattern: `items/${genericNameRegex('name')}`, operations: { read: (req) => ({ data: { route: 'one', name: req.data.name } }) } },
      { pattern: 'items/(?<name>.+)/(?<part>[a-z]+)', operations: { read: (req) => ({ data: { route: 'part', ...req.data } }) } },
      { pattern: 'items/(?<rest>.+)', operations: { read: (req) => ({ data: { route: 'catch-all', rest: req.data.rest } }) } },
    ]),
  );
  assert.deepEqual(data(await harness.request('list', 'items/')), { route: 'list' });
  assert.deepEqual(data(await harness.request('list', 'items')), { route: 'list' });
  assert.deepEqual(data(await harness.request('read', 'items/a.b-c')), { route: 'one', name: 'a.b-c' });
  assert.deepEqual(data(await harness.request('read', 'items/x/y/abc')), { route: 'part', name: 'x/y', part: 'abc' });
  // Not a whole match for the name route (trailing dot), so the next pattern takes it.
  assert.deepEqual(data(await harness.request('read', 'items/a.')), { route: 'catch-all', rest: 'a.' });
  // Anchored: a pattern never matches a part of the path.
  failed(await harness.request('read', 'xitems/a'), 'unsupported-path', 'unsupported path');
});

test("patterns copied from Vault's Go code ((?P<name>...)) work, and alternatives are anchored as a whole", async () => {
  const harness = createHarness(
    backend([
      { pattern: 'go/(?P<name>\\w+)', operations: { read: echo } },
      { pattern: 'a|b', operations: { read: () => ({ data: { alt: true } }) } },
    ]),
  );
  assert.deepEqual(data(await harness.request('read', 'go/x')), { name: 'x' });
  assert.deepEqual(data(await harness.request('read', 'b')), { alt: true });
  failed(await harness.request('read', 'ab'), 'unsupported-path', 'unsupported path');
});

test('unknown path → unsupported-path; a verb the path lacks → unsupported-operation (Vault texts)', async () => {
  const harness = createHarness(backend([{ pattern: 'only-read', operations: { read: () => ({ data: {} }) } }]));
  failed(await harness.request('read', 'nothing/here'), 'unsupported-path', 'unsupported path');
  failed(await harness.request('delete', 'only-read'), 'unsupported-operation', 'unsupported operation');
  failed(await harness.request('list', 'only-read'), 'unsupported-operation', 'unsupported operation');
  failed(await harness.request('update', 'only-read', {}), 'unsupported-operation', 'unsupported operation');
});

const typed = definePath({
  pattern: 'typed',
  fields: {
    s: { type: 'string' },
    i: { type: 'int' },
    b: { type: 'bool' },
    d: { type: 'duration' },
    m: { type: 'map' },
    l: { type: 'list' },
    c: { type: 'comma-list' },
  },
  operations: { update: echo, read: echo },
});

test('every field type arrives converted; absent fields get their zero value', async () => {
  const harness = createHarness(backend([typed]));
  assert.deepEqual(
    data(await harness.request('update', 'typed', { s: 5, i: '42', b: 'true', d: '1h', m: { k: 'v' }, l: ['x', ' y '], c: 'p, q' })),
    { s: '5', i: 42, b: true, d: 3600, m: { k: 'v' }, l: ['x', 'y'], c: ['p', 'q'] },
  );
  assert.deepEqual(data(await harness.request('read', 'typed')), { s: '', i: 0, b: false, d: 0, m: {}, l: [], c: [] });
  // JSON null is "not given".
  assert.deepEqual(data(await harness.request('update', 'typed', { i: null }))?.i, 0);
});

test('a value that does not convert is a 400 with Vault\'s "Field validation failed" text, before the handler runs', async () => {
  let called = false;
  const harness = createHarness(
    backend([{ pattern: 'x', fields: { ttl: { type: 'duration' }, n: { type: 'int' } }, operations: { update: () => ((called = true), null) } }]),
  );
  failed(
    await harness.request('update', 'x', { ttl: 'soon' }),
    'invalid-request',
    'Field validation failed: error converting input soon for field "ttl": time: invalid duration "soon"',
  );
  failed(
    await harness.request('update', 'x', { n: 'many' }),
    'invalid-request',
    `Field validation failed: error converting input many for field "n": cannot parse '' as int: strconv.ParseInt: parsing "many": invalid syntax`,
  );
  assert.equal(called, false);
});

test('defaults apply when a field is absent, converted like input; has() tells given from defaulted', async () => {
  const harness = createHarness(
    backend([
      definePath({
        pattern: 'defaults',
        fields: {
          ttl: { type: 'duration', default: '1h' },
          tags: { type: 'comma-list', default: 'a,b' },
          on: { type: 'bool', default: true },
        },
        operations: {
          update: (req) => {
            req.data.tags.push('mutated'); // must not leak into the next request's default
            return { data: { ...req.data, givenTtl: req.has('ttl'), givenOn: req.has('on') } };
          },
        },
      }),
    ]),
  );
  assert.deepEqual(data(await harness.request('update', 'defaults', { on: false })), {
    ttl: 3600,
    tags: ['a', 'b', 'mutated'],
    on: false,
    givenTtl: false,
    givenOn: true,
  });
  assert.deepEqual((data(await harness.request('update', 'defaults')) as { tags: string[] }).tags, ['a', 'b', 'mutated']);
});

test('required fields are enforced on writes', async () => {
  const harness = createHarness(
    backend([{ pattern: 'r', fields: { name: { type: 'string', required: true } }, operations: { update: echo, read: echo } }]),
  );
  failed(await harness.request('update', 'r', {}), 'invalid-request', 'Field validation failed: missing required field "name"');
  assert.deepEqual(data(await harness.request('update', 'r', { name: 'x' })), { name: 'x' });
  assert.deepEqual(data(await harness.request('read', 'r')), { name: '' });
});

test("unknown body fields: the handler still runs and the answer carries Vault's warning (sorted, Go list)", async () => {
  const harness = createHarness(backend([{ pattern: 'w', fields: { known: { type: 'string' } }, operations: { update: echo, delete: () => null } }]));
  const result = await harness.request('update', 'w', { known: 'k', zeta: 1, alpha: 2, mid: 3 });
  assert.deepEqual(result.response, {
    data: { known: 'k' },
    warnings: ['Endpoint ignored these unrecognized parameters: [alpha mid zeta]'],
  });
  // Like Vault, no response (204) means nowhere to put the warning.
  assert.deepEqual(await harness.request('delete', 'w', { stray: 1 }), { response: null });
});

test('a body value hidden by a path capture is a warning even when the write answers nothing (200, not a silent 204)', async () => {
  const stored: string[] = [];
  const harness = createHarness(
    backend([
      {
        pattern: 'p/(?<name>\\w+)',
        operations: {
          update: (req) => (stored.push(String(req.data.name)), null),
          read: () => null,
        },
      },
    ]),
  );
  assert.deepEqual((await harness.request('update', 'p/real', { name: 'fake' })).response, {
    warnings: ["Endpoint replaced the value of these parameters with the values captured from the endpoint's path: [name]"],
  });
  assert.deepEqual(stored, ['real']);
  // Without the clash a write that answers nothing is still a 204, and a read that finds nothing still a 404.
  assert.deepEqual(await harness.request('update', 'p/real'), { response: null });
  assert.deepEqual(await harness.request('read', 'p/real', { name: 'fake' }), { response: null });
});

test('defineRoute: handlers written apart from their path are typed from the pattern and fields', async () => {
  const user = defineRoute('users/(?<name>\\w+)', { ttl: { type: 'duration' }, admin: { type: 'bool' } });
  const readUser = user.handler((req) => {
    const ttl: number = req.data.ttl;
    const name: string = req.data.name;
    // @ts-expect-error: not a field of this route
    void req.data.password;
    return { data: { name, ttl, admin: req.data.admin } };
  });
  async function writeUser(req: RequestOf<typeof user>) {
    const admin: boolean = req.data.admin;
    await req.storage.putJson(`users/${req.data.name}`, { ttl: req.data.ttl, admin });
    return null;
  }
  const unannotated = (req: Request) => {
    // @ts-expect-error: Request's default data type is unknown, so forgetting the parameter is caught
    void req.data.anything;
    return null;
  };
  void unannotated;
  const harness = createHarness(backend([user.path({ operations: { read: readUser, update: writeUser }, help: 'A user.' })]));
  assert.deepEqual(await harness.request('update', 'users/ann', { ttl: '1h', admin: 'true' }), { response: null });
  assert.deepEqual(JSON.parse(harness.storage.get('users/ann')!.toString()), { ttl: 3600, admin: true });
  assert.deepEqual((await harness.request('read', 'users/ann', { ttl: 90 })).response, { data: { name: 'ann', ttl: 90, admin: false } });
});

test('handler warnings come first; a body value for a path capture is replaced, with a warning', async () => {
  const harness = createHarness(
    backend([{ pattern: 'p/(?<name>\\w+)', operations: { update: (req) => ({ data: { ...req.data }, warnings: ['own warning'] }) } }]),
  );
  assert.deepEqual((await harness.request('update', 'p/real', { name: 'fake' })).response, {
    data: { name: 'real' },
    warnings: [
      'own warning',
      "Endpoint replaced the value of these parameters with the values captured from the endpoint's path: [name]",
    ],
  });
});

test('takesArbitraryInput: undeclared keys pass in raw without a warning', async () => {
  const harness = createHarness(backend([{ pattern: 'any', takesArbitraryInput: true, operations: { update: (req) => ({ data: req.raw }) } }]));
  assert.deepEqual((await harness.request('update', 'any', { a: 1, b: [2] })).response, { data: { a: 1, b: [2] } });
});

function kvBackend(log: string[], only?: 'create' | 'update') {
  const write = (op: string) => async (req: Request<{ value?: unknown }>) => {
    log.push(op);
    await req.storage.put(req.path, String(req.data.value));
    return null;
  };
  return backend([
    {
      pattern: 'kv/(?<key>\\w+)',
      fields: { value: { type: 'string' } },
      exists: (req) => req.storage.has(req.path),
      operations: {
        ...(only !== 'update' ? { create: write('create') } : {}),
        ...(only !== 'create' ? { update: write('update') } : {}),
        read: async (req) => {
          const value = await req.storage.getString(req.path);
          return value === null ? null : { data: { value } };
        },
      },
    },
    { pattern: 'plain', operations: { create: () => (log.push('plain-create'), null) } },
  ]);
}

test('exists decides create or update; a path without exists is always an update (checkFound false)', async () => {
  const log: string[] = [];
  const harness = createHarness(kvBackend(log));
  assert.deepEqual(await harness.exists('kv/a'), { checkFound: true, exists: false });
  await harness.request('update', 'kv/a', { value: '1' });
  assert.deepEqual(await harness.exists('kv/a'), { checkFound: true, exists: true });
  await harness.request('update', 'kv/a', { value: '2' });
  await harness.request('create', 'kv/a', { value: '3' }); // the check, not the caller, decides
  assert.deepEqual(log, ['create', 'update', 'update']);
  assert.deepEqual(await harness.exists('plain'), { checkFound: false, exists: false });
  assert.deepEqual(await harness.exists('no/such/path'), { checkFound: false, exists: false });
});

test('a path with only create takes updates, and one with only update takes creates', async () => {
  const createOnly: string[] = [];
  const h1 = createHarness(kvBackend(createOnly, 'create'));
  await h1.request('update', 'kv/a', { value: '1' });
  await h1.request('update', 'kv/a', { value: '2' });
  await h1.request('update', 'plain', {});
  assert.deepEqual(createOnly, ['create', 'create', 'plain-create']);

  const updateOnly: string[] = [];
  const h2 = createHarness(kvBackend(updateOnly, 'update'));
  await h2.request('update', 'kv/a', { value: '1' });
  assert.deepEqual(updateOnly, ['update']);
  assert.deepEqual(data(await h2.request('read', 'kv/a')), { value: '1' });
});

test('existenceCheck: false sends the operation as given', async () => {
  const log: string[] = [];
  const harness = createHarness(kvBackend(log));
  await harness.request('create', 'kv/a', { value: '1' }, { existenceCheck: false });
  await harness.request('create', 'kv/a', { value: '2' }, { existenceCheck: false });
  assert.deepEqual(log, ['create', 'create']);
});

test('exists with a value that does not convert fails like Vault (no "Field validation failed" prefix)', async () => {
  const harness = createHarness(backend([{ pattern: 'e', fields: { n: { type: 'int' } }, exists: () => true, operations: { update: echo } }]));
  failed(await harness.request('update', 'e', { n: 'x' }), 'invalid-request', /^error converting input x for field "n": /);
});

test('list: keys from storage with the host listing rule; none → null (the host answers 404)', async () => {
  const harness = createHarness(
    backend([
      { pattern: 'kv/?', operations: { list: async (req) => listResponse(await req.storage.list('kv/')) } },
      { pattern: 'kv/(?<key>.+)', fields: { v: { type: 'string' } }, operations: { update: async (req) => (await req.storage.put(req.path, req.data.v), null) } },
    ]),
  );
  assert.deepEqual(await harness.request('list', 'kv/'), { response: null });
  for (const key of ['b', 'a', 'dir/x', 'dir/y', 'dir/deeper/z']) await harness.request('update', `kv/${key}`, { v: key });
  assert.deepEqual(data(await harness.request('list', 'kv/')), { keys: ['a', 'b', 'dir/'] });
});

test('read returning null is "not found" for the host (404)', async () => {
  const harness = createHarness(backend([{ pattern: 'missing', operations: { read: () => null } }]));
  assert.deepEqual(await harness.request('read', 'missing'), { response: null });
});

test('special paths: declared list, matching with * and +, and the harness sends no token accessor there', async () => {
  const seen: string[] = [];
  const b = backend(
    [{ pattern: '(?<any>.+)', operations: { read: (req) => (seen.push(req.tokenAccessor), { data: {} }) } }],
    { unauthenticated: ['special', 'login/*', 'pub/+/info'] },
  );
  const harness = createHarness(b);
  assert.deepEqual(harness.specialPaths(), ['special', 'login/*', 'pub/+/info']);
  await harness.request('read', 'special');
  await harness.request('read', 'login/alice');
  await harness.request('read', 'pub/x/info');
  await harness.request('read', 'secret');
  await harness.request('read', 'special', {}, { tokenAccessor: 'explicit' });
  assert.deepEqual(seen, ['', '', '', HARNESS_TOKEN_ACCESSOR, 'explicit']);

  assert.equal(matchesSpecialPath('special', 'special/x'), false);
  assert.equal(matchesSpecialPath('login/*', 'login'), false);
  assert.equal(matchesSpecialPath('login*', 'login'), true);
  assert.equal(matchesSpecialPath('pub/+/info', 'pub//info'), false);
  assert.equal(matchesSpecialPath('pub/+/inf*', 'pub/a/info/more'), true);
  assert.equal(matchesSpecialPath('pub/+/info', 'pub/a/b/info'), false);
});

test('storage: bytes, strings and JSON round-trip through the wire (base64); the harness shows what was stored', async () => {
  const harness = createHarness(
    backend([
      {
        pattern: 'store',
        operations: {
          update: async (req) => {
            await req.storage.put('bytes', new Uint8Array([0, 255, 10]));
            await req.storage.put('text', 'héllo');
            await req.storage.putJson('json', { a: [1, 2] });
            return null;
          },
          read: async (req) => ({
            data: {
              bytes: [...((await req.storage.get('bytes')) ?? [])],
              text: await req.storage.getString('text'),
              json: await req.storage.getJson('json'),
              none: await req.storage.get('none'),
              has: [await req.storage.has('text'), await req.storage.has('none')],
            },
          }),
          delete: async (req) => (await req.storage.delete('text'), null),
        },
      },
    ]),
  );
  await harness.request('update', 'store');
  assert.deepEqual(data(await harness.request('read', 'store')), {
    bytes: [0, 255, 10],
    text: 'héllo',
    json: { a: [1, 2] },
    none: null,
    has: [true, false],
  });
  assert.deepEqual(harness.storage.keys(), ['bytes', 'json', 'text']);
  assert.equal(harness.storage.get('text')?.toString('utf8'), 'héllo');
  await harness.request('delete', 'store');
  assert.deepEqual(harness.storage.keys(), ['bytes', 'json']);
});

test('request context: mount, operation, path, raw data, request id, system info', async () => {
  const harness = createHarness(
    backend([
      {
        pattern: 'ctx/(?<id>\\d+)',
        fields: { n: { type: 'int' } },
        operations: {
          read: async (req) => ({
            data: {
              mount: req.mount.path,
              accessor: req.mount.accessor,
              operation: req.operation,
              path: req.path,
              raw: req.raw,
              requestId: typeof req.requestId === 'string' && req.requestId.length > 0,
              system: await req.system(),
            },
          }),
        },
      },
    ]),
    { mount: { path: 'custom/' }, system: { defaultLeaseTtl: 60 } },
  );
  const result = data(await harness.request('read', 'ctx/7', { n: '3', extra: true }));
  assert.deepEqual(result, {
    mount: 'custom/',
    accessor: 'test_0123abcd',
    operation: 'read',
    path: 'ctx/7',
    raw: { n: '3', extra: true, id: '7' },
    requestId: true,
    system: { defaultLeaseTtl: 60, maxLeaseTtl: 2_764_800, version: '0.0.0-harness' },
  });
});

test('raw responses are sent as base64 with status 200 by default', async () => {
  const harness = createHarness(
    backend([
      { pattern: 'text', operations: { read: () => ({ raw: { contentType: 'text/plain', body: 'Response' } }) } },
      { pattern: 'bin', operations: { read: () => ({ raw: { status: 201, contentType: 'application/octet-stream', body: new Uint8Array([1, 2]) } }) } },
    ]),
  );
  assert.deepEqual((await harness.request('read', 'text')).response, {
    raw: { status: 200, contentType: 'text/plain', bodyBase64: Buffer.from('Response').toString('base64') },
  });
  assert.deepEqual((await harness.request('read', 'bin')).response, { raw: { status: 201, contentType: 'application/octet-stream', bodyBase64: 'AQI=' } });
});

test('auth answers only from auth backends', async () => {
  const login = { pattern: 'login', operations: { update: () => ({ auth: { policies: ['p'], ttl: 60 } }) } };
  const auth = createHarness(backend([login], { type: 'auth' }));
  assert.deepEqual((await auth.request('update', 'login')).response, { auth: { policies: ['p'], ttl: 60 } });
  const secret = createHarness(backend([login]));
  failed(await secret.request('update', 'login'), 'internal', 'a secrets plugin cannot answer with auth');
});

test('a PluginError from a handler comes back as the error; any other throw is a bug and is rethrown', async () => {
  const harness = createHarness(
    backend([
      { pattern: 'denied', operations: { read: () => { throw new PluginError('permission-denied', 'permission denied'); } } },
      { pattern: 'bug', operations: { read: () => { throw new TypeError('oops'); } } },
    ]),
  );
  failed(await harness.request('read', 'denied'), 'permission-denied', 'permission denied');
  await assert.rejects(harness.request('read', 'bug'), /oops/);
});

test('the answer is what crosses the wire: undefined values are dropped, Buffers become JSON', async () => {
  const harness = createHarness(backend([{ pattern: 'w', operations: { read: () => ({ data: { a: undefined, b: 1 } }) } }]));
  assert.deepEqual((await harness.request('read', 'w')).response, { data: { b: 1 } });
});

test('lifecycle: setup per mount, invalidate, cleanup, with the mount they are for', async () => {
  const events: string[] = [];
  const harness = createHarness(
    backend([{ pattern: 'x', operations: { read: () => ({ data: {} }) } }], {
      setup: async ({ mount, storage }) => {
        events.push(`setup ${mount.id}`);
        await storage.put('seeded', 'yes');
      },
      invalidate: (key, mount) => events.push(`invalidate ${key} ${mount.id}`),
      cleanup: ({ mount }) => void events.push(`cleanup ${mount.id}`),
    }),
  );
  await harness.request('read', 'x');
  harness.invalidate('some/key');
  await harness.cleanup();
  assert.deepEqual(events, ['setup harness-mount', 'invalidate some/key harness-mount', 'cleanup harness-mount']);
  assert.deepEqual(harness.storage.keys(), ['seeded']);
});

test('the protocol implementation: hello from the declaration, a call for a mount never set up is refused', async () => {
  const b = backend([{ pattern: 'x', operations: { read: () => ({ data: {} }) } }], { multiplex: false, unauthenticated: ['x'] });
  const impl = toPluginImplementation(b);
  assert.deepEqual(impl.hello, { type: 'secret', name: 'test', version: 'v1.0.0', multiplex: false });
  assert.deepEqual(impl.specialPaths(), ['x']);
  const host = { call: async () => assert.fail('no host call expected') } as never;
  await assert.rejects(
    async () => impl.handle('ghost', { operation: 'read', path: 'x', data: {}, tokenAccessor: '', requestId: 'r' }, host),
    (err: unknown) => err instanceof PluginError && err.kind === 'internal' && /not set up/.test(err.message),
  );
});

test('the harness host scopes storage to its mount, as the runner does', async () => {
  const harness = createHarness(backend([{ pattern: 'x', operations: { read: () => ({ data: {} }) } }]));
  harness.storage.put('k', 'v');
  assert.deepEqual(await harness.host.call('storage.get', { mount: harness.mount.id, key: 'k' }), { value: 'dg==' });
  await assert.rejects(harness.host.call('storage.get', { mount: 'another-mount', key: 'k' }), /not this plugin's mount/);
});

test('help: the root lists the paths with their synopsis; a path shows its fields and description', () => {
  const b = backend([
    { pattern: 'kv/?', operations: { list: () => null }, help: 'List keys.' },
    {
      pattern: 'kv/(?<key>\\w+)',
      fields: { value: { type: 'string', description: 'The value.' } },
      operations: { read: () => null },
      help: 'One key.',
      description: 'Keeps one value.',
    },
  ]);
  const harness = createHarness(b);
  const root = harness.help('');
  assert.match(root, /^A test backend\.\n\n## PATHS\n/);
  assert.match(root, /\n {4}\^kv\/\?\$\n {8}List keys\.$/);
  assert.match(root, /\n {4}\^kv\/\(\?<key>\\w\+\)\$\n {8}One key\.\n/);
  assert.equal(
    harness.help('kv/a'),
    [
      'Request:        kv/a',
      'Matching Route: ^kv/(?<key>\\w+)$',
      '',
      'One key.',
      '',
      '## PARAMETERS',
      '',
      '    key (string)',
      '',
      '    value (string)',
      '',
      '        The value.',
      '',
      '## DESCRIPTION',
      '',
      'Keeps one value.',
    ].join('\n'),
  );
  assert.throws(() => harness.help('nope'), (err: unknown) => err instanceof PluginError && err.kind === 'unsupported-path');
});

test('a declaration mistake fails at definition, not at the first request', () => {
  const ok = { pattern: 'x', operations: { read: () => null } };
  assert.throws(() => backend([{ pattern: '(', operations: { read: () => null } }]), /path "\(": invalid pattern/);
  assert.throws(() => backend([{ pattern: 'x', operations: {} }]), /path "x": no operations/);
  assert.throws(() => backend([{ pattern: 'x', operations: { fetch: () => null } as never }]), /unknown operation fetch/);
  assert.throws(() => backend([{ pattern: 'x', fields: { a: { type: 'float' as never } }, operations: { read: () => null } }]), /field a: unknown type "float"/);
  assert.throws(() => backend([{ pattern: 'x', fields: { t: { type: 'duration', default: 'soon' } }, operations: { read: () => null } }]), /field t: bad default/);
  assert.throws(() => backend([ok], { type: 'database' as never }), /backend type must be 'secret' or 'auth'/);
  assert.throws(() => backend([ok], { name: '' }), /needs a name/);
});
