/**
 * The AppRole auth method, with Vault's paths, fields, response shapes and texts (builtin/credential/approle): roles
 * with token settings and secret-ID constraints, a role ID per role, secret IDs (generated or custom) with use counts,
 * TTLs and CIDR bindings, accessors to manage them by, and `login`, which turns a role ID and secret ID into an auth
 * block for the host to issue a token from.
 *
 * Storage (all values encrypted by the host; keys are plain, so nothing secret is in a key):
 *   role/<name>                                   RoleEntry
 *   role_id/<sha256(role_id)>                     { name }
 *   secret_id/<hmac(role name)>/<hmac(secret ID)> SecretIdEntry   (HMACs keyed by the role's own random key)
 *   accessor/<sha256(accessor)>                   { secret_id_hmac, role_name }
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import {
  cidrsWithin,
  defineBackend,
  definePath,
  emptyTokenParams,
  genericNameRegex,
  invalidCidrs,
  ipInCidrs,
  listResponse,
  parseTokenFields,
  PluginError,
  TOKEN_FIELDS,
  tokenAuth,
  tokenData,
  upgradeField,
  type AuthRenewRequest,
  type HandlerResponse,
  type Request,
  type Storage,
  type TokenParams,
} from '#plugin-sdk';

export const APPROLE_VERSION = 'v0.1.0';
/** Vault's one text for an unknown role ID, an unknown secret ID and a used-up or expired one. */
export const INVALID_CREDENTIALS = 'invalid role or secret ID';
/** Go's zero time.Time as encoding/json writes it: Vault's `expiration_time` of a secret ID that never expires. */
const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

export interface RoleEntry extends TokenParams {
  name: string;
  role_id: string;
  /** Random, per role: the key of the HMACs that name its secret IDs in storage. */
  hmac_key: string;
  bind_secret_id: boolean;
  secret_id_bound_cidrs: string[];
  secret_id_num_uses: number;
  /** Seconds; 0 = no expiry (capped by the mount's max TTL). */
  secret_id_ttl: number;
  local_secret_ids: boolean;
  /** Deprecated spellings Vault still shows back when they were used. */
  policies?: string[];
  period?: number;
}

export interface SecretIdEntry {
  secret_id_accessor: string;
  /** Uses left; 0 = unlimited. */
  secret_id_num_uses: number;
  secret_id_ttl: number;
  creation_time: string;
  /** GO_ZERO_TIME when it never expires. */
  expiration_time: string;
  last_updated_time: string;
  metadata: Record<string, string>;
  cidr_list: string[];
  token_bound_cidrs: string[];
}

interface AccessorEntry {
  secret_id_hmac: string;
  role_name: string;
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const hmac = (key: string, value: string) => createHmac('sha256', key).update(value).digest('hex');
const invalid = (message: string) => new PluginError('invalid-request', message);

const roleKey = (name: string) => `role/${name.toLowerCase()}`;
const roleIdKey = (roleId: string) => `role_id/${sha256(roleId)}`;
const accessorKey = (accessor: string) => `accessor/${sha256(accessor)}`;
const secretIdPrefix = (role: RoleEntry) => `secret_id/${hmac(role.hmac_key, role.name)}/`;
const secretIdKey = (role: RoleEntry, secretIdHmac: string) => `${secretIdPrefix(role)}${secretIdHmac}`;

/**
 * Read-modify-write of one secret ID (a use counted down) runs one at a time per key in this process, as Vault's
 * per-secret-ID locks do. Several runners each have their own process: see docs/engines.md for what that means.
 */
const locks = new Map<string, Promise<unknown>>();
async function exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
  const before = locks.get(key) ?? Promise.resolve();
  const run = before.then(work, work);
  const settled = run.catch(() => undefined);
  locks.set(key, settled);
  try {
    return await run;
  } finally {
    if (locks.get(key) === settled) locks.delete(key);
  }
}

