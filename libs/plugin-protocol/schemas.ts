/**
 * The JSON Schemas of protocol v1, as TypeScript objects. They say what messages.ts says, plus the limits.
 *
 * Why objects in a .ts file rather than .json files loaded at run time:
 * - the plugin side is bundled into each plugin's single executable (esbuild), where a JSON file read with `fs`
 *   relative to `import.meta.url` would not exist, while a module is bundled with the code that uses it;
 * - `import ... with { type: 'json' }` prints an ExperimentalWarning on Node 20 and tsc does not copy .json files
 *   into dist unless they are imported that way;
 * - the compiler checks the objects' shape (JsonSchema).
 * The files in ./schemas/*.json are copies for other languages and tools, written from these objects by
 * `node dist/libs/plugin-protocol/write-schemas.js`; a test fails when they differ.
 *
 * Direction decides strictness: what the host receives from a plugin (hello, results, plugin → host params, error
 * replies) is untrusted and allows no unknown property; what a plugin receives from the host (host → plugin
 * params) allows unknown properties, so a host may add a field within protocol v1 without breaking plugins.
 */
import { OPERATIONS } from '../contracts/operations.js';
import { PLUGIN_ERROR_KINDS } from './messages.js';
import type { JsonSchema } from './validate.js';

export const SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';
export const SCHEMA_ID_BASE = 'https://coffer.dev/schemas/plugin-protocol/v1/';

/** Limits every sender must respect; receivers refuse what exceeds them. */
export const LIMITS = {
  /** One protocol line (one JSON-RPC message), in bytes, newline excluded. */
  maxMessageBytes: 32 * 1024 * 1024,
  /** The hello line, in bytes. */
  maxHelloBytes: 64 * 1024,
  name: 128,
  version: 128,
  mountId: 256,
  path: 4096,
  storageKey: 4096,
  /** A storage value, base64 characters (24 MiB of bytes). */
  storageValue: 32 * 1024 * 1024,
  errorMessage: 8192,
  /** A help text (Vault's path help), in characters. */
  helpText: 256 * 1024,
  warning: 8192,
  warnings: 256,
  policies: 1024,
  policyName: 256,
  metadata: 256,
  rpcStringId: 128,
  /** Checks, and separately ops, in one storage.txn (protocol 2). */
  txnItems: 64,
} as const;

const obj = (
  properties: Record<string, JsonSchema>,
  required: string[],
  strict: boolean,
  extra: Partial<JsonSchema> = {},
): JsonSchema => ({
  type: 'object',
  properties,
  required,
  ...(strict ? { additionalProperties: false } : {}),
  ...extra,
});

const str = (maxLength: number, extra: Partial<JsonSchema> = {}): JsonSchema => ({ type: 'string', maxLength, ...extra });
const nonEmpty = (maxLength: number, extra: Partial<JsonSchema> = {}): JsonSchema => str(maxLength, { minLength: 1, ...extra });
const seconds: JsonSchema = { type: 'integer', minimum: 0, maximum: 2 ** 53 - 1 };
const empty = (strict: boolean): JsonSchema => obj({}, [], strict);
const stringMap = (maxProperties: number, maxValue: number): JsonSchema => ({
  type: 'object',
  maxProperties,
  additionalProperties: str(maxValue),
});
/** Any JSON object: request and response data are the backend's business, not the protocol's. */
const anyObject: JsonSchema = { type: 'object' };

const VERSION_PATTERN = '^$|^v?[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?$';
const mountId = nonEmpty(LIMITS.mountId);
const storageValue: JsonSchema = { type: 'string', maxLength: LIMITS.storageValue, contentEncoding: 'base64' };

export const helloSchema: JsonSchema = obj(
  {
    coffer: { const: 'plugin' },
    protocol: { type: 'integer', minimum: 1 },
    type: { enum: ['secret', 'auth'] },
    name: nonEmpty(LIMITS.name),
    version: str(LIMITS.version, { pattern: VERSION_PATTERN }),
    multiplex: { type: 'boolean' },
  },
  ['coffer', 'protocol', 'type', 'name', 'version', 'multiplex'],
  true,
  { title: 'The plugin\'s first line on stdout' },
);

