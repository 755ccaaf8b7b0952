import { sanitizeMountPath } from '#vault-rules';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  CofferError,
  type MountDisabledV1,
  type MountEnableRequest,
  type MountEnabledV1,
  type MountMovedV1,
  type MountRef,
  type MountRemountRequest,
  type MountTable,
  type MountTuneRequest,
  type MountTunedV1,
} from '#contracts';
import { findMount, type Mount, type MountTableState } from '#mount-table';
import { selectPlugin, type CatalogEntry, type CatalogState } from '#plugin-catalog';

/**
 * The mount-manager's decisions as plain functions of (mount table, catalog, request): each returns the event to
 * append or throws the CofferError Vault would answer. No I/O, so a lost append race simply calls them again on the
 * newer state, and tests need neither Nest, NATS nor Postgres. Texts and their order follow Vault
 * (vault/logical_system.go handleMount/handleEnableAuth, vault/mount.go, vault/auth.go).
 */

/** Secrets paths Vault keeps for itself (protectedMounts). */
export const RESERVED_SECRET_PREFIXES = ['audit/', 'auth/', 'sys/', 'cubbyhole/', 'identity/'] as const;
/** Types that exist once, built in (singletonMounts). */
export const SINGLETON_TYPES = ['cubbyhole', 'system', 'token', 'identity'] as const;
/** Vault's untunableMounts. */
const UNTUNABLE_SECRET_PREFIXES = ['cubbyhole/', 'sys/', 'audit/', 'identity/'];
/** Built-in secrets mounts Vault refuses to unmount; Coffer has no such mounts but keeps the answer. */
const UNDISABLEABLE_SECRET_PATHS = ['sys/', 'cubbyhole/', 'identity/'];

/** The catalog's grammar, so a version given here finds the entry the catalog stored under the same spelling. */
const SEMVER = /^v?(0|[1-9]\d*)(\.(0|[1-9]\d*)){0,2}(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

export interface RuleOptions {
  /** The server's max_lease_ttl in seconds: a mount default above it, with no mount max, is refused. */
  systemMaxLeaseTtl: number;
}

/** Where fresh identifiers come from; tests pass a fixed source. */
export interface IdSource {
  uuid(): string;
  /** 8 lowercase hex characters. */
  accessorSuffix(): string;
}

export const randomIds: IdSource = {
  uuid: () => randomUUID(),
  accessorSuffix: () => randomBytes(4).toString('hex'),
};

/**
 * Thrown when the catalog has no fitting entry. The command catches up its catalog projection once on this error
 * before answering, since the plugin may have been registered a moment ago through another catalog instance.
 */
export class CatalogMissError extends CofferError {
  constructor(message: string) {
    super('invalid-request', message);
  }
}

const invalid = (message: string) => new CofferError('invalid-request', message);

/** Vault's sanitizePath: no leading slashes, one trailing slash (written once, in libs/vault-rules). */
export { sanitizeMountPath };

/** How a path reads in Vault's messages: auth mounts keep their `auth/` prefix there. */
export function displayPath(table: MountTable, path: string): string {
  return table === 'auth' ? `auth/${path}` : path;
}

/**
 * Vault's validateMountPath (a path must equal its path.Clean form), plus what Clean would keep but a mount path must
 * never hold: `.`/`..` segments that survive cleaning (a leading `..`) and non-printable characters.
 */
export function mountPathError(path: string): string | undefined {
  const cleaned = goClean(path);
  if (path !== cleaned) return `path '${path}' does not match cleaned path '${cleaned}'`;
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(path)) return 'path cannot contain non-printable characters';
  if (path.split('/').some((s) => s === '.' || s === '..')) return `path '${path}' cannot contain '.' or '..' segments`;
  return undefined;
}

/** Go's path.Clean, keeping a trailing slash when the input had one (as validateMountPath does). */
function goClean(p: string): string {
  const trailing = p.endsWith('/');
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (seg === '..' && rooted) continue;
    else out.push(seg);
  }
  let s = (rooted ? '/' : '') + out.join('/');
  if (s === '') s = rooted ? '/' : '.';
  return trailing && s !== '/' ? `${s}/` : s;
}

