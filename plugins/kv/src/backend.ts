/**
 * Vault's KV secrets engine, version 1 (plain paths) and version 2 (versioned: data/, metadata/, delete/,
 * undelete/, destroy/, subkeys/, config), as one builtin plugin `kv`. The mount's `version` option picks the API per
 * mount; tuning it from 1 to 2 upgrades the mount's data on the next setup.
 *
 * Concurrency: every change of a secret is a compare-and-swap of its one record through `storage.txn` (protocol 2),
 * retried on a lost race, so two runners serving one mount never issue a version twice nor lose an acknowledged write.
 * Within one process the changes of a secret queue and commit in batches, one swap each (`update`).
 * Nothing read from storage is kept between calls: another runner may change it at any time (docs/plugin-protocol.md,
 * "Caching").
 */
import type { HostCalls, MountInfo, PluginImplementation, PluginRequest } from '#plugin-protocol';
import {
  defineBackend, definePath,
  hostStorage,
  listResponse,
  PluginError,
  toPluginImplementation,
  type Backend,
  type HandlerResult,
  type Request,
  type Storage,
} from '#plugin-sdk';
import {
  addVersion,
  checkCas,
  checkCustomMetadata,
  DEFAULT_CONFIG,
  emptyRecord,
  effectiveDeleteAfter,
  effectiveMaxVersions,
  goDuration,
  isDeleted,
  mergePatch,
  parseVersions,
  purge,
  subkeys,
  timestamp,
  versionMetadata,
  type KvConfig,
  type SecretRecord,
} from './records.js';

export const KV_VERSION = 'v0.1.0';

const V1_PREFIX = 'v1/';
const META_PREFIX = 'meta/';
const CONFIG_KEY = 'config';
/** Written once a mount's version-1 data has been moved into version 2 records. */
const UPGRADED_KEY = 'upgraded-to-v2';
/** A lost compare-and-swap is retried this often before the write fails (only under a storm of writers). */
const MAX_ATTEMPTS = 50;

const metaKey = (path: string) => `${META_PREFIX}${path}`;