export const mountSchema: JsonSchema = obj(
  {
    id: mountId,
    path: str(LIMITS.path),
    accessor: str(LIMITS.name),
    type: str(LIMITS.name),
    config: obj({ defaultLeaseTtl: seconds, maxLeaseTtl: seconds }, ['defaultLeaseTtl', 'maxLeaseTtl'], false),
    options: stringMap(1024, LIMITS.path),
  },
  ['id', 'path', 'accessor', 'type', 'config', 'options'],
  false,
  { title: 'MountInfo' },
);

export const requestSchema: JsonSchema = obj(
  {
    operation: { enum: [...OPERATIONS] },
    path: str(LIMITS.path, { pattern: '^(?!/)' }),
    data: anyObject,
    tokenAccessor: str(LIMITS.name),
    requestId: str(LIMITS.name),
    remoteAddress: str(LIMITS.name),
  },
  ['operation', 'path', 'data', 'tokenAccessor', 'requestId'],
  false,
  { title: 'PluginRequest' },
);

export const authSchema: JsonSchema = obj(
  {
    policies: { type: 'array', maxItems: LIMITS.policies, items: nonEmpty(LIMITS.policyName) },
    metadata: stringMap(LIMITS.metadata, LIMITS.path),
    displayName: str(LIMITS.path),
    ttl: seconds,
    maxTtl: seconds,
    renewable: { type: 'boolean' },
    numUses: seconds,
    boundCidrs: { type: 'array', maxItems: LIMITS.policies, items: nonEmpty(LIMITS.name) },
    internal: anyObject,
  },
  ['policies'],
  true,
  { title: 'PluginAuth' },
);

export const secretSchema: JsonSchema = obj(
  {
    type: nonEmpty(LIMITS.name),
    internal: anyObject,
    ttl: seconds,
    maxTtl: seconds,
    renewable: { type: 'boolean' },
  },
  ['type', 'internal'],
  true,
  { title: 'PluginSecret (protocol 3)' },
);

export const leaseSchema: JsonSchema = obj(
  {
    id: nonEmpty(LIMITS.path),
    type: nonEmpty(LIMITS.name),
    internal: anyObject,
    issueTime: str(LIMITS.name),
    ttl: seconds,
  },
  ['id', 'type', 'internal', 'issueTime', 'ttl'],
  false,
  { title: 'LeaseInfo (protocol 3)' },
);

export const authRenewSchema: JsonSchema = obj(
  {
    path: str(LIMITS.path, { pattern: '^(?!/)' }),
    policies: { type: 'array', maxItems: LIMITS.policies, items: str(LIMITS.policyName) },
    metadata: stringMap(LIMITS.metadata, LIMITS.path),
    internal: anyObject,
    displayName: str(LIMITS.path),
    issueTime: str(LIMITS.name),
    ttl: seconds,
  },
  ['path', 'policies', 'metadata', 'internal', 'displayName', 'issueTime', 'ttl'],
  false,
  { title: 'AuthRenewInfo (protocol 3)' },
);

export const responseSchema: JsonSchema = obj(
  {
    data: { type: ['object', 'null'] },
    secret: secretSchema,
    warnings: { type: 'array', maxItems: LIMITS.warnings, items: str(LIMITS.warning) },
    auth: authSchema,
    raw: obj(
      {
        status: { type: 'integer', minimum: 100, maximum: 599 },
        contentType: str(LIMITS.path),
        bodyBase64: { type: 'string', contentEncoding: 'base64' },
      },
      ['status', 'contentType', 'bodyBase64'],
      true,
    ),
  },
  [],
  true,
  {
    title: 'PluginResponse',
    allOf: [
      {
        // Vault's ErrorResponse puts the error in data.error; a response that grants a token must not also say it failed.
        anyOf: [{ not: { required: ['auth'] } }, { properties: { data: { anyOf: [{ type: 'null' }, { not: { required: ['error'] } }] } } }],
        errorMessage: 'an auth response must not also carry an error',
      },
      {
        anyOf: [{ not: { required: ['auth'] } }, { not: { required: ['raw'] } }],
        errorMessage: 'an auth response must not be a raw response',
      },
      {
        anyOf: [{ not: { required: ['secret'] } }, { allOf: [{ not: { required: ['auth'] } }, { not: { required: ['raw'] } }] }],
        errorMessage: 'a response with a secret must carry neither auth nor raw',
      },
      {
        anyOf: [{ not: { required: ['secret'] } }, { properties: { data: { anyOf: [{ type: 'null' }, { not: { required: ['error'] } }] } } }],
        errorMessage: 'a response with a secret must not also carry an error',
      },
    ],
  },
);

