/**
 * Vault's mock plugin (sdk/plugin/mock), the reference plugin: every path Vault's own plugin tests drive, with the
 * same answers, so the server can be tested against the behaviour Vault documents. Beyond Vault's mock: `creds/<name>`
 * issues a secret under a lease and `revocations` counts what the host revoked, so the lease lifecycle can be tested
 * end to end against a real plugin process.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { defineBackend, definePath, genericNameRegex, listResponse, PluginError, type PluginErrorKind, type Request } from '#plugin-sdk';

export const MOCK_VERSION = 'v0.0.0+mock';
/** Vault's override, for tests of version pinning and upgrades. */
export const MOCK_VERSION_ENV = 'TESTING_MOCK_VAULT_PLUGIN_VERSION';
export const INTERNAL_DEFAULT = 'bar';

/** errors/type: Vault's err_type numbers (sdk/plugin/pb ErrType*) and what each one reports. */
export const ERROR_TYPES: readonly { kind: PluginErrorKind; message: string }[] = [
  { kind: 'internal', message: 'test' }, // 0 unknown: a plain Go error
  { kind: 'invalid-request', message: 'test' }, // 1 UserError
  { kind: 'internal', message: 'test' }, // 2 InternalError
  { kind: 'permission-denied', message: 'test' }, // 3 CodedError(403, "test")
  { kind: 'invalid-request', message: 'test' }, // 4 StatusBadRequest
  { kind: 'unsupported-operation', message: 'unsupported operation' }, // 5
  { kind: 'unsupported-path', message: 'unsupported path' }, // 6
  { kind: 'invalid-request', message: 'invalid request' }, // 7
  { kind: 'permission-denied', message: 'permission denied' }, // 8
  { kind: 'internal', message: 'request needs further approval' }, // 9 ErrMultiAuthzPending
];

/** The secret type of `creds/<name>`. */
export const CREDS_TYPE = 'creds';
/** Every revocation is a key of its own, `revocations/<lease id, base64url>/<uuid>`: concurrent revocations (two
 * hosts, two leases) never overwrite each other's count, so a double revocation always shows. */
const REVOCATIONS = 'revocations/';

export interface MockOptions {
  /** What errors/kill and errors/rpc do; tests replace it. */
  exit?: (code: number) => never;
  env?: NodeJS.ProcessEnv;
}

