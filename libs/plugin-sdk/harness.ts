import { randomUUID } from 'node:crypto';
import type { AuthRenewInfo, HostCalls, HostToPlugin, LeaseInfo, MountInfo, Operation, PluginImplementation, PluginRequest, PluginResponse, PluginToHost } from '#plugin-protocol';
import { PluginError } from '#plugin-protocol';
import type { Backend } from './backend.js';
import { toPluginImplementation } from './implementation.js';
import type { SystemInfo } from './types.js';

/**
 * One mount's storage in memory, with the host's listing rule. Tests read it directly to see exactly what a plugin
 * stored (`entries()` gives the bytes).
 */
export class MemoryStorage {
  readonly #entries = new Map<string, Buffer>();

  get(key: string): Buffer | null {
    const value = this.#entries.get(key);
    return value === undefined ? null : Buffer.from(value);
  }

  put(key: string, value: Uint8Array | string): void {
    this.#entries.set(key, typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value));
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Vault's rule: names directly under `prefix`, deeper keys folded into `folder/`, sorted, no duplicates. */
  list(prefix: string): string[] {
    const names = new Set<string>();
    for (const key of this.#entries.keys()) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      const slash = rest.indexOf('/');
      names.add(slash === -1 ? rest : rest.slice(0, slash + 1));
    }
    return [...names].sort();
  }

  keys(): string[] {
    return [...this.#entries.keys()].sort();
  }

  entries(): [string, Buffer][] {
    return this.keys().map((key) => [key, Buffer.from(this.#entries.get(key)!)]);
  }
}

export type HarnessResult =
  | { response: PluginResponse | null; error?: undefined }
  | { response?: undefined; error: PluginError };

export interface HarnessRequestOptions {
  /** Default: "" on the backend's unauthenticated paths, else a fixed test accessor. */
  tokenAccessor?: string;
  /** The client address the host reports (`req.remoteAddress`); default "127.0.0.1". */
  remoteAddress?: string;
  /**
   * Default true: a create or update first asks `exists` and then sends create or update as the host does. false
   * sends the operation as given.
   */
  existenceCheck?: boolean;
}

export interface HarnessOptions {
  mount?: Partial<MountInfo>;
  system?: Partial<SystemInfo>;
}

export interface Harness {
  /**
   * One request through the plugin side of the protocol, as the host would send it: data and response cross a JSON
   * round trip. A PluginError comes back as `{ error }`; any other throw is a bug in the backend and is rethrown.
   */
  request(operation: Operation, path: string, data?: Record<string, unknown>, options?: HarnessRequestOptions): Promise<HarnessResult>;
  exists(path: string, data?: Record<string, unknown>): Promise<{ checkFound: boolean; exists: boolean }>;
  invalidate(key: string): void;
  cleanup(): Promise<void>;
  specialPaths(): string[];
  help(path: string): string;
  /** The lease the host would keep for a response with a `secret` (protocol 3). */
  leaseOf(response: PluginResponse | null | undefined): LeaseInfo;
  /** The host's renew call for a lease: `{ error }` when the plugin refuses. */
  renew(lease: LeaseInfo, increment?: number): Promise<{ value: HostToPlugin['renew']['result'] } | { error: PluginError }>;
  /** The host's revoke call for a lease. */
  revoke(lease: LeaseInfo): Promise<{ value: void } | { error: PluginError }>;
  /** The host's scheduled `periodic` call for the mount (protocol 3); `{ error }` when the backend declares none. */
  periodic(): Promise<{ value: void } | { error: PluginError }>;
  /**
   * What the host keeps of a login response for its token's renewals (protocol 3): the auth block as the plugin
   * returned it, and `path` the login's path relative to the mount.
   */
  authOf(response: PluginResponse | null | undefined, path: string): AuthRenewInfo;
  /**
   * The host's renewAuth call when the token is renewed: `{ error }` when the plugin refuses; `{ notImplemented }`
   * when the backend declares no authRenew (the host then renews by its rules alone).
   */
  renewAuth(
    auth: AuthRenewInfo,
    increment?: number,
  ): Promise<{ value: HostToPlugin['renewAuth']['result'] } | { error: PluginError } | { notImplemented: true }>;
  readonly storage: MemoryStorage;
  readonly mount: MountInfo;
  readonly implementation: PluginImplementation;
  /** The host side the harness plays: storage scoped to `mount`, system info. */
  readonly host: HostCalls;
}

export const HARNESS_TOKEN_ACCESSOR = 'harness-token-accessor';

/** Runs a backend in-process against in-memory storage: a plugin author's unit tests need no server. */
export function createHarness(backend: Backend, options: HarnessOptions = {}): Harness {
  const mount: MountInfo = {
    id: 'harness-mount',
    path: `${backend.hello.type === 'auth' ? 'auth/' : ''}${backend.hello.name}/`,
    accessor: `${backend.hello.type === 'auth' ? 'auth_' : ''}${backend.hello.name}_0123abcd`,
    type: backend.hello.name,
    config: { defaultLeaseTtl: 0, maxLeaseTtl: 0 },
    options: {},
    ...options.mount,
  };
  const system: SystemInfo = { defaultLeaseTtl: 2_764_800, maxLeaseTtl: 2_764_800, version: '0.0.0-harness', ...options.system };
  const storage = new MemoryStorage();
  const implementation = toPluginImplementation(backend);

  const host: HostCalls = {
    protocol: 4,
    async call<M extends keyof PluginToHost>(method: M, params: PluginToHost[M]['params']): Promise<PluginToHost[M]['result']> {
      // The host scopes storage to the calling mount: a call naming another mount is refused, as the runner does.
      if (params.mount !== mount.id) throw new Error(`${method}: mount ${params.mount} is not this plugin's mount`);
      return wire(serveHostCall(method, params as never)) as PluginToHost[M]['result'];
    },
  };

  function serveHostCall(method: keyof PluginToHost, params: Record<string, any>): unknown {
    switch (method) {
      case 'storage.get': {
        const value = storage.get(params.key!);
        return { value: value === null ? null : value.toString('base64') };
      }
      case 'storage.put':
        storage.put(params.key!, Buffer.from(params.value!, 'base64'));
        return {};
      case 'storage.delete':
        storage.delete(params.key!);
        return {};
      case 'storage.list':
        return { keys: storage.list(params.prefix!) };
      case 'system.info':
        return system;
      case 'storage.exists':
        return { exists: storage.get(params.key) !== null };
      case 'storage.txn': {
        // One synchronous step: nothing else runs in between, which is the atomicity the host gives.
        const { checks, ops } = params as PluginToHost['storage.txn']['params'];
        for (const [i, c] of checks.entries()) {
          const stored = storage.get(c.key);
          const holds = 'exists' in c ? (stored !== null) === c.exists : stored !== null && stored.equals(Buffer.from(c.value, 'base64'));
          if (!holds) return { ok: false, failed: i };
        }
        for (const o of ops) {
          if (o.op === 'put') storage.put(o.key, Buffer.from(o.value, 'base64'));
          else storage.delete(o.key);
        }
        return { ok: true };
      }
    }
  }

  const ready = implementation.setup(wire(mount), host);
  // A failing setup surfaces on the first request that awaits it, not as an unhandled rejection before.
  ready.catch(() => {});

  async function call<T>(fn: () => Promise<T>): Promise<{ value: T } | { error: PluginError }> {
    await ready;
    try {
      return { value: await fn() };
    } catch (err) {
      if (err instanceof PluginError) return { error: err };
      throw err;
    }
  }

  function pluginRequest(operation: Operation, path: string, data: Record<string, unknown>, tokenAccessor?: string, remoteAddress?: string): PluginRequest {
    return wire({
      operation,
      path,
      data,
      tokenAccessor: tokenAccessor ?? (backend.isUnauthenticated(path) ? '' : HARNESS_TOKEN_ACCESSOR),
      requestId: randomUUID(),
      remoteAddress: remoteAddress ?? '127.0.0.1',
    });
  }

  return {
    storage,
    mount,
    implementation,
    host,
    async request(operation, path, data = {}, requestOptions = {}) {
      let op = operation;
      if ((op === 'create' || op === 'update') && requestOptions.existenceCheck !== false) {
        const check = await call(() => implementation.exists(mount.id, pluginRequest('update', path, data, requestOptions.tokenAccessor, requestOptions.remoteAddress), host));
        if ('error' in check) return { error: check.error };
        op = check.value.checkFound && !check.value.exists ? 'create' : 'update';
      }
      const result = await call(() => implementation.handle(mount.id, pluginRequest(op, path, data, requestOptions.tokenAccessor, requestOptions.remoteAddress), host));
      if ('error' in result) return { error: result.error };
      return { response: result.value === null ? null : wire(result.value) };
    },
    async exists(path, data = {}) {
      await ready;
      return wire(await implementation.exists(mount.id, pluginRequest('update', path, data), host));
    },
    invalidate(key) {
      implementation.invalidate?.(mount.id, key);
    },
    async cleanup() {
      await ready;
      await implementation.cleanup?.(mount.id, host);
    },
    specialPaths: () => implementation.specialPaths(),
    help: (path) => backend.help(path),
    leaseOf(response) {
      const secret = response?.secret;
      if (!secret) throw new Error('the response carries no secret');
      return wire({ id: `${mount.path}lease/${randomUUID()}`, type: secret.type, internal: secret.internal, issueTime: new Date().toISOString(), ttl: secret.ttl ?? 0 });
    },
    async renew(lease, increment = 0) {
      if (!implementation.renew) return { error: new PluginError('invalid-request', 'lease is not renewable') };
      return call(async () => wire(await implementation.renew!(mount.id, wire(lease), increment, host)));
    },
    authOf(response, path) {
      const auth = response?.auth;
      if (!auth) throw new Error('the response carries no auth');
      return wire({
        path,
        policies: auth.policies,
        metadata: auth.metadata ?? {},
        internal: auth.internal ?? {},
        displayName: auth.displayName ?? '',
        issueTime: new Date().toISOString(),
        ttl: auth.ttl ?? 0,
      });
    },
    async renewAuth(auth, increment = 0) {
      if (!implementation.renewAuth) return { notImplemented: true as const };
      return call(async () => wire(await implementation.renewAuth!(mount.id, wire(auth), increment, host)));
    },
    async revoke(lease) {
      if (!implementation.revoke) return { error: new PluginError('unsupported-operation', 'this backend declares no secrets') };
      return call(() => implementation.revoke!(mount.id, wire(lease), host));
    },
    async periodic() {
      if (!implementation.periodic) return { error: new PluginError('unsupported-operation', 'this backend declares no periodic function') };
      return call(() => implementation.periodic!(mount.id, host));
    },
  };
}

/** What survives the trip through JSON-RPC: a response that holds a Buffer or undefined shows up here as it would. */
function wire<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