/** A folder prefix for listing: "" stays "", anything else ends in exactly one `/`. */
const folder = (path: string) => (path === '' ? '' : path.replace(/\/*$/, '/'));

export function isVersioned(mount: MountInfo): boolean {
  return mount.options?.version === '2';
}

// ---------------------------------------------------------------------------------------------------- version 1

async function v1Read(req: Request): Promise<HandlerResult> {
  const data = await req.storage.getJson<Record<string, unknown>>(V1_PREFIX + req.path);
  return data === null ? null : { data };
}

async function v1Write(req: Request): Promise<HandlerResult> {
  if (req.path.endsWith('/')) throw new PluginError('invalid-request', "cannot write to a path ending in '/'");
  if (Object.keys(req.raw).length === 0) throw new PluginError('invalid-request', 'missing data fields');
  await req.storage.putJson(V1_PREFIX + req.path, req.raw);
  return null;
}

async function v1Delete(req: Request): Promise<HandlerResult> {
  await req.storage.delete(V1_PREFIX + req.path);
  return null;
}

async function v1List(req: Request): Promise<HandlerResult> {
  return listResponse(await req.storage.list(V1_PREFIX + folder(req.path)));
}

export const kvV1Backend: Backend = defineBackend({
  type: 'secret',
  name: 'kv',
  version: KV_VERSION,
  help: 'The KV secrets engine (version 1) stores arbitrary secrets at plain paths.',
  paths: [
    {
      // No named group: its capture would join the body, which version 1 stores as it came.
      pattern: '.*',
      takesArbitraryInput: true,
      exists: async (req) => req.storage.has(V1_PREFIX + req.path),
      operations: { read: v1Read, create: v1Write, update: v1Write, delete: v1Delete, list: v1List },
      help: 'Pass-through secret storage to the mount, allowing you to read/write arbitrary data.',
    },
  ],
});

// ---------------------------------------------------------------------------------------------------- version 2

/** The secret's path: the pattern's capture (the request's path has the data/, metadata/ … segment in front). */
const secretPath = (req: Request) => String(req.raw.path ?? '');

async function loadConfig(storage: Storage): Promise<KvConfig> {
  return { ...DEFAULT_CONFIG, ...((await storage.getJson<KvConfig>(CONFIG_KEY)) ?? {}) };
}

interface Loaded {
  record: SecretRecord | null;
  /** The stored bytes the record was read from: the precondition of the write that replaces it. */
  bytes: Buffer | null;
}

async function loadRecord(storage: Storage, path: string): Promise<Loaded> {
  const bytes = await storage.get(metaKey(path));
  return { record: bytes === null ? null : (JSON.parse(bytes.toString('utf8')) as SecretRecord), bytes };
}

/**
 * A change of one secret: sees the record as it is now (null: none) and the mount's config read with it, and returns
 * the record to store (null: delete it), or `undefined` to change nothing. Its result is the handler's answer; it must
 * change neither `record` nor `config`.
 */
type Decide<T> = (record: SecretRecord | null, now: number, config: KvConfig) => { next: SecretRecord | null | undefined; result: T };

interface Queued {
  decide: Decide<unknown>;
  /** Whether `decide` looks at the config (a delete does not: no read for it). */
  needsConfig: boolean;
  resolve: (result: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * The changes waiting for each secret of this process, by mount id and path. Concurrent writers of one secret in one
 * process would otherwise all read version N, one would win the compare-and-swap and every other retry, so a burst
 * of n writers cost O(n²) reads and swaps. Queued, each batch is applied in order to one read of the record and
 * committed with one swap: the versions, CAS checks and answers are those of the writes run one after another, as
 * Vault's lock per key runs them. The swap still guards against writers in other processes (another runner).
 */
const queues = new Map<string, Queued[]>();

/** Applies `decide` to the secret at `path` of the request's mount, after the changes queued before it. */
function update<T>(req: Request, path: string, decide: Decide<T>, needsConfig = true): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const key = `${req.mount.id}\0${path}`;
    const item: Queued = { decide: decide as Decide<unknown>, needsConfig, resolve: resolve as (result: unknown) => void, reject };
    const queue = queues.get(key);
    if (queue) {
      queue.push(item);
      return;
    }
    queues.set(key, [item]);
    void drain(req.storage, key, path);
  });
}

/** Commits the queue of one secret batch by batch until it is empty (arrivals during a commit join the next batch). */
async function drain(storage: Storage, key: string, path: string): Promise<void> {
  const queue = queues.get(key)!;
  for (let batch = queue.splice(0); batch.length > 0; batch = queue.splice(0)) {
    try {
      await commit(storage, path, batch);
    } catch (err) {
      for (const item of batch) item.reject(err);
    }
  }
  queues.delete(key);
}

/**
 * Read, decide each change in order, compare-and-swap the outcome, until the swap holds; then answers each. The config
 * is read once per attempt, beside the record (both reads in flight at once), not once per request.
 */
async function commit(storage: Storage, path: string, batch: Queued[]): Promise<void> {
  const needsConfig = batch.some((item) => item.needsConfig);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const [config, loaded] = await Promise.all([needsConfig ? loadConfig(storage) : DEFAULT_CONFIG, loadRecord(storage, path)]);
    const now = Date.now();
    let record = loaded.record;
    let changed = false;
    const outcomes = batch.map((item) => {
      try {
        const { next, result } = item.decide(record, now, config);
        if (next !== undefined) {
          record = next;
          changed = true;
        }
        return { ok: true as const, result };
      } catch (err) {
        return { ok: false as const, err };
      }
    });
    const settle = () => outcomes.forEach((o, i) => (o.ok ? batch[i]!.resolve(o.result) : batch[i]!.reject(o.err)));
    if (!changed) return settle();
    const condition = loaded.bytes === null ? { key: metaKey(path), exists: false } : { key: metaKey(path), value: loaded.bytes };
    const write = record === null ? { key: metaKey(path), delete: true as const } : { key: metaKey(path), value: JSON.stringify(record) };
    if (await storage.txn([condition], [write])) return settle();
  }
  throw new PluginError('internal', 'internal error');
}

