import type { HostCalls, MountInfo, PluginImplementation } from '#plugin-protocol';
import { PluginError, serve as serveProtocol, type ServeOptions } from '#plugin-protocol';
import type { Backend, RequestContext } from './backend.js';
import type { Storage } from './types.js';

/**
 * The protocol's view of a backend. One implementation serves every mount the host sets up on this process; the
 * mount a call is for is looked up by its id, and storage calls always carry that id back so the host can scope them.
 */
export function toPluginImplementation(backend: Backend): PluginImplementation {
  const mounts = new Map<string, MountInfo>();

  function context(mountId: string, host: HostCalls): RequestContext {
    const mount = mounts.get(mountId);
    // The host sets a mount up before using it, and again after a relaunch; anything else is a host bug.
    if (!mount) throw new PluginError('internal', `mount ${mountId} is not set up in this plugin process`);
    return {
      mount,
      storage: hostStorage(host, mountId),
      system: () => host.call('system.info', { mount: mountId }),
    };
  }

  const leases: Pick<PluginImplementation, 'renew' | 'revoke' | 'periodic' | 'renewAuth'> = {};
  // Only a backend that declares secrets answers renew and revoke; the others answer -32601, as before protocol 3.
  if (backend.leases) leases.revoke = (mountId, lease, host) => backend.revoke(lease, context(mountId, host));
  if (backend.renews) leases.renew = (mountId, lease, increment, host) => backend.renew(lease, increment, context(mountId, host));
  // Likewise renewAuth: only a backend that declares authRenew is asked; the others' tokens renew by the host's rules.
  if (backend.renewsAuth) leases.renewAuth = (mountId, auth, increment, host) => backend.renewAuth(auth, increment, context(mountId, host));

  // Scheduled work only when declared: without it the host hears -32601 and stops asking.
  const periodic = backend.declaration.periodic;
  if (periodic) {
    leases.periodic = async (mountId, host) => {
      const mount = mounts.get(mountId);
      if (!mount) throw new PluginError('internal', `mount ${mountId} is not set up in this plugin process`);
      await periodic({ mount, storage: hostStorage(host, mountId) });
    };
  }

  return {
    ...leases,
    hello: backend.hello,
    async setup(mount, host) {
      mounts.set(mount.id, mount);
      await backend.declaration.setup?.({ mount, storage: hostStorage(host, mount.id) });
    },
    handle: (mountId, request, host) => backend.handle(request, context(mountId, host)),
    exists: (mountId, request, host) => backend.exists(request, context(mountId, host)),
    specialPaths: () => backend.specialPaths(),
    caseInsensitivePaths: () => backend.caseInsensitivePaths(),
    // Help comes from the declaration alone; the mount id only proves the host set the mount up here.
    help(mountId, path) {
      if (!mounts.has(mountId)) throw new PluginError('internal', `mount ${mountId} is not set up in this plugin process`);
      return backend.help(path);
    },
    invalidate(mountId, key) {
      const mount = mounts.get(mountId);
      if (mount) backend.declaration.invalidate?.(key, mount);
    },
    async cleanup(mountId, host) {
      const mount = mounts.get(mountId);
      if (!mount) return;
      try {
        await backend.declaration.cleanup?.({ mount, storage: hostStorage(host, mountId) });
      } finally {
        mounts.delete(mountId);
      }
    },
  };
}

/** Runs the backend as a plugin process on stdin/stdout. */
export function serve(backend: Backend, options?: ServeOptions): void {
  serveProtocol(toPluginImplementation(backend), options);
}

/** Storage over the protocol's storage calls; values cross the wire as base64. */
export function hostStorage(host: HostCalls, mountId: string): Storage {
  const storage: Storage = {
    async get(key) {
      const { value } = await host.call('storage.get', { mount: mountId, key });
      return value === null ? null : Buffer.from(value, 'base64');
    },
    async getString(key) {
      const value = await storage.get(key);
      return value === null ? null : value.toString('utf8');
    },
    async getJson<T>(key: string) {
      const value = await storage.getString(key);
      return value === null ? null : (JSON.parse(value) as T);
    },
    async has(key) {
      if ((host.protocol ?? 1) >= 2) return (await host.call('storage.exists', { mount: mountId, key })).exists;
      return (await storage.get(key)) !== null;
    },
    async txn(conditions, writes) {
      const b64 = (v: Uint8Array | string) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v)).toString('base64');
      const { ok } = await host.call('storage.txn', {
        mount: mountId,
        checks: conditions.map((c) => ('exists' in c ? { key: c.key, exists: c.exists } : { key: c.key, value: b64(c.value) })),
        ops: writes.map((w) => ('delete' in w ? { op: 'delete' as const, key: w.key } : { op: 'put' as const, key: w.key, value: b64(w.value) })),
      });
      return ok;
    },
    async put(key, value) {
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
      await host.call('storage.put', { mount: mountId, key, value: bytes.toString('base64') });
    },
    async putJson(key, value) {
      await storage.put(key, JSON.stringify(value));
    },
    async delete(key) {
      await host.call('storage.delete', { mount: mountId, key });
    },
    async list(prefix) {
      const { keys } = await host.call('storage.list', { mount: mountId, prefix });
      return keys;
    },
  };
  return storage;
}