async function loadRole(storage: Storage, name: string): Promise<RoleEntry | null> {
  return storage.getJson<RoleEntry>(roleKey(name));
}

/** Go's %q of a []string: `["a" "b"]`. */
function goQuoteList(list: readonly string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(' ')}]`;
}

function isExpired(entry: SecretIdEntry, nowMs: number): boolean {
  return entry.expiration_time !== GO_ZERO_TIME && Date.parse(entry.expiration_time) <= nowMs;
}

/** Vault's secret ID TTL rule: above the mount's max lease TTL it is the max lease TTL. */
function deriveSecretIdTtl(ttl: number, maxLeaseTtl: number): number {
  return maxLeaseTtl > 0 && ttl > maxLeaseTtl ? maxLeaseTtl : ttl;
}

/** Vault's secretIDStorageEntry.ToResponseData. */
function secretIdData(entry: SecretIdEntry): Record<string, unknown> {
  return {
    cidr_list: [...entry.cidr_list],
    creation_time: entry.creation_time,
    expiration_time: entry.expiration_time,
    last_updated_time: entry.last_updated_time,
    metadata: { ...entry.metadata },
    secret_id_accessor: entry.secret_id_accessor,
    secret_id_num_uses: entry.secret_id_num_uses,
    secret_id_ttl: entry.secret_id_ttl,
    token_bound_cidrs: [...entry.token_bound_cidrs],
  };
}

async function deleteSecretId(storage: Storage, role: RoleEntry, secretIdHmac: string, entry: SecretIdEntry | null): Promise<void> {
  if (entry) await storage.delete(accessorKey(entry.secret_id_accessor));
  await storage.delete(secretIdKey(role, secretIdHmac));
}

/** The live entry of a secret ID, or null; an expired one is removed on sight (Coffer has no periodic tidy). */
async function liveSecretId(storage: Storage, role: RoleEntry, secretIdHmac: string): Promise<SecretIdEntry | null> {
  const entry = await storage.getJson<SecretIdEntry>(secretIdKey(role, secretIdHmac));
  if (!entry) return null;
  if (isExpired(entry, Date.now())) {
    await deleteSecretId(storage, role, secretIdHmac, entry);
    return null;
  }
  // An entry whose accessor is gone was half-destroyed: finish the job, as Vault does at login.
  if (!(await storage.has(accessorKey(entry.secret_id_accessor)))) {
    await storage.delete(secretIdKey(role, secretIdHmac));
    return null;
  }
  return entry;
}

/** Vault's strutil.ParseArbitraryKeyValues for `metadata`: a JSON object of strings (or base64 of one), or k=v,k=v. */
function parseMetadata(raw: string): Record<string, string> {
  const text = raw.trim();
  if (text === '') return {};
  const fromJson = (json: string): Record<string, string> | undefined => {
    try {
      const value = JSON.parse(json) as unknown;
      if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw invalid(`failed to parse metadata: json: cannot unmarshal ${typeof v} into Go value of type string`);
        out[k] = v;
      }
      return out;
    } catch (err) {
      if (err instanceof PluginError) throw err;
      return undefined;
    }
  };
  const json = fromJson(text) ?? (/^[A-Za-z0-9+/=]+$/.test(text) ? fromJson(Buffer.from(text, 'base64').toString('utf8')) : undefined);
  if (json) return json;
  const out: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalid(`failed to parse metadata: invalid key/value pair ${JSON.stringify(pair.trim())}`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------- roles

const ROLE_FIELDS = {
  role_name: { type: 'string', description: 'Name of the role.' },
  bind_secret_id: { type: 'bool', default: true, description: 'Whether a secret ID must be presented at login.' },
  secret_id_bound_cidrs: { type: 'comma-list', description: 'CIDR blocks login requests must come from.' },
  bound_cidr_list: { type: 'comma-list', description: 'Deprecated: use secret_id_bound_cidrs.' },
  secret_id_num_uses: { type: 'int', description: 'How many logins a secret ID allows; 0 means unlimited.' },
  secret_id_ttl: { type: 'duration', description: 'How long a secret ID lives; 0 means no expiry.' },
  local_secret_ids: { type: 'bool', description: 'Accepted for compatibility (Coffer has no replication); only at creation.' },
  role_id: { type: 'string', description: 'A chosen role ID instead of a generated one.' },
  policies: { type: 'comma-list', description: 'Deprecated: use token_policies.' },
  period: { type: 'duration', description: 'Deprecated: use token_period.' },
  ...TOKEN_FIELDS,
} as const;

function hasConstraint(role: RoleEntry): boolean {
  return role.bind_secret_id || role.secret_id_bound_cidrs.length > 0 || role.token_bound_cidrs.length > 0;
}

/** The helpers below serve several paths whose declared fields differ; each reads only fields all of them declare. */
type AnyRequest = Request<Record<string, any>>;

async function writeRole(req: AnyRequest): Promise<HandlerResponse | null> {
  const name = String(req.data.role_name);
  if (Buffer.byteLength(name) > 4096) throw invalid('role_name is longer than maximum of 4096 bytes');
  const storage = req.storage;
  let role = await loadRole(storage, name);
  const creating = role === null;
  if (!role) {
    if (req.operation !== 'create') throw invalid(`role name ${JSON.stringify(name)} doesn't exist`);
    role = {
      ...emptyTokenParams(),
      name: name.toLowerCase(),
      role_id: '',
      hmac_key: randomUUID(),
      bind_secret_id: true,
      secret_id_bound_cidrs: [],
      secret_id_num_uses: 0,
      secret_id_ttl: 0,
      local_secret_ids: false,
    };
  }
  const warnings = parseTokenFields(req, role);

  if (req.has('local_secret_ids')) {
    if (!creating) throw invalid('local_secret_ids can only be modified during role creation');
    role.local_secret_ids = req.data.local_secret_ids === true;
  }
  const previousRoleId = role.role_id;
  if (req.has('role_id')) role.role_id = String(req.data.role_id);
  else if (creating) role.role_id = randomUUID();
  if (role.role_id === '') throw invalid('invalid role_id supplied, or failed to generate a role_id');

  if (req.has('bind_secret_id')) role.bind_secret_id = req.data.bind_secret_id === true;
  const cidrs = req.has('secret_id_bound_cidrs') ? req.data.secret_id_bound_cidrs : req.has('bound_cidr_list') ? req.data.bound_cidr_list : undefined;
  if (cidrs !== undefined) {
    if (invalidCidrs(cidrs).length) throw invalid('invalid CIDR blocks');
    role.secret_id_bound_cidrs = (cidrs as string[]).map((c) => c.trim());
  }
  if (req.has('secret_id_num_uses')) role.secret_id_num_uses = req.data.secret_id_num_uses;
  if (role.secret_id_num_uses < 0) throw invalid('secret_id_num_uses cannot be negative');
  if (req.has('secret_id_ttl')) role.secret_id_ttl = req.data.secret_id_ttl;

  role.policies = upgradeField<string[]>(req, 'policies', 'token_policies', role.policies, (p) => {
    role!.token_policies = [...new Set(p.map((x) => x.trim().toLowerCase()).filter(Boolean))].sort();
  });
  if (role.policies) role.policies = [...new Set(role.policies.map((x) => x.trim().toLowerCase()).filter(Boolean))].sort();
  role.period = upgradeField<number>(req, 'period', 'token_period', role.period, (p) => {
    role!.token_period = p;
  });

  const system = await req.system();
  if ((role.period ?? 0) > system.maxLeaseTtl) {
    throw invalid(`period of ${JSON.stringify(`${role.period}s`)} is greater than the backend's maximum lease TTL of ${JSON.stringify(`${system.maxLeaseTtl}s`)}`);
  }
  if (role.token_max_ttl > system.maxLeaseTtl) {
    warnings.push("token_max_ttl is greater than the backend mount's maximum TTL value; issued tokens' max TTL value will be truncated");
  }
  if (!hasConstraint(role)) throw invalid('at least one constraint should be enabled on the role');

  // The role ID is the login's lookup key: another role's must not be taken over.
  const owner = await storage.getJson<{ name: string }>(roleIdKey(role.role_id));
  if (owner && owner.name !== role.name) throw invalid('role_id already in use');
  if (previousRoleId && previousRoleId !== role.role_id) await storage.delete(roleIdKey(previousRoleId));
  await storage.putJson(roleKey(role.name), role);
  await storage.putJson(roleIdKey(role.role_id), { name: role.name });
  return warnings.length ? { warnings } : null;
}