/** `1.2.3` → `v1.2.3` (the catalog's spelling); "" stays "". */
export function canonicalVersion(raw: string | undefined): string {
  if (raw === undefined || raw === '') return '';
  const v = raw.trim();
  if (!SEMVER.test(v)) throw invalid(`version "${v.slice(0, 64)}" is not a valid semantic version: Malformed version: ${v.slice(0, 64)}`);
  return v.startsWith('v') ? v : `v${v}`;
}

/**
 * The existing mount a new path would overlap, in either direction (Vault's router MountConflict): `a/` blocks
 * `a/b/`, and `a/b/` blocks `a/`.
 */
export function findConflict(table: Record<string, Mount>, path: string): Mount | undefined {
  for (const [existing, mount] of Object.entries(table)) {
    if (existing.startsWith(path) || path.startsWith(existing)) return mount;
  }
  return undefined;
}

/**
 * The catalog entry a mount of `table` runs. A plugin is registered under one type, so both types are searched:
 * that is how "registered, but as the other kind" is told from "not registered at all".
 */
export function resolvePlugin(catalog: CatalogState, table: MountTable, name: string, version: string): CatalogEntry {
  const entry = selectPlugin(catalog, table, name, version);
  if (entry) return entry;
  const other: MountTable = table === 'secret' ? 'auth' : 'secret';
  if (selectPlugin(catalog, other, name, version)) {
    throw new CatalogMissError(
      table === 'auth'
        ? `cannot mount '${name}' of type '${other}' as an auth method`
        : `cannot mount '${name}' of type '${other}' as a secrets engine`,
    );
  }
  throw new CatalogMissError(`plugin not found in the catalog: ${name}${version ? `, version=${version}` : ''}`);
}

function checkEnableTtls(defaultTtl: number, maxTtl: number, opts: RuleOptions): void {
  if (!Number.isInteger(defaultTtl) || !Number.isInteger(maxTtl) || defaultTtl < 0 || maxTtl < 0) {
    throw invalid('lease TTLs must be non-negative whole seconds');
  }
  if (maxTtl !== 0 && defaultTtl > maxTtl) throw invalid('given default lease TTL greater than given max lease TTL');
  if (maxTtl === 0 && defaultTtl > opts.systemMaxLeaseTtl) {
    throw invalid(`given default lease TTL greater than system max lease TTL of ${opts.systemMaxLeaseTtl}`);
  }
}