/** Vault answers some misses as 404 with a body (a deleted version's metadata, a warning): raw, since null is bare. */
function notFoundWith(req: Request, data: Record<string, unknown> | null, warnings: string[] | null = null): HandlerResult {
  const body = {
    request_id: req.requestId,
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings,
    auth: null,
    mount_type: 'kv',
  };
  return { raw: { status: 404, contentType: 'application/json', body: `${JSON.stringify(body)}\n` } };
}

function requestedVersion(req: Request): number {
  const raw = req.raw.version;
  if (raw === undefined || raw === null || raw === '') return 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new PluginError('invalid-request', 'Field validation failed: error converting input for field "version"');
  return n;
}

async function dataRead(req: Request): Promise<HandlerResult> {
  const { record } = await loadRecord(req.storage, secretPath(req));
  if (!record) return null;
  const version = requestedVersion(req) || record.current_version;
  const entry = record.versions[String(version)];
  if (!entry) return null;
  const metadata = versionMetadata(record, version);
  if (entry.destroyed || isDeleted(entry, Date.now())) return notFoundWith(req, { data: null, metadata });
  return { data: { data: entry.data ?? {}, metadata } };
}

function optionsOf(req: Request): Record<string, unknown> {
  const options = req.raw.options;
  return options !== null && typeof options === 'object' && !Array.isArray(options) ? (options as Record<string, unknown>) : {};
}

async function dataWrite(req: Request): Promise<HandlerResult> {
  if (secretPath(req).endsWith('/')) throw new PluginError('invalid-request', "cannot write to a path ending in '/'");
  const data = req.raw.data;
  if (data === undefined || data === null) throw new PluginError('invalid-request', 'no data provided');
  if (typeof data !== 'object' || Array.isArray(data)) throw new PluginError('invalid-request', 'Field validation failed: error converting input for field "data"');
  const options = optionsOf(req);
  return update(req, secretPath(req), (record, now, config) => {
    checkCas(config, record, options);
    const { record: next, version } = addVersion(config, record, data as Record<string, unknown>, now);
    return { next, result: { data: versionMetadata(next, version) } };
  });
}

async function dataPatch(req: Request): Promise<HandlerResult> {
  const patch = req.raw.data;
  if (patch === undefined || patch === null) throw new PluginError('invalid-request', 'no data provided');
  const options = optionsOf(req);
  const missing = Symbol('missing');
  const result = await update<HandlerResult | typeof missing>(req, secretPath(req), (record, now, config) => {
    const current = record?.versions[String(record.current_version)];
    if (!record || !current) return { next: undefined, result: null };
    if (current.destroyed || isDeleted(current, now)) return { next: undefined, result: missing };
    checkCas(config, record, options);
    const merged = mergePatch(current.data ?? {}, patch) as Record<string, unknown>;
    const { record: next, version } = addVersion(config, record, merged, now);
    return { next, result: { data: versionMetadata(next, version) } };
  });
  if (result !== missing) return result;
  const { record } = await loadRecord(req.storage, secretPath(req));
  return notFoundWith(req, record ? { data: null, metadata: versionMetadata(record, record.current_version) } : null);
}

/** DELETE data/<path>: soft-deletes the current version. */
async function dataDelete(req: Request): Promise<HandlerResult> {
  return update(req, secretPath(req), (record, now) => {
    const current = record?.versions[String(record.current_version)];
    if (!record || !current || current.destroyed || isDeleted(current, now)) return { next: undefined, result: null };
    const next = structuredClone(record);
    next.versions[String(record.current_version)]!.deletion_time = timestamp(now);
    return { next, result: null };
  }, false);
}

function versionsOf(req: Request, capital: boolean): number[] {
  const versions = parseVersions(req.raw.versions);
  if (versions.length === 0) throw new PluginError('invalid-request', capital ? 'No version number provided' : 'no version number provided');
  return versions;
}