const roleList = definePath({
  pattern: 'role/?',
  operations: { list: async (req) => listResponse(await req.storage.list('role/')) },
  help: 'Lists all the roles registered with the backend.',
});

const role = definePath({
  pattern: `role/${genericNameRegex('role_name')}`,
  fields: ROLE_FIELDS,
  exists: async (req) => (await loadRole(req.storage, req.data.role_name)) !== null,
  operations: {
    create: writeRole,
    update: writeRole,
    read: async (req) => {
      const entry = await loadRole(req.storage, req.data.role_name);
      if (!entry) return null;
      const data: Record<string, unknown> = {
        bind_secret_id: entry.bind_secret_id,
        local_secret_ids: entry.local_secret_ids,
        // Go's nil slice: Vault shows an unset secret_id_bound_cidrs as null, the token_* lists as [].
        secret_id_bound_cidrs: entry.secret_id_bound_cidrs.length ? [...entry.secret_id_bound_cidrs] : null,
        secret_id_num_uses: entry.secret_id_num_uses,
        secret_id_ttl: entry.secret_id_ttl,
        ...tokenData(entry),
      };
      if (entry.period) data.period = entry.period;
      if (entry.policies?.length) data.policies = [...entry.policies];
      return { data: Object.fromEntries(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : 1))) };
    },
    delete: async (req) => {
      const entry = await loadRole(req.storage, req.data.role_name);
      if (!entry) return null;
      // Its secret IDs go first, then the role ID's index, then the role, as in Vault.
      for (const secretIdHmac of await req.storage.list(secretIdPrefix(entry))) {
        const secret = await req.storage.getJson<SecretIdEntry>(secretIdKey(entry, secretIdHmac));
        await deleteSecretId(req.storage, entry, secretIdHmac, secret);
      }
      await req.storage.delete(roleIdKey(entry.role_id));
      await req.storage.delete(roleKey(entry.name));
      return null;
    },
  },
  help: 'Register an role with the backend.',
  description: 'A role holds the policies and TTLs of the tokens its logins get, and the constraints a login must meet.',
});