/** `sys/mounts/:path` and `sys/auth/:path` writes: the `MountEnabled` event, in Vault's order of checks. */
export function decideEnable(
  mounts: MountTableState,
  catalog: CatalogState,
  req: MountEnableRequest,
  opts: RuleOptions,
  ids: IdSource = randomIds,
): MountEnabledV1 {
  const table = tableOf(req.table);
  const defaultLeaseTtl = req.config?.defaultLeaseTtl ?? 0;
  const maxLeaseTtl = req.config?.maxLeaseTtl ?? 0;
  checkEnableTtls(defaultLeaseTtl, maxLeaseTtl, opts);

  let type = typeof req.type === 'string' ? req.type : '';
  if (type === '') throw invalid('backend type must be specified as a string');
  if (type === 'plugin') {
    if (!req.pluginName) throw invalid('plugin_name must be provided for plugin backend');
    type = req.pluginName;
  }
  let options = req.options;
  // Vault's aliases (logical_system.go handleMount): kv-v1 and kv-v2 are kv with the version option set.
  if (table === 'secret' && (type === 'kv-v1' || type === 'kv-v2')) {
    options = { ...(options ?? {}), version: type === 'kv-v1' ? '1' : '2' };
    type = 'kv';
  }
  // Vault lets only its kv engine take a version option; Coffer keeps the rule for a plugin named kv.
  if (options?.version && !(table === 'secret' && type === 'kv')) {
    throw invalid(table === 'auth' ? `auth method "${type}" does not allow setting a version` : `secrets engine "${type}" does not allow setting a version`);
  }
  const requestedVersion = canonicalVersion(req.config?.pluginVersion);

  const path = sanitizeMountPath(req.path);
  if (path === '/') throw invalid('backend path must be specified');
  const pathError = mountPathError(path);
  if (pathError) throw invalid(pathError);

  if (table === 'secret') {
    if (RESERVED_SECRET_PREFIXES.some((p) => path.startsWith(p))) throw invalid(`cannot mount "${path}"`);
    if ((SINGLETON_TYPES as readonly string[]).includes(type)) throw invalid(`mount type of "${type}" is not mountable`);
  } else if (type === 'token' || path === 'token/') {
    // The token store is the gateway's own, always at auth/token/.
    throw invalid('token credential backend cannot be instantiated');
  }

  const conflict = findConflict(mounts[table], path) ?? (table === 'auth' && path.startsWith('token/') ? { path: 'token/' } : undefined);
  if (conflict) {
    // Vault names a secrets conflict by its route and an auth conflict by its auth-table path (no `auth/`).
    throw invalid(`path is already in use at ${conflict.path}`);
  }

  const entry = resolvePlugin(catalog, table, type, requestedVersion);
  const accessorPrefix = table === 'auth' ? `auth_${type}_` : `${type}_`;
  const taken = new Set([...Object.values(mounts.secret), ...Object.values(mounts.auth)].map((m) => m.accessor));
  let accessor = `${accessorPrefix}${ids.accessorSuffix()}`;
  for (let i = 0; taken.has(accessor) && i < 16; i++) accessor = `${accessorPrefix}${ids.accessorSuffix()}`;
  if (taken.has(accessor)) throw new CofferError('internal', 'could not generate a unique mount accessor');

  return {
    v: 1,
    table,
    path,
    type,
    pluginName: type,
    uuid: ids.uuid(),
    accessor,
    description: typeof req.description === 'string' ? req.description : '',
    config: {
      defaultLeaseTtl,
      maxLeaseTtl,
      forceNoCache: req.config?.forceNoCache === true,
      // Vault pins the version it selected (the newest registered, when no unversioned entry exists), so a later
      // registration does not silently change what the mount runs. Not a builtin's: the next build's builtin has
      // another version, and a mount pinned to the old one would no longer start (Vault stopped pinning those too).
      pluginVersion: entry.builtin ? '' : entry.version,
    },
    options: options && Object.keys(options).length > 0 ? stringMap(options) : null,
    local: req.local === true,
    sealWrap: req.sealWrap === true,
  };
}

/** Vault's required secrets mount: every server has `cubbyhole/` (per-token storage), mounted by the system itself. */
export const CUBBYHOLE_MOUNT = { path: 'cubbyhole/', type: 'cubbyhole', description: 'per-token private secret storage' } as const;

/**
 * The `MountEnabled` event of `cubbyhole/` when the table lacks it and the catalog holds a `cubbyhole` secrets plugin,
 * the builtin or a registered one (Vault's setupMounts adds its required mounts the same way, at every unseal); null otherwise. The reserved path and
 * the singleton type refuse every user's enable, so this is the only way the mount comes to exist.
 */
export function decideRequiredMounts(mounts: MountTableState, catalog: CatalogState, ids: IdSource = randomIds): MountEnabledV1 | null {
  if (mounts.secret[CUBBYHOLE_MOUNT.path]) return null;
  const entry = selectPlugin(catalog, 'secret', CUBBYHOLE_MOUNT.type, '');
  if (!entry) return null;
  const taken = new Set([...Object.values(mounts.secret), ...Object.values(mounts.auth)].map((m) => m.accessor));
  let accessor = `${CUBBYHOLE_MOUNT.type}_${ids.accessorSuffix()}`;
  for (let i = 0; taken.has(accessor) && i < 16; i++) accessor = `${CUBBYHOLE_MOUNT.type}_${ids.accessorSuffix()}`;
  return {
    v: 1,
    table: 'secret',
    path: CUBBYHOLE_MOUNT.path,
    type: CUBBYHOLE_MOUNT.type,
    pluginName: CUBBYHOLE_MOUNT.type,
    uuid: ids.uuid(),
    accessor,
    description: CUBBYHOLE_MOUNT.description,
    // A builtin is not pinned, as decideEnable does not pin one: the next build's builtin has another version.
    config: { defaultLeaseTtl: 0, maxLeaseTtl: 0, forceNoCache: false, pluginVersion: entry.builtin ? '' : entry.version },
    options: null,
    // Vault marks its cubbyhole local: it is never replicated.
    local: true,
    sealWrap: false,
  };
}