function changeVersions(which: 'delete' | 'undelete' | 'destroy') {
  return async (req: Request): Promise<HandlerResult> => {
    const versions = versionsOf(req, which !== 'destroy');
    return update(req, secretPath(req), (record, now, config) => {
      if (!record) return { next: undefined, result: null };
      const next = structuredClone(record);
      let changed = false;
      for (const n of versions) {
        const v = next.versions[String(n)];
        if (!v || v.destroyed) continue;
        if (which === 'delete' && !isDeleted(v, now)) {
          v.deletion_time = timestamp(now);
          changed = true;
        } else if (which === 'undelete') {
          // Vault re-applies delete_version_after from now.
          const dva = effectiveDeleteAfter(config, next);
          v.deletion_time = dva > 0 ? timestamp(now + dva * 1000) : '';
          changed = true;
        } else if (which === 'destroy') {
          v.destroyed = true;
          delete v.data;
          changed = true;
        }
      }
      return { next: changed ? next : undefined, result: null };
    }, which === 'undelete');
  };
}

function metadataView(config: KvConfig, record: SecretRecord): Record<string, unknown> {
  const versions: Record<string, unknown> = {};
  for (const [n, v] of Object.entries(record.versions)) versions[n] = { created_time: v.created_time, deletion_time: v.deletion_time, destroyed: v.destroyed };
  return {
    cas_required: record.cas_required,
    created_time: record.created_time,
    current_version: record.current_version,
    custom_metadata: record.custom_metadata,
    delete_version_after: goDuration(record.delete_version_after),
    max_versions: record.max_versions,
    oldest_version: record.oldest_version,
    updated_time: record.updated_time,
    versions,
  };
}

async function metadataRead(req: Request): Promise<HandlerResult> {
  if (secretPath(req) === '' || secretPath(req).endsWith('/')) return metadataList(req);
  const { record } = await loadRecord(req.storage, secretPath(req));
  return record ? { data: metadataView(await loadConfig(req.storage), record) } : null;
}

async function metadataList(req: Request): Promise<HandlerResult> {
  return listResponse(await req.storage.list(META_PREFIX + folder(secretPath(req))));
}

function metadataWriter(patch: boolean) {
  return async (req: Request<{ max_versions: number; cas_required: boolean; delete_version_after: number }>): Promise<HandlerResult> => {
    if (secretPath(req) === '' || secretPath(req).endsWith('/')) throw new PluginError('invalid-request', "cannot write to a path ending in '/'");
    const custom = req.has('custom_metadata') ? checkCustomMetadata(req.raw.custom_metadata) : undefined;
    const outcome = await update(req, secretPath(req), (record, now, config) => {
      const warnings: string[] = [];
      if (req.has('cas_required') && !req.data.cas_required && config.cas_required) {
        warnings.push('"cas_required" set to false, but is mandated by backend config. This value will be ignored.');
      }
      if (!record && patch) return { next: undefined, result: { missing: true, warnings } };
      const next = structuredClone(record ?? emptyRecord(now));
      if (req.has('max_versions')) next.max_versions = req.data.max_versions;
      if (req.has('cas_required')) next.cas_required = req.data.cas_required;
      if (req.has('delete_version_after')) next.delete_version_after = req.data.delete_version_after;
      if (custom !== undefined) next.custom_metadata = patch ? (mergePatch(next.custom_metadata ?? {}, custom) as Record<string, string>) : custom;
      next.updated_time = timestamp(now);
      if (next.current_version > 0) purge(next, effectiveMaxVersions(config, next));
      return { next, result: { missing: false, warnings } };
    });
    if (outcome.missing) return null;
    return outcome.warnings.length ? { data: null, warnings: outcome.warnings } : null;
  };
}

async function metadataDelete(req: Request): Promise<HandlerResult> {
  await update(req, secretPath(req), (record) => ({ next: record ? null : undefined, result: null }), false);
  return null;
}

async function subkeysRead(req: Request<{ depth: number }>): Promise<HandlerResult> {
  const { record } = await loadRecord(req.storage, secretPath(req));
  if (!record) return null;
  const version = requestedVersion(req) || record.current_version;
  const entry = record.versions[String(version)];
  if (!entry) return null;
  const metadata = versionMetadata(record, version);
  if (entry.destroyed || isDeleted(entry, Date.now())) return notFoundWith(req, { subkeys: null, metadata });
  return { data: { subkeys: subkeys(entry.data ?? {}, req.data.depth), metadata } };
}