const roleId = definePath({
  pattern: `role/${genericNameRegex('role_name')}/role-id`,
  fields: { role_name: { type: 'string' }, role_id: { type: 'string', description: 'Identifier of the role.' } },
  operations: {
    read: async (req) => {
      const entry = await loadRole(req.storage, req.data.role_name);
      return entry ? { data: { role_id: entry.role_id } } : null;
    },
    update: async (req) => {
      const entry = await loadRole(req.storage, req.data.role_name);
      if (!entry) throw new PluginError('unsupported-path', 'unsupported path');
      if (!req.data.role_id) throw invalid('missing role_id');
      const owner = await req.storage.getJson<{ name: string }>(roleIdKey(req.data.role_id));
      if (owner && owner.name !== entry.name) throw invalid('role_id already in use');
      if (entry.role_id !== req.data.role_id) await req.storage.delete(roleIdKey(entry.role_id));
      entry.role_id = req.data.role_id;
      await req.storage.putJson(roleKey(entry.name), entry);
      await req.storage.putJson(roleIdKey(entry.role_id), { name: entry.name });
      return null;
    },
  },
  help: 'Returns the role ID of the role.',
});

// ----------------------------------------------------------------------------------------------------- secret IDs

const SECRET_ID_FIELDS = {
  role_name: { type: 'string' },
  metadata: { type: 'string', description: 'Metadata tied to the secret ID, as a JSON object of strings; copied into the token.' },
  cidr_list: { type: 'comma-list', description: 'CIDR blocks logins with this secret ID must come from.' },
  token_bound_cidrs: { type: 'comma-list', description: 'CIDR blocks the tokens issued with this secret ID may be used from.' },
  num_uses: { type: 'int', description: "Logins this secret ID allows; at most the role's secret_id_num_uses." },
  ttl: { type: 'duration', description: "Life of this secret ID; at most the role's secret_id_ttl." },
} as const;