/** The `MountDisabled` event, or null when nothing is mounted exactly there (Vault answers 204 either way). */
export function decideDisable(mounts: MountTableState, ref: MountRef): MountDisabledV1 | null {
  const table = tableOf(ref.table);
  const path = sanitizeMountPath(ref.path);
  if (table === 'auth' && path === 'token/') throw invalid('token credential backend cannot be disabled');
  if (table === 'secret' && UNDISABLEABLE_SECRET_PATHS.includes(path)) throw invalid(`cannot unmount "${path}"`);
  // `sys/mounts/auth/<p>` names an auth mount on Vault's router, which then refuses to unmount it from there.
  if (table === 'secret' && path.startsWith('auth/') && mounts.auth[path.slice('auth/'.length)]) throw invalid(`cannot unmount "${path}"`);
  const mount = mounts[table][path];
  if (!mount) return null;
  return { v: 1, table, path, uuid: mount.uuid };
}

/**
 * The `MountTuned` event, or null when the request changes nothing. Like Vault, tune finds the mount by longest
 * prefix, so `sys/mounts/secret/foo/tune` tunes `secret/`.
 */
export function decideTune(mounts: MountTableState, catalog: CatalogState, req: MountTuneRequest): MountTunedV1 | null {
  const table = tableOf(req.table);
  const path = sanitizeMountPath(req.path);
  const shown = displayPath(table, path);
  if (table === 'secret' && UNTUNABLE_SECRET_PREFIXES.some((p) => path.startsWith(p))) throw invalid(`cannot tune "${shown}"`);
  if (table === 'auth' && path === 'token/') throw invalid(`cannot tune "${shown}": the token store's TTLs come from the server config`);
  const mount = findMount(mounts[table], path);
  if (!mount) throw invalid(`tune of path "${shown}" failed: no mount entry found`);

  const event: MountTunedV1 = { v: 1, table, path: mount.path };
  const config: MountTunedV1['config'] = {};

  const newDefault = req.config?.defaultLeaseTtl ?? mount.config.defaultLeaseTtl;
  const newMax = req.config?.maxLeaseTtl ?? mount.config.maxLeaseTtl;
  if (newDefault !== mount.config.defaultLeaseTtl || newMax !== mount.config.maxLeaseTtl) {
    if (!Number.isInteger(newDefault) || !Number.isInteger(newMax) || newDefault < 0 || newMax < 0) {
      throw invalid('lease TTLs must be non-negative whole seconds');
    }
    if (newDefault !== 0 && newMax !== 0 && newMax < newDefault) {
      throw invalid(`backend max lease TTL of ${newMax} would be less than backend default lease TTL of ${newDefault}`);
    }
    if (newDefault !== mount.config.defaultLeaseTtl) config.defaultLeaseTtl = newDefault;
    if (newMax !== mount.config.maxLeaseTtl) config.maxLeaseTtl = newMax;
  }

  for (const key of ['auditNonHmacRequestKeys', 'auditNonHmacResponseKeys'] as const) {
    const keys = req.config?.[key];
    if (keys === undefined) continue;
    if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) throw invalid('audit keys must be a list of strings');
    if (JSON.stringify(keys) !== JSON.stringify(mount.config[key] ?? [])) config[key] = [...keys];
  }

  if (req.description !== undefined && req.description !== mount.description) event.description = String(req.description);

  if (req.config?.pluginVersion !== undefined) {
    const version = canonicalVersion(req.config.pluginVersion);
    if (version === '') throw invalid(`version "" is not a valid semantic version: Invalid Semantic Version`);
    if (!selectPlugin(catalog, table, mount.pluginName, version)) {
      throw new CatalogMissError(`plugin not found in the catalog: ${mount.pluginName}, version=${version}`);
    }
    if (version !== mount.config.pluginVersion) config.pluginVersion = version;
  }

  if (mount.type === 'kv' && req.options && req.options.version !== undefined && req.options.version !== null && req.options.version !== '') {
    // Vault's kv rule (logical_system.go handleTuneWriteCommon): versions are integers and only go up.
    const wanted = String(req.options.version);
    const current = Number(mount.options?.version ?? '0') || 0;
    if (!/^\d+$/.test(wanted)) throw invalid(`invalid version provided: ${wanted}`);
    if (Number(wanted) < current) throw invalid(`cannot downgrade mount from version ${current}`);
  }

  if (req.options && Object.keys(req.options).length > 0) {
    // Vault upserts: given keys replace, an empty value removes a key (except `version`, guarded against downgrade).
    const next: Record<string, string> = { ...(mount.options ?? {}) };
    for (const [k, raw] of Object.entries(req.options)) {
      const v = raw === null || raw === undefined ? '' : String(raw);
      if (v === '' && k !== 'version') delete next[k];
      else next[k] = v;
    }
    const nextOptions = Object.keys(next).length > 0 ? next : null;
    if (JSON.stringify(nextOptions) !== JSON.stringify(mount.options)) event.options = nextOptions;
  }

  if (Object.keys(config).length > 0) event.config = config;
  const changed = event.config !== undefined || event.description !== undefined || event.options !== undefined;
  return changed ? event : null;
}