export const errorKindSchema: JsonSchema = { enum: [...PLUGIN_ERROR_KINDS] };

export const rpcErrorSchema: JsonSchema = obj(
  {
    code: { type: 'integer' },
    message: str(LIMITS.errorMessage),
    data: obj({ kind: errorKindSchema }, [], true),
  },
  ['code', 'message'],
  true,
  { title: 'JSON-RPC error object' },
);

const rpcId: JsonSchema = { anyOf: [{ type: 'integer' }, nonEmpty(LIMITS.rpcStringId)], errorMessage: 'must be an integer or a short string' };

export const rpcRequestSchema: JsonSchema = obj(
  {
    jsonrpc: { const: '2.0' },
    id: rpcId,
    method: nonEmpty(LIMITS.name),
    params: { type: 'object' },
  },
  ['jsonrpc', 'method'],
  true,
  { title: 'JSON-RPC request (a notification when it has no id; protocol v1 defines none)' },
);

export const rpcResponseSchema: JsonSchema = obj(
  {
    jsonrpc: { const: '2.0' },
    id: { anyOf: [rpcId, { type: 'null' }], errorMessage: 'must be an integer, a short string or null' },
    result: {},
    error: rpcErrorSchema,
  },
  ['jsonrpc', 'id'],
  true,
  {
    title: 'JSON-RPC response',
    anyOf: [
      { required: ['result'], not: { required: ['error'] } },
      { required: ['error'], not: { required: ['result'] } },
    ],
    errorMessage: 'must carry exactly one of result and error',
  },
);

export interface MethodSchemas {
  params: JsonSchema;
  result: JsonSchema;
}

/** Host → plugin. Params are tolerant (the plugin validates them), results strict (the host validates them). */
export const hostToPluginSchemas = {
  setup: { params: obj({ mount: mountSchema }, ['mount'], false), result: empty(true) },
  handle: {
    params: obj(
      {
        mount: mountId,
        request: requestSchema,
        // Protocol 4: the operations the caller may get from the existence check.
        choose: { type: 'array', minItems: 1, maxItems: 2, items: { enum: ['create', 'update'] } },
      },
      ['mount', 'request'],
      false,
    ),
    result: obj(
      {
        response: { anyOf: [{ type: 'null' }, responseSchema], errorMessage: 'must be null or a response object' },
        // Protocol 4, with `choose`: the operation the existence check picked, and whether `choose` refused it.
        operation: { enum: ['create', 'update'] },
        denied: { type: 'boolean' },
      },
      ['response'],
      true,
    ),
  },
  exists: {
    params: obj({ mount: mountId, request: requestSchema }, ['mount', 'request'], false),
    result: obj({ checkFound: { type: 'boolean' }, exists: { type: 'boolean' } }, ['checkFound', 'exists'], true),
  },
  specialPaths: {
    params: empty(false),
    result: obj(
      {
        unauthenticated: { type: 'array', maxItems: 1024, items: str(LIMITS.path) },
        caseInsensitive: { type: 'array', maxItems: 1024, items: str(LIMITS.path) },
      },
      ['unauthenticated'],
      true,
    ),
  },
  invalidate: { params: obj({ mount: mountId, key: str(LIMITS.storageKey) }, ['mount', 'key'], false), result: empty(true) },
  cleanup: { params: obj({ mount: mountId }, ['mount'], false), result: empty(true) },
  shutdown: { params: empty(false), result: empty(true) },
  help: {
    params: obj({ mount: mountId, path: str(LIMITS.path, { pattern: '^(?!/)' }) }, ['mount', 'path'], false),
    result: obj({ help: str(LIMITS.helpText) }, ['help'], true),
  },
  renew: {
    params: obj({ mount: mountId, lease: leaseSchema, increment: seconds }, ['mount', 'lease', 'increment'], false),
    result: obj(
      { ttl: seconds, internal: anyObject, warnings: { type: 'array', maxItems: LIMITS.warnings, items: str(LIMITS.warning) } },
      [],
      true,
    ),
  },
  revoke: { params: obj({ mount: mountId, lease: leaseSchema }, ['mount', 'lease'], false), result: empty(true) },
  periodic: { params: obj({ mount: mountId }, ['mount'], false), result: empty(true) },
  renewAuth: {
    params: obj({ mount: mountId, auth: authRenewSchema, increment: seconds }, ['mount', 'auth', 'increment'], false),
    result: obj(
      { ttl: seconds, maxTtl: seconds, warnings: { type: 'array', maxItems: LIMITS.warnings, items: str(LIMITS.warning) } },
      [],
      true,
    ),
  },
} satisfies Record<string, MethodSchemas>;