/** Vault's handleRoleSecretIDCommon: checks in its order, then stores the entry and its accessor. */
async function issueSecretId(req: AnyRequest, secretId: string): Promise<HandlerResponse> {
  const name = String(req.data.role_name);
  if (!secretId) throw invalid('missing secret_id');
  const entry = await loadRole(req.storage, name);
  if (!entry) throw invalid(`role ${JSON.stringify(name)} does not exist`);
  if (!entry.bind_secret_id) throw invalid('bind_secret_id is not set on the role');

  const cidrList = (req.data.cidr_list as string[]).map((c) => c.trim());
  if (invalidCidrs(cidrList).length) throw invalid('failed to validate CIDR blocks');
  if (cidrList.length && entry.secret_id_bound_cidrs.length && !cidrsWithin(cidrList, entry.secret_id_bound_cidrs)) {
    throw invalid(
      `failed to verify subset relationship between CIDR blocks on the role ${goQuoteList(entry.secret_id_bound_cidrs)} and CIDR blocks on the secret ID ${goQuoteList(cidrList)}: %!w(<nil>)`,
    );
  }
  const tokenCidrs = (req.data.token_bound_cidrs as string[]).map((c) => c.trim());
  if (invalidCidrs(tokenCidrs).length) throw invalid('failed to validate token CIDR blocks');
  if (tokenCidrs.length && entry.token_bound_cidrs.length && !cidrsWithin(tokenCidrs, entry.token_bound_cidrs)) {
    throw invalid(
      `failed to verify subset relationship between CIDR blocks on the role ${goQuoteList(entry.token_bound_cidrs)} and CIDR blocks on the secret ID ${goQuoteList(tokenCidrs)}: %!w(<nil>)`,
    );
  }

  let numUses = entry.secret_id_num_uses;
  if (req.has('num_uses')) {
    numUses = req.data.num_uses as number;
    if (numUses < 0) throw invalid('num_uses cannot be negative');
    if ((numUses === 0 && entry.secret_id_num_uses > 0) || (entry.secret_id_num_uses > 0 && numUses > entry.secret_id_num_uses)) {
      throw invalid("num_uses cannot be higher than the role's secret_id_num_uses");
    }
  }
  let ttl = entry.secret_id_ttl;
  if (req.has('ttl')) {
    ttl = req.data.ttl as number;
    if ((ttl === 0 && entry.secret_id_ttl > 0) || (entry.secret_id_ttl > 0 && ttl > entry.secret_id_ttl)) {
      throw invalid("ttl cannot be longer than the role's secret_id_ttl");
    }
  }
  const metadata = parseMetadata(String(req.data.metadata ?? ''));

  const secretIdHmac = hmac(entry.hmac_key, secretId);
  const key = secretIdKey(entry, secretIdHmac);
  const { maxLeaseTtl } = await req.system();
  const effectiveTtl = deriveSecretIdTtl(ttl, maxLeaseTtl);
  return exclusive(`${req.mount.id}\0${key}`, async () => {
    if (await req.storage.has(key)) throw invalid('failed to store secret_id: SecretID is already registered');
    const now = new Date();
    const accessor = randomUUID();
    const stored: SecretIdEntry = {
      secret_id_accessor: accessor,
      secret_id_num_uses: numUses,
      secret_id_ttl: ttl,
      creation_time: now.toISOString(),
      expiration_time: effectiveTtl > 0 ? new Date(now.getTime() + effectiveTtl * 1000).toISOString() : GO_ZERO_TIME,
      last_updated_time: now.toISOString(),
      metadata,
      cidr_list: cidrList,
      token_bound_cidrs: tokenCidrs,
    };
    // The accessor first: a secret ID without one is treated as destroyed.
    await req.storage.putJson(accessorKey(accessor), { secret_id_hmac: secretIdHmac, role_name: entry.name } satisfies AccessorEntry);
    await req.storage.putJson(key, stored);
    return {
      data: { secret_id: secretId, secret_id_accessor: accessor, secret_id_num_uses: numUses, secret_id_ttl: effectiveTtl },
    };
  });
}