/**
 * The `MountMoved` event. The source must be mounted exactly there and the target must overlap nothing (the source
 * included: moving `a/` to `a/b/` is refused as Vault does). The mount keeps its uuid, so its storage moves with it.
 */
export function decideRemount(mounts: MountTableState, req: MountRemountRequest): MountMovedV1 {
  const table = tableOf(req.table);
  const rawFrom = typeof req.from === 'string' ? req.from : '';
  const rawTo = typeof req.to === 'string' ? req.to : '';
  if (rawFrom === '' || rawTo === '') throw invalid("both 'from' and 'to' path must be specified as a string");
  if (rawFrom.trim() !== rawFrom) throw invalid("'from' path cannot contain trailing whitespace");
  if (rawTo.trim() !== rawTo) throw invalid("'to' path cannot contain trailing whitespace");
  const from = sanitizeMountPath(rawFrom);
  const to = sanitizeMountPath(rawTo);
  const shownFrom = displayPath(table, from);
  const shownTo = displayPath(table, to);
  if (to === '/') throw invalid("both 'from' and 'to' path must be specified as a string");
  const pathError = mountPathError(to);
  if (pathError) throw invalid(`invalid destination mount: ${pathError.replace(`'${to}'`, `'${shownTo}'`)}`);

  if (table === 'auth') {
    // Vault's protectedAuths is a raw prefix check on `auth/token`.
    if (shownFrom.startsWith('auth/token')) throw invalid(`cannot remount "${shownFrom}"`);
    if (shownTo.startsWith('auth/token')) throw invalid(`cannot remount to destination "${shownTo}"`);
  } else {
    for (const p of RESERVED_SECRET_PREFIXES) {
      if (from.startsWith(p)) throw invalid(`cannot remount "${shownFrom}"`);
      if (to.startsWith(p)) throw invalid(`cannot remount to destination ${shownTo}`);
    }
  }

  if (!mounts[table][from]) throw invalid(`no matching mount at "${shownFrom}"`);
  const conflict = findConflict(mounts[table], to);
  if (conflict) throw invalid(`path already in use at "${displayPath(table, conflict.path)}"`);
  return { v: 1, table, from, to };
}

function tableOf(table: unknown): MountTable {
  if (table === 'secret' || table === 'auth') return table;
  throw invalid(`unknown mount table: ${String(table).slice(0, 32)}`);
}

function stringMap(options: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(options).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)]));
}