async function configRead(req: Request): Promise<HandlerResult> {
  const c = await loadConfig(req.storage);
  return { data: { cas_required: c.cas_required, delete_version_after: goDuration(c.delete_version_after), max_versions: c.max_versions } };
}

async function configWrite(req: Request<{ max_versions: number; cas_required: boolean; delete_version_after: number }>): Promise<HandlerResult> {
  const c = await loadConfig(req.storage);
  if (req.has('max_versions')) c.max_versions = req.data.max_versions;
  if (req.has('cas_required')) c.cas_required = req.data.cas_required;
  if (req.has('delete_version_after')) c.delete_version_after = req.data.delete_version_after;
  await req.storage.putJson(CONFIG_KEY, c);
  return null;
}

const ROOT_WARNING = 'Non-listing operations on the root of a K/V v2 mount are not supported.';
const VERB: Record<string, string> = { read: 'get', create: 'put', update: 'put', patch: 'patch', delete: 'delete', list: 'list' };
function invalidPath(req: Request): HandlerResult {
  return notFoundWith(req, null, [
    `Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv ${VERB[req.operation] ?? 'get'}' for this operation.`,
  ]);
}

const DATA_FIELDS = {
  data: { type: 'map', description: 'The contents of the data map will be stored and returned on read.' },
  options: { type: 'map', description: 'Options for writing a KV entry: "cas" (check-and-set version).' },
  version: { type: 'int', description: 'The version to return on read (0 or absent: the current one).' },
} as const;
const METADATA_FIELDS = {
  max_versions: { type: 'int', description: 'The number of versions to keep; 0 = the mount\'s setting.' },
  cas_required: { type: 'bool', description: 'Writes to this key must carry the "cas" option.' },
  delete_version_after: { type: 'duration', description: 'Versions are deleted this long after they are written; 0 = never.' },
  custom_metadata: { type: 'map', description: 'User-provided key-value pairs kept with the key\'s metadata.' },
} as const;
const VERSIONS_FIELD = { versions: { type: 'comma-list', description: 'The versions to act on.' } } as const;
const rootOnly = (req: Request) => notFoundWith(req, null, [ROOT_WARNING]);

export const kvV2Backend: Backend = defineBackend({
  type: 'secret',
  name: 'kv',
  version: KV_VERSION,
  help: 'The KV secrets engine (version 2) stores versioned secrets: data/, metadata/, delete/, undelete/, destroy/, subkeys/, config.',
  paths: [
    definePath({
      pattern: 'config',
      fields: { max_versions: METADATA_FIELDS.max_versions, cas_required: METADATA_FIELDS.cas_required, delete_version_after: METADATA_FIELDS.delete_version_after },
      operations: { read: configRead, update: configWrite },
      help: 'Configures settings for the KV store.',
    }),
    { pattern: '(data|delete|undelete|destroy|subkeys)/?', operations: { read: rootOnly, update: rootOnly, delete: rootOnly, patch: rootOnly }, help: 'The root of a versioned path: not served.' },
    {
      pattern: 'data/(?<path>.+)',
      fields: DATA_FIELDS,
      exists: async (req) => req.storage.has(metaKey(secretPath(req))),
      operations: { read: dataRead, create: dataWrite, update: dataWrite, patch: dataPatch, delete: dataDelete },
      help: 'Write, patch, read, and delete data in the versioned key-value store.',
    },
    definePath({
      pattern: 'metadata/?(?<path>.*)',
      fields: METADATA_FIELDS,
      exists: async (req) => req.storage.has(metaKey(secretPath(req))),
      operations: { read: metadataRead, list: metadataList, create: metadataWriter(false), update: metadataWriter(false), patch: metadataWriter(true), delete: metadataDelete },
      help: 'Configures settings for the KV store, per key; lists keys.',
    }),
    definePath({ pattern: 'delete/(?<path>.+)', fields: VERSIONS_FIELD, operations: { update: changeVersions('delete') }, help: 'Marks one or more versions as deleted.' }),
    definePath({ pattern: 'undelete/(?<path>.+)', fields: VERSIONS_FIELD, operations: { update: changeVersions('undelete') }, help: 'Undeletes one or more versions.' }),
    definePath({ pattern: 'destroy/(?<path>.+)', fields: VERSIONS_FIELD, operations: { update: changeVersions('destroy') }, help: 'Permanently removes one or more versions.' }),
    definePath({
      pattern: 'subkeys/(?<path>.+)',
      fields: { version: DATA_FIELDS.version, depth: { type: 'int', description: 'How deep to descend; 0 = no limit.' } },
      operations: { read: subkeysRead },
      help: 'Read the structure of a secret entry without its values.',
    }),
    {
      pattern: '(?<path>.*)',
      takesArbitraryInput: true,
      operations: { read: invalidPath, create: invalidPath, update: invalidPath, patch: invalidPath, delete: invalidPath, list: invalidPath },
      help: 'Any other path: Vault\'s pointer to the versioned API.',
    },
  ],
});