const secretId = definePath({
  pattern: `role/${genericNameRegex('role_name')}/secret-id/?`,
  fields: SECRET_ID_FIELDS,
  operations: {
    update: (req) => issueSecretId(req, randomUUID()),
    list: async (req) => {
      const entry = await loadRole(req.storage, req.data.role_name);
      if (!entry) throw invalid(`role ${JSON.stringify(req.data.role_name)} does not exist`);
      const accessors: string[] = [];
      for (const secretIdHmac of await req.storage.list(secretIdPrefix(entry))) {
        const live = await liveSecretId(req.storage, entry, secretIdHmac);
        if (live) accessors.push(live.secret_id_accessor);
      }
      return listResponse(accessors.sort());
    },
  },
  help: 'Generate a secret ID against this role, or list the accessors of its secret IDs.',
});

const customSecretId = definePath({
  pattern: `role/${genericNameRegex('role_name')}/custom-secret-id`,
  fields: { ...SECRET_ID_FIELDS, secret_id: { type: 'string', description: 'The secret ID to register.' } },
  operations: { update: (req) => issueSecretId(req, req.data.secret_id) },
  help: 'Register a chosen secret ID against this role.',
});

async function roleFor(req: AnyRequest): Promise<RoleEntry> {
  const entry = await loadRole(req.storage, String(req.data.role_name));
  if (!entry) throw invalid(`role ${JSON.stringify(req.data.role_name)} does not exist`);
  return entry;
}

const secretIdLookup = definePath({
  pattern: `role/${genericNameRegex('role_name')}/secret-id/lookup/?`,
  fields: { role_name: { type: 'string' }, secret_id: { type: 'string', description: 'The secret ID to look up.' } },
  operations: {
    update: async (req) => {
      if (!req.data.secret_id) throw invalid('missing secret_id');
      const entry = await roleFor(req);
      const live = await liveSecretId(req.storage, entry, hmac(entry.hmac_key, req.data.secret_id));
      return live ? { data: secretIdData(live) } : null;
    },
  },
  help: 'Read the properties of a secret ID.',
});

async function destroyBySecretId(req: Request<{ role_name: string; secret_id: string }>) {
  if (!req.data.secret_id) throw invalid('missing secret_id');
  const entry = await roleFor(req);
  const secretIdHmac = hmac(entry.hmac_key, req.data.secret_id);
  const key = secretIdKey(entry, secretIdHmac);
  await exclusive(`${req.mount.id}\0${key}`, async () => {
    const secret = await req.storage.getJson<SecretIdEntry>(key);
    if (secret) await deleteSecretId(req.storage, entry, secretIdHmac, secret);
  });
  return null;
}

const secretIdDestroy = definePath({
  pattern: `role/${genericNameRegex('role_name')}/secret-id/destroy/?`,
  fields: { role_name: { type: 'string' }, secret_id: { type: 'string', description: 'The secret ID to destroy.' } },
  operations: { update: destroyBySecretId, delete: destroyBySecretId },
  help: 'Invalidate a secret ID.',
});

