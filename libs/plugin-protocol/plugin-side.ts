import type { Hello, HostToPlugin, MountInfo, PluginErrorKind, PluginRequest, PluginResponse, PluginToHost } from './messages.js';

/** What a plugin can ask of its host while handling a call. */
export interface HostCalls {
  call<M extends keyof PluginToHost>(method: M, params: PluginToHost[M]['params']): Promise<PluginToHost[M]['result']>;
}

/** A plugin, as the plugin side of the protocol drives it. The SDK builds one of these from a backend declaration. */
export interface PluginImplementation {
  hello: Omit<Hello, 'coffer' | 'protocol'>;
  setup(mount: MountInfo, host: HostCalls): Promise<void>;
  handle(mountId: string, request: PluginRequest, host: HostCalls): Promise<PluginResponse | null>;
  exists(mountId: string, request: PluginRequest, host: HostCalls): Promise<HostToPlugin['exists']['result']>;
  specialPaths(): string[];
  invalidate?(mountId: string, key: string): void;
  cleanup?(mountId: string, host: HostCalls): Promise<void>;
}

/** An error a handler means to show: its kind decides the HTTP status, its message is what the user reads. */
export class PluginError extends Error {
  constructor(
    readonly kind: PluginErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'PluginError';
  }
}

export interface ServeOptions {
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs a plugin on stdin/stdout: refuses to run when not started by a Coffer host (magic env), prints the hello
 * line, then serves JSON-RPC calls (many in flight) and routes its own calls to the host.
 */
export function serve(_impl: PluginImplementation, _options: ServeOptions = {}): void {
  throw new Error('not implemented yet');
}