/** Plugin → host. Params are strict (the host validates them); results are the host's and tolerant. */
export const pluginToHostSchemas = {
  'storage.get': {
    params: obj({ mount: mountId, key: nonEmpty(LIMITS.storageKey) }, ['mount', 'key'], true),
    result: obj({ value: { anyOf: [{ type: 'null' }, { type: 'string', contentEncoding: 'base64' }] } }, ['value'], false),
  },
  'storage.put': {
    params: obj(
      { mount: mountId, key: nonEmpty(LIMITS.storageKey), value: { type: 'string', maxLength: LIMITS.storageValue, contentEncoding: 'base64' } },
      ['mount', 'key', 'value'],
      true,
    ),
    result: empty(false),
  },
  'storage.delete': { params: obj({ mount: mountId, key: nonEmpty(LIMITS.storageKey) }, ['mount', 'key'], true), result: empty(false) },
  'storage.list': {
    params: obj({ mount: mountId, prefix: str(LIMITS.storageKey) }, ['mount', 'prefix'], true),
    result: obj({ keys: { type: 'array', items: { type: 'string' } } }, ['keys'], false),
  },
  'storage.exists': {
    params: obj({ mount: mountId, key: nonEmpty(LIMITS.storageKey) }, ['mount', 'key'], true),
    result: obj({ exists: { type: 'boolean' } }, ['exists'], false),
  },
  'storage.txn': {
    params: obj(
      {
        mount: mountId,
        checks: {
          type: 'array',
          maxItems: LIMITS.txnItems,
          items: {
            anyOf: [
              obj({ key: nonEmpty(LIMITS.storageKey), exists: { type: 'boolean' } }, ['key', 'exists'], true),
              obj({ key: nonEmpty(LIMITS.storageKey), value: storageValue }, ['key', 'value'], true),
            ],
          },
        },
        ops: {
          type: 'array',
          maxItems: LIMITS.txnItems,
          items: {
            anyOf: [
              obj({ op: { const: 'put' }, key: nonEmpty(LIMITS.storageKey), value: storageValue }, ['op', 'key', 'value'], true),
              obj({ op: { const: 'delete' }, key: nonEmpty(LIMITS.storageKey) }, ['op', 'key'], true),
            ],
          },
        },
      },
      ['mount', 'checks', 'ops'],
      true,
    ),
    result: obj({ ok: { type: 'boolean' }, failed: { type: 'integer', minimum: 0 } }, ['ok'], false),
  },
  'system.info': {
    params: obj({ mount: mountId }, ['mount'], true),
    result: obj({ defaultLeaseTtl: seconds, maxLeaseTtl: seconds, version: { type: 'string' } }, ['defaultLeaseTtl', 'maxLeaseTtl', 'version'], false),
  },
} satisfies Record<string, MethodSchemas>;

/** Every schema by file name (without .json), as written to ./schemas/. */
export function allSchemas(): Record<string, JsonSchema> {
  const named: Record<string, JsonSchema> = {
    hello: helloSchema,
    mount: mountSchema,
    request: requestSchema,
    response: responseSchema,
    auth: authSchema,
    secret: secretSchema,
    lease: leaseSchema,
    'auth-renew': authRenewSchema,
    'rpc-request': rpcRequestSchema,
    'rpc-response': rpcResponseSchema,
    'rpc-error': rpcErrorSchema,
  };
  for (const [method, s] of Object.entries({ ...hostToPluginSchemas, ...pluginToHostSchemas })) {
    named[`${method}.params`] = s.params;
    named[`${method}.result`] = s.result;
  }
  const out: Record<string, JsonSchema> = {};
  for (const [name, schema] of Object.entries(named)) {
    out[name] = { $schema: SCHEMA_DIALECT, $id: `${SCHEMA_ID_BASE}${name}.json`, ...schema };
  }
  return out;
}

/** The exact text of each ./schemas/<name>.json file. */
export function renderSchemaFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, schema] of Object.entries(allSchemas())) files[`${name}.json`] = `${JSON.stringify(schema, null, 2)}\n`;
  return files;
}