async function accessorEntryFor(req: AnyRequest, entry: RoleEntry): Promise<AccessorEntry | null> {
  const found = await req.storage.getJson<AccessorEntry>(accessorKey(String(req.data.secret_id_accessor)));
  // An accessor names a secret ID of one role only.
  return found && found.role_name === entry.name ? found : null;
}

const accessorLookup = definePath({
  pattern: `role/${genericNameRegex('role_name')}/secret-id-accessor/lookup/?`,
  fields: { role_name: { type: 'string' }, secret_id_accessor: { type: 'string', description: 'Accessor of the secret ID.' } },
  operations: {
    update: async (req) => {
      if (!req.data.secret_id_accessor) throw invalid('missing secret_id_accessor');
      const entry = await roleFor(req);
      const found = await accessorEntryFor(req, entry);
      if (!found) {
        // Vault answers this one with a 404 that carries the error (logical.RespondWithStatusCode).
        return {
          raw: {
            status: 404,
            contentType: 'application/json',
            body: JSON.stringify({ errors: [`failed to find accessor entry for secret_id_accessor: ${JSON.stringify(req.data.secret_id_accessor)}`] }),
          },
        };
      }
      const live = await liveSecretId(req.storage, entry, found.secret_id_hmac);
      return live ? { data: secretIdData(live) } : null;
    },
  },
  help: 'Read the properties of a secret ID by its accessor.',
});

async function destroyByAccessor(req: Request<{ role_name: string; secret_id_accessor: string }>) {
  if (!req.data.secret_id_accessor) throw invalid('missing secret_id_accessor');
  const entry = await roleFor(req);
  const found = await accessorEntryFor(req, entry);
  if (!found) throw invalid(`failed to find accessor entry for secret_id_accessor: ${JSON.stringify(req.data.secret_id_accessor)}`);
  const key = secretIdKey(entry, found.secret_id_hmac);
  await exclusive(`${req.mount.id}\0${key}`, async () => {
    const secret = await req.storage.getJson<SecretIdEntry>(key);
    if (!secret) throw new PluginError('permission-denied', 'invalid secret id accessor');
    await deleteSecretId(req.storage, entry, found.secret_id_hmac, secret);
  });
  return null;
}

const accessorDestroy = definePath({
  pattern: `role/${genericNameRegex('role_name')}/secret-id-accessor/destroy/?`,
  fields: { role_name: { type: 'string' }, secret_id_accessor: { type: 'string', description: 'Accessor of the secret ID.' } },
  operations: { update: destroyByAccessor, delete: destroyByAccessor },
  help: 'Invalidate a secret ID by its accessor.',
});

// ---------------------------------------------------------------------------------------------------------- login

/**
 * Vault's pathLoginUpdate: role ID → role; with bind_secret_id, the secret ID (one use spent, CIDRs checked); the
 * role's secret_id_bound_cidrs; then the auth block, whose token CIDRs are the secret ID's if it has any.
 */
