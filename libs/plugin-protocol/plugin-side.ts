import { LineBatcher, LineSplitter } from './framing.js';
import {
  CHOOSE_PROTOCOL,
  MAGIC_ENV,
  MAGIC_VALUE,
  PLUGIN_ERROR_KINDS,
  PROTOCOL_2_METHODS,
  PROTOCOL_ENV,
  PROTOCOLS_ENV,
  PROTOCOL_VERSIONS,
  RPC_ERRORS,
  negotiateProtocol,
  versionList,
  type Hello,
  type HostToPlugin,
  type AuthRenewInfo,
  type LeaseInfo,
  type MountInfo,
  type PluginErrorKind,
  type PluginRequest,
  type PluginResponse,
  type PluginToHost,
  type WriteOperation,
} from './messages.js';
import { methodChecker, type Check } from './compiled.js';
import { LIMITS, helloSchema, hostToPluginSchemas } from './schemas.js';
import { validate } from './validate.js';
import * as generated from './validators.generated.js';

/**
 * The plugin side's checks. Compiled (compiled.ts) for the calls of every request, handle and exists; the
 * interpreter for the calls made once per process, mount or lease, whose compiled code would cost every bundle about
 * 48 KiB for no measurable gain.
 */
const interpreted = (method: keyof HostToPlugin, side: 'params' | 'result'): Check => (value, at) => validate(hostToPluginSchemas[method][side], value, at);
const pluginSideChecks: Record<keyof HostToPlugin, { params: Check; result: Check }> = {
  handle: { params: methodChecker(hostToPluginSchemas, 'handle', 'params', generated.handle_params), result: methodChecker(hostToPluginSchemas, 'handle', 'result', generated.handle_result) },
  exists: { params: methodChecker(hostToPluginSchemas, 'exists', 'params', generated.exists_params), result: methodChecker(hostToPluginSchemas, 'exists', 'result', generated.exists_result) },
  setup: { params: interpreted('setup', 'params'), result: interpreted('setup', 'result') },
  specialPaths: { params: interpreted('specialPaths', 'params'), result: interpreted('specialPaths', 'result') },
  invalidate: { params: interpreted('invalidate', 'params'), result: interpreted('invalidate', 'result') },
  cleanup: { params: interpreted('cleanup', 'params'), result: interpreted('cleanup', 'result') },
  shutdown: { params: interpreted('shutdown', 'params'), result: interpreted('shutdown', 'result') },
  help: { params: interpreted('help', 'params'), result: interpreted('help', 'result') },
  renew: { params: interpreted('renew', 'params'), result: interpreted('renew', 'result') },
  revoke: { params: interpreted('revoke', 'params'), result: interpreted('revoke', 'result') },
  periodic: { params: interpreted('periodic', 'params'), result: interpreted('periodic', 'result') },
  renewAuth: { params: interpreted('renewAuth', 'params'), result: interpreted('renewAuth', 'result') },
};

/** What a plugin can ask of its host while handling a call. */
export interface HostCalls {
  /** The protocol version settled in the handshake: `storage.exists` and `storage.txn` need 2. */
  readonly protocol?: number;
  call<M extends keyof PluginToHost>(method: M, params: PluginToHost[M]['params']): Promise<PluginToHost[M]['result']>;
}