// ------------------------------------------------------------------------------------------------- the upgrade

/** Every key under `prefix`, depth first. */
async function listAll(storage: Storage, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await storage.list(prefix)) {
    if (name.endsWith('/')) out.push(...(await listAll(storage, prefix + name)));
    else out.push(prefix + name);
  }
  return out;
}

/**
 * Moves a mount's version-1 entries into version-2 records (version 1 of each), once, on the setup that follows a
 * tune of `version` to 2. Each key moves in one transaction (the old entry must still hold what was read, the new
 * record must not exist), so runners setting the mount up at once move each key exactly once.
 */
export async function upgradeToV2(storage: Storage): Promise<number> {
  if (await storage.has(UPGRADED_KEY)) return 0;
  const config = await loadConfig(storage);
  let moved = 0;
  for (const key of await listAll(storage, V1_PREFIX)) {
    const bytes = await storage.get(key);
    if (bytes === null) continue;
    const path = key.slice(V1_PREFIX.length);
    const { record } = addVersion(config, null, JSON.parse(bytes.toString('utf8')) as Record<string, unknown>, Date.now());
    const ok = await storage.txn(
      [{ key, value: bytes }, { key: metaKey(path), exists: false }],
      [{ key: metaKey(path), value: JSON.stringify(record) }, { key, delete: true }],
    );
    if (ok) moved++;
  }
  await storage.put(UPGRADED_KEY, timestamp(Date.now()));
  return moved;
}

// ------------------------------------------------------------------------------------- one process, both APIs

/**
 * The protocol's view: each mount is served by the version-1 or the version-2 backend as its `version` option says
 * (a tune sets the mount up again with the new option, which is when version 2 upgrades the data).
 */
export function kvImplementation(): PluginImplementation {
  const v1 = toPluginImplementation(kvV1Backend);
  const v2 = toPluginImplementation(kvV2Backend);
  const versioned = new Map<string, boolean>();
  const pick = (mountId: string) => (versioned.get(mountId) ? v2 : v1);
  return {
    hello: kvV2Backend.hello,
    async setup(mount: MountInfo, host: HostCalls) {
      versioned.set(mount.id, isVersioned(mount));
      await v1.setup(mount, host);
      await v2.setup(mount, host);
      if (isVersioned(mount)) {
        await upgradeToV2(hostStorage(host, mount.id));
      }
    },
    handle: (mountId: string, request: PluginRequest, host: HostCalls) => pick(mountId).handle(mountId, request, host),
    exists: (mountId: string, request: PluginRequest, host: HostCalls) => pick(mountId).exists(mountId, request, host),
    specialPaths: () => [],
    help: (mountId: string, path: string) => pick(mountId).help!(mountId, path),
    async cleanup(mountId: string, host: HostCalls) {
      await v1.cleanup?.(mountId, host);
      await v2.cleanup?.(mountId, host);
      versioned.delete(mountId);
    },
  };
}
