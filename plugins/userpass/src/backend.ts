/**
 * The userpass auth method: users with a password, policies and a token TTL; `login/<name>` turns a right password
 * into a token. Only a salted scrypt hash of a password is ever stored, and reads never return it.
 */
import { defineBackend, definePath, genericNameRegex, listResponse, PluginError, type Request, type Storage } from '#plugin-sdk';
import { hashPassword, verifyPassword } from './password.js';

export const USERPASS_VERSION = 'v0.1.0';
/** Vault's text for both an unknown user and a wrong password, so neither is told apart. */
export const INVALID_CREDENTIALS = 'invalid username or password';

/** What is stored under `user/<name>`. */
export interface UserEntry {
  password_hash: string;
  policies: string[];
  /** Seconds; 0 = the mount's default. */
  ttl: number;
}

const userKey = (name: string) => `user/${name}`;

/** Vault's userpass folds names to lower case: Alice and alice are one user. */
const username = (req: Request<{ username: string }>) => req.data.username.toLowerCase();

async function loadUser(storage: Storage, name: string): Promise<UserEntry | null> {
  return storage.getJson<UserEntry>(userKey(name));
}

function sanitizePolicies(policies: string[]): string[] {
  return [...new Set(policies.map((p) => p.trim().toLowerCase()).filter((p) => p !== ''))];
}

const users = definePath({
  pattern: `users/${genericNameRegex('username')}`,
  fields: {
    username: { type: 'string', description: 'Username of the user.' },
    password: { type: 'string', description: 'Password for the user; only its salted hash is stored.' },
    policies: { type: 'comma-list', description: 'Policies of the tokens issued at login (a list or a comma-separated string).' },
    ttl: { type: 'duration', description: 'TTL of the tokens issued at login; 0 means the mount default.' },
  },
  exists: async (req) => (await loadUser(req.storage, username(req))) !== null,
  operations: {
    create: writeUser,
    update: writeUser,
    read: async (req) => {
      const user = await loadUser(req.storage, username(req));
      if (!user) return null;
      return { data: { policies: user.policies, ttl: user.ttl } };
    },
    delete: async (req) => {
      await req.storage.delete(userKey(username(req)));
      return null;
    },
  },
  help: 'Manage users allowed to authenticate.',
  description: 'Creates, reads, updates and deletes a user. A write without password keeps the current one.',
});

async function writeUser(req: Request<{ username: string; password: string; policies: string[]; ttl: number }>) {
  const name = username(req);
  const current = await loadUser(req.storage, name);
  if (!current && !req.data.password) throw new PluginError('invalid-request', 'missing password');
  if (req.has('password') && !req.data.password) throw new PluginError('invalid-request', 'missing password');
  const entry: UserEntry = {
    password_hash: req.data.password ? await hashPassword(req.data.password) : current!.password_hash,
    policies: req.has('policies') || !current ? sanitizePolicies(req.data.policies) : current.policies,
    ttl: req.has('ttl') || !current ? req.data.ttl : current.ttl,
  };
  await req.storage.putJson(userKey(name), entry);
  return null;
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
      return {
        auth: {
          policies: user.policies,
          metadata: { username: name },
          displayName: `userpass-${name}`,
          ttl: user.ttl,
          renewable: true,
        },
      };
    },
  },
  help: 'Log in with a username and password.',
});

export const userpassBackend = defineBackend({
  type: 'auth',
  name: 'userpass',
  version: USERPASS_VERSION,
  help: 'Users authenticate with a username and password; each user has policies and a token TTL.',
  unauthenticated: ['login/*'],
  // Usernames are folded to lower case (Alice and alice are one user): the host folds them before the ACL too.
  caseInsensitive: ['users/*'],
  paths: [userList, users, login],
});