/** A plugin, as the plugin side of the protocol drives it. The SDK builds one of these from a backend declaration. */
export interface PluginImplementation {
  hello: Omit<Hello, 'coffer' | 'protocol'>;
  setup(mount: MountInfo, host: HostCalls): Promise<void>;
  handle(mountId: string, request: PluginRequest, host: HostCalls): Promise<PluginResponse | null>;
  exists(mountId: string, request: PluginRequest, host: HostCalls): Promise<HostToPlugin['exists']['result']>;
  specialPaths(): string[];
  /** Optional: `*`-suffixed path prefixes whose remainder the plugin folds to lower case (see specialPaths). */
  caseInsensitivePaths?(): string[];
  invalidate?(mountId: string, key: string): void;
  cleanup?(mountId: string, host: HostCalls): Promise<void>;
  /** Optional: the help text of a path ("" = the mount's root). Without it, `help` is answered -32601. */
  help?(mountId: string, path: string): Promise<string> | string;
  /** Protocol 3, optional: extend a lease this plugin issued. Without it, its leases are not renewable. */
  renew?(mountId: string, lease: LeaseInfo, increment: number, host: HostCalls): Promise<HostToPlugin['renew']['result']>;
  /** Protocol 3: end a lease this plugin issued (idempotent). Needed by any plugin that returns a `secret`. */
  revoke?(mountId: string, lease: LeaseInfo, host: HostCalls): Promise<void>;
  /** Protocol 3, optional: scheduled work for a mount (Vault's PeriodicFunc). Without it, answered -32601. */
  periodic?(mountId: string, host: HostCalls): Promise<void>;
  /**
   * Protocol 3, optional, auth plugins: judge the renewal of a token this plugin's login issued (Vault's `AuthRenew`).
   * Throw a PluginError to refuse it. Without it, `renewAuth` is answered -32601 and tokens renew by the host's rules.
   */
  renewAuth?(mountId: string, auth: AuthRenewInfo, increment: number, host: HostCalls): Promise<HostToPlugin['renewAuth']['result']>;
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
  /** Where the plugin's own diagnostics go (default process.stderr): the host logs it. */
  stderr?: NodeJS.WritableStream;
  /** How serve ends the process (default process.exit); a test running serve in-process passes its own. */
  exit?: (code: number) => void;
}

export const NOT_BY_HAND_MESSAGE = 'This binary is a Coffer plugin. It is meant to be run by a Coffer server, not by hand.';

/** What a handler's unexpected failure tells the user; the details go to stderr, where only the operator reads them. */
export const INTERNAL_ERROR_MESSAGE = 'internal error';

interface RpcMessage {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: unknown;
  result?: unknown;
  error?: { code?: unknown; message?: unknown; data?: { kind?: unknown } };
}

function isKind(value: unknown): value is PluginErrorKind {
  return typeof value === 'string' && (PLUGIN_ERROR_KINDS as readonly string[]).includes(value);
}

function clip(message: string): string {
  return message.length > LIMITS.errorMessage ? `${message.slice(0, LIMITS.errorMessage - 1)}…` : message;
}

/**
 * Runs a plugin on stdin/stdout: refuses to run when not started by a Coffer host (magic env), prints the hello
 * line, then serves JSON-RPC calls (many in flight) and routes its own calls to the host.
 */
