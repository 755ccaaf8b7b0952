/**
 * The cubbyhole secrets engine: storage private to each token. Every key is filed under a scope derived from the
 * calling token's accessor (`cubbyholeScope`), so two tokens never see each other's entries, and what a token stored
 * is gone when the token is: the gateway's token store tells the runners to delete the scope of every token it
 * revokes (see apps/gateway/src/cubbyhole/). Vault's cubbyhole does the same with a per-token prefix.
 */
import { createHash } from 'node:crypto';
import { defineBackend, listResponse, PluginError, type Request } from '#plugin-sdk';

export const CUBBYHOLE_VERSION = 'v0.1.0';

/**
 * The storage prefix of a token's cubbyhole: the SHA-256 of its accessor, so storage keys (plain in the database)
 * name no accessor. The gateway computes the same to delete a revoked token's cubbyhole; keep the two in step.
 */
export function cubbyholeScope(accessor: string): string {
  return createHash('sha256').update(`cubbyhole:${accessor}`).digest('hex');
}

function scoped(req: Request, path: string): string {
  // Every cubbyhole path needs a token (none is unauthenticated), so an empty accessor means a host bug: refuse.
  if (!req.tokenAccessor) throw new PluginError('invalid-request', 'client token empty');
  return `${cubbyholeScope(req.tokenAccessor)}/${path}`;
}

export const cubbyholeBackend = defineBackend({
  type: 'secret',
  name: 'cubbyhole',
  version: CUBBYHOLE_VERSION,
  help:
    'Per-token private secret storage: a token reads and writes only its own entries, and they are deleted when ' +
    'the token is revoked or expires.',
  paths: [
    {
      pattern: '(?<path>.*)',
      takesArbitraryInput: true,
      exists: async (req) => req.data.path !== '' && (await req.storage.has(scoped(req, req.data.path))),
      operations: {
        read: async (req) => {
          const path = String(req.data.path);
          if (path === '') throw new PluginError('invalid-request', 'missing path');
          const value = await req.storage.getJson<Record<string, unknown>>(scoped(req, path));
          return value === null ? null : { data: value };
        },
        update: async (req) => {
          const path = String(req.data.path);
          if (path === '') throw new PluginError('invalid-request', 'missing path');
          // The captured `path` is not part of the secret: only what the body carried is stored.
          const { path: _path, ...body } = req.raw;
          if (Object.keys(body).length === 0) throw new PluginError('invalid-request', 'missing data fields');
          await req.storage.putJson(scoped(req, path), body);
          return null;
        },
        delete: async (req) => {
          const path = String(req.data.path);
          if (path === '') throw new PluginError('invalid-request', 'missing path');
          await req.storage.delete(scoped(req, path));
          return null;
        },
        list: async (req) => {
          let path = String(req.data.path);
          if (path !== '' && !path.endsWith('/')) path += '/';
          return listResponse(await req.storage.list(scoped(req, path)));
        },
      },
      help: 'Pass-through secret storage to a token-specific cubbyhole.',
      description: "Reads and writes arbitrary data in the calling token's own cubbyhole; revoking the token removes it.",
    },
  ],
});