async function login(req: Request<{ role_id: string; secret_id: string }>): Promise<HandlerResponse> {
  const roleIdValue = req.data.role_id.trim();
  if (!roleIdValue) throw invalid('missing role_id');
  const index = await req.storage.getJson<{ name: string }>(roleIdKey(roleIdValue));
  const entry = index && (await loadRole(req.storage, index.name));
  if (!entry || entry.role_id !== roleIdValue) throw invalid(INVALID_CREDENTIALS);
  const address = req.remoteAddress;

  let metadata: Record<string, string> = {};
  let secret: SecretIdEntry | null = null;
  if (entry.bind_secret_id) {
    const secretIdValue = req.data.secret_id.trim();
    if (!secretIdValue) throw invalid('missing secret_id');
    const secretIdHmac = hmac(entry.hmac_key, secretIdValue);
    const key = secretIdKey(entry, secretIdHmac);
    secret = await exclusive(`${req.mount.id}\0${key}`, async () => {
      const found = await liveSecretId(req.storage, entry, secretIdHmac);
      if (!found) throw invalid(INVALID_CREDENTIALS);
      if (found.secret_id_num_uses === 0) {
        checkSecretIdCidrs(found, entry, address, 'through CIDR restrictions on the secret ID', false);
        return found;
      }
      // A use is spent before the CIDR check, as in Vault: a login from the wrong place still costs one.
      if (found.secret_id_num_uses === 1) await deleteSecretId(req.storage, entry, secretIdHmac, found);
      else {
        await req.storage.putJson(key, { ...found, secret_id_num_uses: found.secret_id_num_uses - 1, last_updated_time: new Date().toISOString() });
      }
      checkSecretIdCidrs(found, entry, address, 'by CIDR restrictions on the secret ID', true);
      return found;
    });
    metadata = { ...secret.metadata };
  }

  if (entry.secret_id_bound_cidrs.length) {
    if (!address) throw invalid('failed to get connection information');
    if (!ipInCidrs(address, entry.secret_id_bound_cidrs)) {
      throw invalid(`source address ${JSON.stringify(address)} unauthorized by CIDR restrictions on the role: %!w(<nil>)`);
    }
  }

  metadata.role_name = entry.name;
  const auth = tokenAuth(entry);
  if (secret?.token_bound_cidrs.length) auth.boundCidrs = [...secret.token_bound_cidrs];
  auth.metadata = metadata;
  // Vault's InternalData: what the renewal looks the role up by (metadata is the secret ID's, which a user sets).
  auth.internal = { role_name: entry.name };
  return { auth };
}

/** Vault's pathLoginRenew: a token is renewed only while its role exists; the role's current token TTLs apply. */
async function renewLogin(req: AuthRenewRequest) {
  const roleName = typeof req.internal.role_name === 'string' ? req.internal.role_name : '';
  if (!roleName) throw invalid('failed to fetch role_name during renewal');
  const entry = await loadRole(req.storage, roleName);
  if (!entry) throw invalid(`role ${JSON.stringify(roleName)} does not exist during renewal`);
  const { ttl, maxTtl } = tokenAuth(entry);
  return { ttl, maxTtl };
}

function checkSecretIdCidrs(secret: SecretIdEntry, entry: RoleEntry, address: string, wording: string, wrapped: boolean): void {
  if (secret.cidr_list.length && entry.secret_id_bound_cidrs.length && !cidrsWithin(secret.cidr_list, entry.secret_id_bound_cidrs)) {
    throw invalid(
      `failed to verify subset relationship between CIDR blocks on the role ${goQuoteList(entry.secret_id_bound_cidrs)} and CIDR blocks on the secret ID ${goQuoteList(secret.cidr_list)}: %!w(<nil>)`,
    );
  }
  if (!secret.cidr_list.length) return;
  if (!address) throw invalid('failed to get connection information');
  if (!ipInCidrs(address, secret.cidr_list)) {
    throw invalid(`source address ${JSON.stringify(address)} unauthorized ${wording}${wrapped ? ': %!w(<nil>)' : ''}`);
  }
}

const loginPath = definePath({
  pattern: 'login',
  fields: {
    role_id: { type: 'string', description: "Unique identifier of the role. Required when the 'bind_secret_id' constraint is set." },
    secret_id: { type: 'string', default: '', description: 'Secret ID belonging to the role.' },
  },
  operations: { update: login },
  help: 'Issue a token based on the credentials supplied',
  description: "The role ID is always required; the secret ID too when the role's bind_secret_id is set (the default).",
});

export const approleBackend = defineBackend({
  type: 'auth',
  name: 'approle',
  version: APPROLE_VERSION,
  help: 'Machines and services log in with a role ID and a secret ID; each role sets the policies and life of their tokens.',
  unauthenticated: ['login'],
  paths: [roleList, roleId, secretIdLookup, secretIdDestroy, accessorLookup, accessorDestroy, customSecretId, secretId, role, loginPath],
  authRenew: renewLogin,
});