export function serve(impl: PluginImplementation, options: ServeOptions = {}): void {
  const env = options.env ?? process.env;
  const stderr = options.stderr ?? process.stderr;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const say = (text: string) => stderr.write(`${text}\n`);

  if (env[MAGIC_ENV] !== MAGIC_VALUE) {
    say(NOT_BY_HAND_MESSAGE);
    exit(1);
    return;
  }
  const protocol = negotiateProtocol(env);
  if (protocol === null) {
    say(`this plugin speaks Coffer plugin protocol ${versionList()}, the host asked for ${env[PROTOCOLS_ENV] ?? env[PROTOCOL_ENV]}`);
    exit(1);
    return;
  }

  const hello: Hello = {
    coffer: 'plugin',
    protocol,
    type: impl.hello.type,
    name: impl.hello.name,
    version: impl.hello.version,
    multiplex: impl.hello.multiplex,
  };
  const helloError = validate(helloSchema, hello, 'hello');
  if (helloError) {
    // The host would refuse it anyway; saying why here saves the author a trip through the server's log.
    say(`invalid plugin hello: ${helloError}`);
    exit(1);
    return;
  }

  const stdin = options.stdin ?? process.stdin;
  const out = options.stdout ?? process.stdout;
  let writeOut: (text: string, done?: () => void) => void;
  if (out === process.stdout) {
    // stdout is the protocol channel: anything the plugin's own code prints there (console.log, a library's
    // progress output, a direct process.stdout.write) would corrupt it and get the process killed. Send all of
    // that to stderr, which the host logs, and keep the real write for protocol lines only.
    const realWrite = process.stdout.write.bind(process.stdout);
    const errWrite = process.stderr.write.bind(process.stderr);
    (process.stdout as { write: unknown }).write = (...args: unknown[]) => (errWrite as (...a: unknown[]) => boolean)(...args);
    writeOut = (text, done) => void realWrite(text, done && (() => done()));
  } else {
    writeOut = (text, done) => void out.write(text, done && (() => done()));
  }

  // Replies and storage calls, one write per turn of the event loop.
  const lines = new LineBatcher(writeOut);
  let closing = false;
  let exited = false;
  const finish = (code: number) => {
    if (exited) return;
    exited = true;
    closing = true;
    // Exit only once stdout has taken every queued line: a shutdown reply lost in a buffer would look like a hang.
    lines.flush(() => exit(code));
  };
  out.on('error', () => {
    // The host closed our stdout: it is gone or has given up on us, and nobody is left to answer.
    exited = true;
    exit(0);
  });

  const send = (message: object) => {
    if (exited) return;
    lines.push(`${JSON.stringify(message)}\n`);
  };
  const sendError = (id: unknown, code: number, kind: PluginErrorKind, message: string) =>
    send({ jsonrpc: '2.0', id, error: { code, message: clip(message), data: { kind } } });

  let nextId = 1;
  const waiting = new Map<number, { resolve: (value: never) => void; reject: (err: Error) => void }>();
  const host: HostCalls = {
    protocol,
    call(method, params) {
      if (closing) return Promise.reject(new PluginError('internal', 'the plugin is shutting down'));
      if (protocol < 2 && PROTOCOL_2_METHODS.includes(method)) {
        return Promise.reject(new PluginError('internal', `${method} needs plugin protocol 2; this host speaks protocol 1`));
      }
      const id = nextId++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (value: never) => void, reject });
        send({ jsonrpc: '2.0', id, method, params });
      });
    },
  };

  const run = async (method: keyof HostToPlugin, params: Record<string, unknown>): Promise<unknown> => {
    switch (method) {
      case 'setup':
        await impl.setup(params.mount as MountInfo, host);
        return {};
      case 'handle': {
        let request = params.request as PluginRequest;
        const choose = protocol >= CHOOSE_PROTOCOL && request.operation === 'update' ? (params.choose as WriteOperation[] | undefined) : undefined;
        let operation: WriteOperation | undefined;
        if (choose) {
          // Vault's existence check, in the same call as the write: no check, or the path exists, is an update.
          const found = await impl.exists(params.mount as string, request, host);
          operation = found.checkFound && !found.exists ? 'create' : 'update';
          // The caller may not do what the check picked: nothing of the handler runs, the host answers 403.
          if (!choose.includes(operation)) return { response: null, operation, denied: true };
          request = { ...request, operation };
        }
        const response = (await impl.handle(params.mount as string, request, host)) ?? null;
        // The host would refuse it as malformed; this says why, in the plugin's own log.
        if (response?.secret && protocol < 3) throw new Error(`a secret under a lease needs plugin protocol 3; this host speaks protocol ${protocol}`);
        // An older host neither keeps a login's internal data nor asks renewAuth, and its schema refuses the field.
        if (response?.auth?.internal !== undefined && protocol < 3) {
          const { internal: _dropped, ...auth } = response.auth;
          return { response: { ...response, auth } };
        }
        return operation ? { response, operation } : { response };
      }
      case 'renew':
        return await impl.renew!(params.mount as string, params.lease as LeaseInfo, params.increment as number, host);
      case 'revoke':
        await impl.revoke!(params.mount as string, params.lease as LeaseInfo, host);
        return {};
      case 'periodic':
        await impl.periodic!(params.mount as string, host);
        return {};
      case 'renewAuth':
        return await impl.renewAuth!(params.mount as string, params.auth as AuthRenewInfo, params.increment as number, host);
      case 'exists': {
        const r = await impl.exists(params.mount as string, params.request as PluginRequest, host);
        return { checkFound: r.checkFound, exists: r.exists };
      }
      case 'specialPaths': {
        const caseInsensitive = impl.caseInsensitivePaths?.() ?? [];
        return caseInsensitive.length ? { unauthenticated: impl.specialPaths(), caseInsensitive } : { unauthenticated: impl.specialPaths() };
      }
      case 'invalidate':
        impl.invalidate?.(params.mount as string, params.key as string);
        return {};
      case 'cleanup':
        await impl.cleanup?.(params.mount as string, host);
        return {};
      case 'shutdown':
        return {};
      case 'help':
        return { help: await impl.help!(params.mount as string, params.path as string) };
    }
  };

  const dispatch = async (id: unknown, method: string, params: unknown) => {
    if (!Object.prototype.hasOwnProperty.call(hostToPluginSchemas, method)) {
      sendError(id, RPC_ERRORS.methodNotFound, 'unsupported-operation', `unknown method ${JSON.stringify(method)}`);
      return;
    }
    const name = method as keyof HostToPlugin;
    // An optional method the implementation leaves out is, to the host, a method this plugin does not know.
    if ((name === 'help' && !impl.help) || (name === 'renew' && !impl.renew) || (name === 'revoke' && !impl.revoke) || (name === 'periodic' && !impl.periodic) || (name === 'renewAuth' && !impl.renewAuth)) {
      sendError(id, RPC_ERRORS.methodNotFound, 'unsupported-operation', `unknown method ${JSON.stringify(method)}`);
      return;
    }
    const checks = pluginSideChecks[name];
    const given = params ?? {};
    const paramsError = checks.params(given, 'params');
    if (paramsError) {
      sendError(id, RPC_ERRORS.invalidParams, 'invalid-request', paramsError);
      return;
    }
    if (closing && name !== 'shutdown') {
      sendError(id, RPC_ERRORS.plugin, 'internal', 'the plugin is shutting down');
      return;
    }
    try {
      const result = await run(name, given as Record<string, unknown>);
      const resultError = checks.result(result, 'result');
      if (resultError) {
        say(`${name} returned something outside the protocol, refused: ${resultError}`);
        sendError(id, RPC_ERRORS.plugin, 'internal', INTERNAL_ERROR_MESSAGE);
        return;
      }
      send({ jsonrpc: '2.0', id, result });
      if (name === 'shutdown') finish(0);
    } catch (err) {
      if (err instanceof PluginError && isKind(err.kind)) {
        sendError(id, RPC_ERRORS.plugin, err.kind, err.message);
      } else {
        say(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        sendError(id, RPC_ERRORS.plugin, 'internal', INTERNAL_ERROR_MESSAGE);
      }
    }
  };

  const onLine = (buffer: Buffer) => {
    const text = buffer.toString('utf8').trim();
    if (!text) return;
    let message: RpcMessage;
    try {
      message = JSON.parse(text) as RpcMessage;
    } catch {
      sendError(null, RPC_ERRORS.parse, 'invalid-request', 'parse error');
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message) || message.jsonrpc !== '2.0') {
      sendError(null, RPC_ERRORS.invalidRequest, 'invalid-request', 'not a JSON-RPC 2.0 message');
      return;
    }
    if (typeof message.method === 'string') {
      // A message without an id is a notification: protocol v1 defines none, and a notification gets no answer.
      if (message.id === undefined || message.id === null) return;
      void dispatch(message.id, message.method, message.params);
      return;
    }
    const entry = typeof message.id === 'number' ? waiting.get(message.id) : undefined;
    if (!entry) {
      say(`ignored a reply to an unknown call id ${JSON.stringify(message.id)}`);
      return;
    }
    waiting.delete(message.id as number);
    if (message.error && typeof message.error === 'object') {
      const kind = isKind(message.error.data?.kind) ? message.error.data.kind : 'internal';
      entry.reject(new PluginError(kind, typeof message.error.message === 'string' ? message.error.message : 'host call failed'));
    } else {
      entry.resolve(message.result as never);
    }
  };

  const splitter = new LineSplitter(LIMITS.maxMessageBytes, (line, discarded) => {
    if (discarded > 0) {
      sendError(null, RPC_ERRORS.invalidRequest, 'invalid-request', `message longer than ${LIMITS.maxMessageBytes} bytes`);
      return;
    }
    onLine(line);
  });
  stdin.on('data', (chunk: Buffer | string) => splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
  // The host closed our stdin: it is gone or wants us gone. Lingering would leave an orphan nobody talks to.
  stdin.on('end', () => finish(0));
  stdin.on('error', () => finish(0));

  writeOut(`${JSON.stringify(hello)}\n`);
}
