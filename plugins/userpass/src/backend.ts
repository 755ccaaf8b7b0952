/**
 * The userpass auth method: users with a password and Vault's `token_*` settings (policies, TTLs, use count, bound
 * CIDRs...); `login/<name>` turns a right password into an auth block. Only a salted scrypt hash of a password is
 * ever stored, and reads never return it.
 */
import {
  defineBackend,
  definePath,
  emptyTokenParams,
  genericNameRegex,
  ipInCidrs,
  listResponse,
  parsePolicies,
  parseTokenFields,
  PluginError,
  TOKEN_FIELDS,
  tokenAuth,
  tokenData,
  upgradeField,
  type AuthRenewRequest,
  type Request,
  type Storage,
  type TokenParams,
} from '#plugin-sdk';
import { hashPassword, verifyPassword } from './password.js';

export const USERPASS_VERSION = 'v0.1.0';
/** Vault's text for both an unknown user and a wrong password, so neither is told apart. */
export const INVALID_CREDENTIALS = 'invalid username or password';

/**
 * What is stored under `user/<name>`: the hash and Vault's token parameters. `policies`, `ttl`, `max_ttl` and
 * `bound_cidrs` are Vault's deprecated spellings, kept only when a write used them (reads show them back, as Vault's
 * do). Entries written before the token_* fields had only `password_hash`, `policies` and `ttl`: `normalize` reads
 * those as token_policies and token_ttl.
 */
export interface UserEntry extends Partial<TokenParams> {
  password_hash: string;
  policies?: string[];
  /** Seconds; 0 = the mount's default. */
  ttl?: number;
  max_ttl?: number;
  bound_cidrs?: string[];
}

type User = UserEntry & TokenParams;

function normalize(entry: UserEntry): User {
  const params = emptyTokenParams();
  const legacy = entry.token_policies === undefined;
  return {
    ...params,
    ...entry,
    token_policies: entry.token_policies ?? entry.policies ?? [],
    token_ttl: entry.token_ttl ?? entry.ttl ?? 0,
    token_max_ttl: entry.token_max_ttl ?? entry.max_ttl ?? 0,
    token_bound_cidrs: entry.token_bound_cidrs ?? entry.bound_cidrs ?? [],
    // An old entry's `ttl: 0` was a field, not a deprecated spelling the user chose: do not show it back.
    ...(legacy && !entry.ttl ? { ttl: undefined } : {}),
  };
}

const userKey = (name: string) => `user/${name}`;

/** Vault's userpass folds names to lower case: Alice and alice are one user. */
const username = (req: Request<{ username: string }>) => req.data.username.toLowerCase();

async function loadUser(storage: Storage, name: string): Promise<User | null> {
  const entry = await storage.getJson<UserEntry>(userKey(name));
  return entry && normalize(entry);
}

const users = definePath({
  pattern: `users/${genericNameRegex('username')}`,
  fields: {
    username: { type: 'string', description: 'Username of the user.' },
    password: { type: 'string', description: 'Password for the user; only its salted hash is stored.' },
    policies: { type: 'comma-list', description: 'Deprecated: use token_policies.' },
    ttl: { type: 'duration', description: 'Deprecated: use token_ttl.' },
    max_ttl: { type: 'duration', description: 'Deprecated: use token_max_ttl.' },
    bound_cidrs: { type: 'comma-list', description: 'Deprecated: use token_bound_cidrs.' },
    ...TOKEN_FIELDS,
  },
  exists: async (req) => (await loadUser(req.storage, username(req))) !== null,
  operations: {
    create: writeUser,
    update: writeUser,
    read: async (req) => {
      const user = await loadUser(req.storage, username(req));
      if (!user) return null;
      // Vault's pathUserRead: the token_* fields, plus each deprecated field that was set.
      const data: Record<string, unknown> = tokenData(user);
      if (user.ttl) data.ttl = user.ttl;
      if (user.max_ttl) data.max_ttl = user.max_ttl;
      if (user.policies?.length) data.policies = [...user.token_policies];
      if (user.bound_cidrs?.length) data.bound_cidrs = [...user.bound_cidrs];
      return { data };
    },
    delete: async (req) => {
      await req.storage.delete(userKey(username(req)));
      return null;
    },
  },
  help: 'Manage users allowed to authenticate.',
  description: 'Creates, reads, updates and deletes a user. A write without password keeps the current one.',
});