export function createMockBackend(options: MockOptions = {}) {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const env = options.env ?? process.env;
  // Vault runs one mock process per mount; here one process serves all mounts, so the in-memory value is per mount.
  const internal = new Map<string, string>();

  // Vault's mock answers these with rpc.ErrShutdown, which its host treats as a dead plugin; a real exit is the
  // honest equivalent and lets the host's crash handling be tested.
  const die = () => exit(1);

  return defineBackend({
    type: 'secret',
    name: 'mock-plugin',
    version: env[MOCK_VERSION_ENV] || MOCK_VERSION,
    help: "Vault's mock plugin: a small key/value store plus paths that exercise the plugin system.",
    unauthenticated: ['special'],
    setup({ mount }) {
      internal.set(mount.id, INTERNAL_DEFAULT);
    },
    invalidate(key, mount) {
      if (key === 'internal') internal.set(mount.id, '');
    },
    cleanup({ mount }) {
      internal.delete(mount.id);
    },
    secrets: [
      {
        type: CREDS_TYPE,
        renew: (req) => {
          // A lease issued with renewable=true but refuse_renew=true: the plugin, not the host, says no.
          if (req.internal.refuse_renew === true) throw new PluginError('invalid-request', 'the mock refuses to renew this lease');
          return { ttl: req.increment || Number(req.internal.ttl) || 0 };
        },
        revoke: async (req) => {
          await req.storage.put(`${REVOCATIONS}${Buffer.from(req.lease.id, 'utf8').toString('base64url')}/${randomUUID()}`, req.internal.username ?? '');
        },
      },
    ],
    paths: [
      definePath({
        pattern: 'errors/rpc',
        operations: { read: die },
        help: 'Kills the plugin process (Vault: a shut-down RPC connection).',
      }),
      definePath({
        pattern: 'errors/kill',
        operations: { read: die },
        help: 'Kills the plugin process.',
      }),
      definePath({
        pattern: 'errors/type',
        fields: { err_type: { type: 'int', description: 'Which error to return, 0 to 9.' } },
        operations: {
          create: errorOfType,
          update: errorOfType,
        },
        help: 'Returns the error of the given type.',
      }),
      definePath({
        pattern: 'kv/?',
        operations: {
          list: async (req) => listResponse(await req.storage.list('kv/')),
        },
        help: 'Lists the keys.',
      }),
      definePath({
        pattern: `kv/${genericNameRegex('key')}`,
        fields: {
          key: { type: 'string', description: 'The key.' },
          value: { type: 'string', description: 'The value to keep.' },
          version: { type: 'int', description: 'Echoed back by a read.' },
        },
        exists: (req) => req.storage.has(req.path),
        operations: {
          read: async (req) => {
            const value = await req.storage.getString(req.path);
            if (value === null) return null;
            return { data: { value, version: req.data.version } };
          },
          create: writeEntry,
          update: writeEntry,
          patch: patchEntry,
          delete: async (req) => {
            await req.storage.delete(req.path);
            return null;
          },
        },
        help: 'One string value.',
        description:
          'Stores the raw string of `value` under the request path; a read also echoes `version` (default 0). A patch ' +
          'merges into an existing entry (JSON merge patch: a given `value` replaces it, null empties it).',
      }),
      definePath({
        pattern: 'internal',
        fields: { value: { type: 'string', description: 'The in-memory value.' } },
        operations: {
          update: (req) => {
            internal.set(req.mount.id, req.data.value);
            return null;
          },
          read: (req) => ({ data: { value: internal.get(req.mount.id) ?? '' } }),
        },
        help: 'An in-memory value: "bar" after setup, cleared by invalidating the key "internal" (a restart detector).',
      }),
      definePath({
        pattern: `creds/${genericNameRegex('name')}`,
        fields: {
          name: { type: 'string', description: 'A name for the credentials; the username starts with it.' },
          ttl: { type: 'duration', description: "The lease's TTL; 0 = the mount's default_lease_ttl." },
          max_ttl: { type: 'duration', description: "The lease's max TTL from issue; 0 = the mount's max_lease_ttl." },
          renewable: { type: 'bool', default: true, description: 'false: the lease cannot be renewed.' },
          refuse_renew: { type: 'bool', default: false, description: 'true: the lease is renewable, but the plugin refuses each renewal.' },
        },
        operations: {
          read: (req) => {
            const username = `${req.data.name}-${randomBytes(4).toString('hex')}`;
            return {
              data: { username, password: randomBytes(12).toString('base64url') },
              secret: {
                type: CREDS_TYPE,
                internal: { username, ttl: req.data.ttl, refuse_renew: req.data.refuse_renew },
                ttl: req.data.ttl,
                maxTtl: req.data.max_ttl,
                renewable: req.data.renewable,
              },
            };
          },
        },
        help: 'Issues credentials under a lease (a dynamic secret); each revocation is recorded, see revocations.',
      }),
      definePath({
        pattern: 'revocations',
        operations: {
          read: async (req) => {
            const leases: Record<string, number> = {};
            let count = 0;
            for (const folder of await req.storage.list(REVOCATIONS)) {
              const id = Buffer.from(folder.replace(/\/$/, ''), 'base64url').toString('utf8');
              leases[id] = (await req.storage.list(`${REVOCATIONS}${folder}`)).length;
              count += leases[id];
            }
            return { data: { count, leases } };
          },
        },
        help: 'How many times the host revoked leases of creds/<name>: in all (count) and per lease id (leases).',
      }),
      definePath({
        pattern: 'special',
        operations: { read: () => ({ data: { data: 'foo' } }) },
        help: 'Served without a token.',
      }),
      definePath({
        pattern: 'raw',
        operations: { read: () => ({ raw: { status: 200, contentType: 'text/plain', body: 'Response' } }) },
        help: 'A raw HTTP answer.',
      }),
      definePath({
        pattern: `env/${genericNameRegex('key')}`,
        fields: { key: { type: 'string', required: true, description: 'The name of the environment variable to read.' } },
        operations: { read: (req) => ({ data: { key: env[req.data.key] ?? '' } }) },
        help: "An environment variable of the plugin process (proves the host's clean environment).",
      }),
      definePath({
        pattern: 'init-req',
        operations: {
          read: (req) => ({
            data: {
              mount_point: req.mount.path,
              mount_type: req.mount.type,
              mount_accessor: req.mount.accessor,
              backend_uuid: req.mount.id,
              mount_running_version: env[MOCK_VERSION_ENV] || MOCK_VERSION,
            },
          }),
        },
        help: 'What the host told the plugin about this mount.',
      }),
    ],
  });

  function errorOfType(req: Request<{ err_type: number }>): null {
    // Like Vault's mock, a request without err_type is the dead-connection case.
    if (!req.has('err_type')) die();
    const error = ERROR_TYPES[req.data.err_type];
    // Vault returns no error (204) for numbers it does not know.
    if (!error) return null;
    throw new PluginError(error.kind, error.message);
  }

  async function writeEntry(req: Request<{ value: string }>) {
    await req.storage.put(req.path, req.data.value);
    return { data: { value: req.data.value } };
  }

  /**
   * Read, merge, write, as Vault's framework.HandlePatchOperation: only declared fields count, a null unsets a field
   * (here: the value becomes ""), an absent one keeps what is stored. Patching nothing is Vault's kv-v2 answer, a
   * bare 404.
   */
  async function patchEntry(req: Request<{ value: string }>) {
    const current = await req.storage.getString(req.path);
    if (current === null) throw new PluginError('not-found', '');
    const value = req.has('value') ? req.data.value : Object.prototype.hasOwnProperty.call(req.raw, 'value') ? '' : current;
    await req.storage.put(req.path, value);
    return { data: { value } };
  }
}