async function writeUser(req: Request<Record<string, any> & { username: string; password: string }>) {
  const name = username(req);
  const current = await loadUser(req.storage, name);
  if (!current && !req.data.password) throw new PluginError('invalid-request', 'missing password');
  if (req.has('password') && !req.data.password) throw new PluginError('invalid-request', 'missing password');
  const user: User = current ?? { ...emptyTokenParams(), password_hash: '' };
  const warnings = parseTokenFields(req, user);
  // Vault's tokenutil.UpgradeValue for each deprecated spelling: used only when the token_* field is absent.
  user.policies = upgradeField<string[]>(req, 'policies', 'token_policies', user.policies, (p) => (user.token_policies = parsePolicies(p)));
  if (user.policies) user.policies = parsePolicies(user.policies);
  user.ttl = upgradeField<number>(req, 'ttl', 'token_ttl', user.ttl, (t) => (user.token_ttl = t));
  user.max_ttl = upgradeField<number>(req, 'max_ttl', 'token_max_ttl', user.max_ttl, (t) => (user.token_max_ttl = t));
  user.bound_cidrs = upgradeField<string[]>(req, 'bound_cidrs', 'token_bound_cidrs', user.bound_cidrs, (c) => (user.token_bound_cidrs = c));
  if (user.token_ttl > 0 && user.token_max_ttl > 0 && user.token_ttl > user.token_max_ttl) {
    throw new PluginError('invalid-request', "'token_ttl' cannot be greater than 'token_max_ttl'");
  }
  user.password_hash = req.data.password ? await hashPassword(req.data.password) : current!.password_hash;
  await req.storage.putJson(userKey(name), user);
  return warnings.length ? { warnings } : null;
}

const userList = definePath({
  pattern: 'users/?',
  operations: { list: async (req) => listResponse(await req.storage.list('user/')) },
  help: 'List the users.',
});

const login = definePath({
  pattern: `login/${genericNameRegex('username')}`,
  fields: {
    username: { type: 'string', description: 'Username of the user.' },
    password: { type: 'string', description: 'Password for the user.' },
  },
  operations: {
    update: async (req) => {
      if (!req.data.password) throw new PluginError('invalid-request', 'missing password');
      const name = username(req);
      const user = await loadUser(req.storage, name);
      // Always one scrypt, known user or not: the time taken does not say whether the user exists.
      const ok = await verifyPassword(req.data.password, user?.password_hash ?? null);
      if (!ok || !user) throw new PluginError('invalid-request', INVALID_CREDENTIALS);
      // Vault refuses a login from outside the user's token_bound_cidrs (checked after the password here, so the
      // answer never tells a stranger which users exist).
      if (user.token_bound_cidrs.length && !ipInCidrs(req.remoteAddress, user.token_bound_cidrs)) {
        throw new PluginError('permission-denied', 'permission denied');
      }
      return { auth: { ...tokenAuth(user), metadata: { username: name }, displayName: `userpass-${name}`, ttl: user.token_ttl } };
    },
  },
  help: 'Log in with a username and password.',
});

/** Vault's policyutil.EquivalentPolicies: the same set, `default` aside. */
function equivalentPolicies(a: readonly string[], b: readonly string[]): boolean {
  const set = (list: readonly string[]) => new Set(parsePolicies(list).filter((p) => p !== 'default'));
  const x = set(a);
  const y = set(b);
  return x.size === y.size && [...x].every((p) => y.has(p));
}

/**
 * Vault's pathLoginRenew: a token is renewed only while its user exists with the policies it logged in with; the
 * user's current token TTLs apply. (Vault answers a deleted user's renewal with nothing, which leaves the token as
 * it was; here it is refused in words, which leaves it as it was too.)
 */
async function renewLogin(req: AuthRenewRequest) {
  const name = req.metadata.username ?? '';
  const user = name ? await loadUser(req.storage, name) : null;
  if (!user) throw new PluginError('invalid-request', `user ${JSON.stringify(name)} no longer exists, not renewing`);
  if (!equivalentPolicies(user.token_policies, req.policies)) throw new PluginError('invalid-request', 'policies have changed, not renewing');
  const { ttl, maxTtl } = tokenAuth(user);
  return { ttl, maxTtl };
}

export const userpassBackend = defineBackend({
  type: 'auth',
  name: 'userpass',
  version: USERPASS_VERSION,
  help: 'Users authenticate with a username and password; each user has the policies, TTLs and limits of its tokens.',
  unauthenticated: ['login/*'],
  // Usernames are folded to lower case (Alice and alice are one user): the host folds them before the ACL too.
  caseInsensitive: ['users/*'],
  paths: [userList, users, login],
  authRenew: renewLogin,
});
