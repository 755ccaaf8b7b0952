import type { AuthRenewInfo, Hello, LeaseInfo, MountInfo, Operation, PluginRequest, PluginResponse } from '#plugin-protocol';
import { PluginError } from '#plugin-protocol';
import { OPERATIONS as LOGICAL_OPERATIONS } from '../contracts/operations.js';
import {
  convertField,
  conversionErrorMessage,
  FieldConversionError,
  type FieldSpec,
  goValue,
  isFieldType,
  zeroValue,
} from './fields.js';
import { helpForPath, rootHelp } from './help.js';
import type {
  BackendDeclaration,
  Fields,
  Handler,
  HandlerResponse,
  LeaseRequest,
  OperationDeclaration,
  PathData,
  PathDeclaration,
  Request,
  SecretDeclaration,
  Storage,
  SystemInfo,
} from './types.js';

/** Vault's logical operations, from the one list in libs/contracts. */
export const OPERATIONS: readonly Operation[] = LOGICAL_OPERATIONS;

/** Vault's texts (sdk/logical/error.go); the host adds Vault's multierror wrapping where Vault does. */
export const UNSUPPORTED_PATH = 'unsupported path';
export const UNSUPPORTED_OPERATION = 'unsupported operation';

/** Vault's GenericNameRegex: a name of word characters, dots and dashes that starts and ends with a word character. */
export function genericNameRegex(name: string): string {
  return `(?<${name}>\\w(([\\w.-]+)?\\w)?)`;
}

/**
 * Declares one path with typed data: `definePath({ pattern: 'users/(?<name>\\w+)', fields: { ttl: { type:
 * 'duration' } }, ... })` gives handlers `req.data: { ttl: number; name: string }`. Inline paths in
 * defineBackend work too, with untyped data.
 */
export function definePath<const P extends string, const F extends Fields = {}>(declaration: PathDeclaration<P, F>): PathDeclaration<P, F> {
  return declaration;
}

/**
 * A path's pattern and fields, declared before its handlers so that handlers written apart from the path (named
 * functions, other files) are typed without repeating the data type:
 *
 *   const user = defineRoute('users/(?<name>\\w+)', { ttl: { type: 'duration' } }); // a literal: captures typed
 *   const readUser = user.handler(async (req) => ...);          // req.data: { ttl: number; name: string }
 *   async function writeUser(req: RequestOf<typeof user>) { ... } // the same type, for a function declaration
 *   export const userPath = user.path({ operations: { read: readUser, update: writeUser }, help: 'A user.' });
 */
export interface Route<P extends string, F extends Fields> {
  readonly pattern: P;
  readonly fields: F;
  /** Identity, for typing: a handler of this route's data. */
  handler(fn: Handler<PathData<P, F>>): Handler<PathData<P, F>>;
  /** The path declaration: this route's pattern and fields with the rest (operations, exists, help, ...). */
  path(rest: Omit<PathDeclaration<P, F>, 'pattern' | 'fields'>): PathDeclaration<P, F>;
}

export function defineRoute<const P extends string, const F extends Fields = {}>(pattern: P, fields?: F): Route<P, F> {
  const declared = (fields ?? {}) as F;
  return {
    pattern,
    fields: declared,
    handler: (fn) => fn,
    path: (rest) => ({ ...rest, pattern, fields: declared }),
  };
}

export function defineBackend(declaration: BackendDeclaration): Backend {
  return new Backend(declaration);
}

/** What a request needs from its surroundings: the plugin side and the harness both provide it. */
export interface RequestContext {
  mount: MountInfo;
  storage: Storage;
  system(): Promise<SystemInfo>;
}

interface CompiledPath {
  declaration: PathDeclaration;
  regex: RegExp;
  /** The route as Vault shows it in help: `^pattern$`. */
  route: string;
  /** Declared fields plus the captures nobody declared (as strings). */
  fields: Map<string, FieldSpec>;
  captureNames: Set<string>;
  defaults: Map<string, unknown>;
  handlers: Partial<Record<Operation, Handler>>;
}

interface Match {
  path: CompiledPath;
  captures: Record<string, string>;
}

/** A backend compiled from its declaration: routing, field conversion, warnings and help all derive from it. */
export class Backend {
  readonly hello: Omit<Hello, 'coffer' | 'protocol'>;
  readonly #paths: CompiledPath[];

  constructor(readonly declaration: BackendDeclaration) {
    checkDeclaration(declaration);
    this.hello = {
      type: declaration.type,
      name: declaration.name,
      version: declaration.version,
      multiplex: declaration.multiplex ?? true,
    };
    this.#paths = declaration.paths.map(compilePath);
  }

  specialPaths(): string[] {
    return [...(this.declaration.unauthenticated ?? [])];
  }

  caseInsensitivePaths(): string[] {
    return [...(this.declaration.caseInsensitive ?? [])];
  }

  /** Whether `path` is served without a token. */
  isUnauthenticated(path: string): boolean {
    return (this.declaration.unauthenticated ?? []).some((pattern) => matchesSpecialPath(pattern, path));
  }

  /** Vault's framework.Backend.HandleRequest. */
  async handle(request: PluginRequest, context: RequestContext): Promise<PluginResponse | null> {
    const match = this.#route(request.path);
    if (!match) throw new PluginError('unsupported-path', UNSUPPORTED_PATH);
    const handler = pickHandler(match.path, request.operation);
    if (!handler) throw new PluginError('unsupported-operation', UNSUPPORTED_OPERATION);

    const raw: Record<string, unknown> = { ...request.data };
    const ignored: string[] = [];
    const replaced: string[] = [];
    for (const key of Object.keys(request.data)) {
      if (!match.path.declaration.takesArbitraryInput && !match.path.fields.has(key)) ignored.push(key);
      if (key in match.captures && request.data[key] !== null && request.data[key] !== undefined) replaced.push(key);
    }
    Object.assign(raw, match.captures);

    const data = convertAll(match.path, raw, 'Field validation failed: ');
    if (request.operation === 'create' || request.operation === 'update' || request.operation === 'patch') {
      for (const [name, spec] of match.path.fields) {
        if (spec.required && !given(raw, name)) {
          throw new PluginError('invalid-request', `Field validation failed: missing required field ${JSON.stringify(name)}`);
        }
      }
    }

    const result = await handler(this.#request(request, raw, data, context));
    if (result === null || result === undefined) {
      // A 204 carries no body, so the warning that a body value lost to a path capture would be lost with it: a
      // write answers the warning instead (200). A read or list that finds nothing stays Vault's bare 404.
      if (replaced.length && request.operation !== 'read' && request.operation !== 'list') return this.#finish({}, [], replaced);
      return null;
    }
    return this.#finish(result, ignored, replaced);
  }

  /**
   * Vault's HandleExistenceCheck. The host asks before a write: checkFound false (no route, or a path without
   * `exists`) means "always update", otherwise `exists` picks update (true) or create (false).
   */
  async exists(request: PluginRequest, context: RequestContext): Promise<{ checkFound: boolean; exists: boolean }> {
    if (request.operation !== 'create' && request.operation !== 'update') {
      throw new PluginError('invalid-request', `incorrect operation type ${request.operation} for an existence check`);
    }
    const match = this.#route(request.path);
    // No route: Vault's core treats it as "no check" and lets the write itself fail with unsupported path.
    if (!match || !match.path.declaration.exists) return { checkFound: false, exists: false };
    const raw = { ...request.data, ...match.captures };
    const data = convertAll(match.path, raw, '');
    const exists = await match.path.declaration.exists(this.#request(request, raw, data, context));
    return { checkFound: true, exists: exists === true };
  }

  /** Vault's help text: the backend's paths for "" (the mount's root), else the matching path's fields. */
  help(path: string): string {
    if (path === '') {
      return rootHelp(
        this.declaration.help,
        this.#paths.map((p) => ({ route: p.route, synopsis: p.declaration.help ?? '' })),
      );
    }
    const match = this.#route(path);
    if (!match) throw new PluginError('unsupported-path', UNSUPPORTED_PATH);
    return helpForPath({
      requestPath: path,
      route: match.path.route,
      synopsis: match.path.declaration.help ?? '',
      description: match.path.declaration.description ?? '',
      fields: [...match.path.fields].map(([name, spec]) => ({ name, type: spec.type, description: spec.description ?? '' })),
    });
  }

  /** Whether any declared secret can be renewed (the protocol's `renew` exists only then). */
  get renews(): boolean {
    return (this.declaration.secrets ?? []).some((s) => s.renew !== undefined);
  }

  get leases(): boolean {
    return (this.declaration.secrets ?? []).length > 0;
  }

  /** Vault's framework.Secret HandleRenew: the secret type's renew, or "not renewable" without one. */
  async renew(lease: LeaseInfo, increment: number, context: RequestContext): Promise<{ ttl?: number; internal?: Record<string, unknown>; warnings?: string[] }> {
    const declared = this.#secret(lease.type, 'invalid-request');
    if (!declared.renew) throw new PluginError('invalid-request', 'lease is not renewable');
    const result = (await declared.renew(this.#leaseRequest(lease, increment, context))) ?? {};
    const out: { ttl?: number; internal?: Record<string, unknown>; warnings?: string[] } = {};
    const ttl = result.ttl || declared.defaultTtl || 0;
    if (ttl) out.ttl = ttl;
    if (result.internal !== undefined) out.internal = result.internal;
    if (result.warnings?.length) out.warnings = result.warnings;
    return out;
  }

  /** Whether the backend judges its tokens' renewals (the protocol's `renewAuth` exists only then). */
  get renewsAuth(): boolean {
    return this.declaration.authRenew !== undefined;
  }

  /** Vault's framework.Backend AuthRenew: the declaration's callback, its answer trimmed to the protocol's fields. */
  async renewAuth(auth: AuthRenewInfo, increment: number, context: RequestContext): Promise<{ ttl?: number; maxTtl?: number; warnings?: string[] }> {
    const renew = this.declaration.authRenew;
    if (!renew) throw new PluginError('invalid-request', 'this backend does not renew its tokens');
    const result =
      (await renew({
        auth,
        path: auth.path,
        policies: auth.policies,
        metadata: auth.metadata,
        internal: auth.internal,
        increment,
        storage: context.storage,
        mount: context.mount,
        system: () => context.system(),
      })) ?? {};
    const out: { ttl?: number; maxTtl?: number; warnings?: string[] } = {};
    if (result.ttl) out.ttl = result.ttl;
    if (result.maxTtl) out.maxTtl = result.maxTtl;
    if (result.warnings?.length) out.warnings = result.warnings;
    return out;
  }

  /** Vault's framework.Secret HandleRevoke. */
  async revoke(lease: LeaseInfo, context: RequestContext): Promise<void> {
    await this.#secret(lease.type, 'invalid-request').revoke(this.#leaseRequest(lease, 0, context));
  }

  #secret(type: string, kind: 'internal' | 'invalid-request' = 'internal'): SecretDeclaration {
    const declared = (this.declaration.secrets ?? []).find((s) => s.type === type);
    if (!declared) throw new PluginError(kind, `secret type ${JSON.stringify(type)} is not declared by this backend`);
    return declared;
  }

  #leaseRequest(lease: LeaseInfo, increment: number, context: RequestContext): LeaseRequest {
    return { lease, internal: lease.internal, increment, storage: context.storage, mount: context.mount, system: () => context.system() };
  }

  /** First declared path that matches, as Vault routes. */
  #route(path: string): Match | null {
    for (const compiled of this.#paths) {
      const m = compiled.regex.exec(path);
      if (!m) continue;
      const captures: Record<string, string> = {};
      for (const name of compiled.captureNames) {
        const value = m.groups?.[name];
        if (value !== undefined) captures[name] = value;
      }
      return { path: compiled, captures };
    }
    return null;
  }

  #request(request: PluginRequest, raw: Record<string, unknown>, data: Record<string, unknown>, context: RequestContext): Request<Record<string, unknown>> {
    return {
      operation: request.operation,
      path: request.path,
      data,
      raw,
      has: (field) => given(raw, field),
      storage: context.storage,
      mount: context.mount,
      tokenAccessor: request.tokenAccessor,
      requestId: request.requestId,
      remoteAddress: request.remoteAddress ?? '',
      system: () => context.system(),
    };
  }

  #finish(result: HandlerResponse, ignored: string[], replaced: string[]): PluginResponse {
    const response: PluginResponse = {};
    if (result.data !== undefined) response.data = result.data;
    const warnings = [...(result.warnings ?? [])];
    // Vault's texts and order (framework.Backend.HandleRequest), Go's %v of a sorted []string.
    if (ignored.length) warnings.push(`Endpoint ignored these unrecognized parameters: ${goValue(ignored.sort())}`);
    if (replaced.length) {
      warnings.push(
        `Endpoint replaced the value of these parameters with the values captured from the endpoint's path: ${goValue(replaced.sort())}`,
      );
    }
    if (warnings.length) response.warnings = warnings;
    if (result.auth !== undefined) {
      if (this.declaration.type !== 'auth') throw new PluginError('internal', 'a secrets plugin cannot answer with auth');
      response.auth = result.auth;
    }
    if (result.secret !== undefined) {
      if (this.declaration.type !== 'secret') throw new PluginError('internal', 'an auth plugin cannot answer with a secret under a lease');
      const declared = this.#secret(result.secret.type);
      response.secret = {
        type: result.secret.type,
        internal: result.secret.internal ?? {},
        ttl: result.secret.ttl || declared.defaultTtl || 0,
        maxTtl: result.secret.maxTtl || declared.maxTtl || 0,
        renewable: result.secret.renewable ?? declared.renew !== undefined,
      };
    }
    if (result.raw !== undefined) {
      const body = typeof result.raw.body === 'string' ? Buffer.from(result.raw.body, 'utf8') : Buffer.from(result.raw.body);
      response.raw = { status: result.raw.status ?? 200, contentType: result.raw.contentType, bodyBase64: body.toString('base64') };
    }
    return response;
  }
}

/**
 * A write goes to `create` or `update` as the existence check decided; a path that declares only one of them takes
 * both, so a path without `exists` (always update) can still declare just `create`. Vault itself answers 405 there.
 */
function pickHandler(path: CompiledPath, operation: Operation): Handler | undefined {
  const own = path.handlers[operation];
  if (own) return own;
  if (operation === 'create') return path.handlers.update;
  if (operation === 'update') return path.handlers.create;
  return undefined;
}

function given(raw: Record<string, unknown>, field: string): boolean {
  return raw[field] !== undefined && raw[field] !== null;
}

function convertAll(path: CompiledPath, raw: Record<string, unknown>, prefix: string): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const [name, spec] of path.fields) {
    if (given(raw, name)) {
      try {
        data[name] = convertField(spec.type, raw[name]);
      } catch (err) {
        if (!(err instanceof FieldConversionError)) throw err;
        throw new PluginError('invalid-request', prefix + conversionErrorMessage(name, raw[name], err));
      }
    } else {
      // A copy, so a handler that mutates a default list or map cannot change the next request's default.
      data[name] = structuredClone(path.defaults.has(name) ? path.defaults.get(name) : zeroValue(spec.type));
    }
  }
  return data;
}

function checkDeclaration(declaration: BackendDeclaration): void {
  if (declaration.type !== 'secret' && declaration.type !== 'auth') {
    throw new Error(`backend type must be 'secret' or 'auth', not ${JSON.stringify(declaration.type)}`);
  }
  if (!declaration.name) throw new Error('a backend needs a name');
  if (!declaration.version) throw new Error(`backend ${declaration.name}: a backend needs a version`);
  if (!Array.isArray(declaration.paths)) throw new Error(`backend ${declaration.name}: paths must be a list`);
  const types = new Set<string>();
  for (const secret of declaration.secrets ?? []) {
    if (declaration.type !== 'secret') throw new Error(`backend ${declaration.name}: only a secrets engine declares secrets under leases`);
    if (!secret.type) throw new Error(`backend ${declaration.name}: a secret needs a type`);
    if (types.has(secret.type)) throw new Error(`backend ${declaration.name}: two secrets of type ${JSON.stringify(secret.type)}`);
    if (typeof secret.revoke !== 'function') throw new Error(`backend ${declaration.name}: secret ${secret.type} needs revoke`);
    types.add(secret.type);
  }
  if (declaration.authRenew !== undefined) {
    if (declaration.type !== 'auth') throw new Error(`backend ${declaration.name}: only an auth method declares authRenew`);
    if (typeof declaration.authRenew !== 'function') throw new Error(`backend ${declaration.name}: authRenew must be a function`);
  }
}

function compilePath(declaration: PathDeclaration): CompiledPath {
  const where = `path ${JSON.stringify(declaration.pattern)}`;
  if (typeof declaration.pattern !== 'string' || declaration.pattern === '') throw new Error('a path needs a pattern');
  // Go's (?P<name>) spelling is accepted so patterns copied from Vault plugins keep working.
  const source = declaration.pattern.replace(/\(\?P</g, '(?<');
  let regex: RegExp;
  try {
    // Anchored as a whole (Vault prepends ^ and appends $, which binds only the outer alternatives of a|b).
    regex = new RegExp(`^(?:${source})$`);
  } catch (err) {
    throw new Error(`${where}: invalid pattern: ${(err as Error).message}`);
  }
  const captureNames = new Set([...source.matchAll(/(?<!\\)\(\?<([A-Za-z_$][\w$]*)>/g)].map((m) => m[1]!));

  const fields = new Map<string, FieldSpec>();
  const defaults = new Map<string, unknown>();
  for (const [name, spec] of Object.entries((declaration.fields ?? {}) as Fields)) {
    if (!spec || !isFieldType(spec.type)) throw new Error(`${where}: field ${name}: unknown type ${JSON.stringify(spec?.type)}`);
    fields.set(name, spec);
    if (spec.default !== undefined) {
      try {
        defaults.set(name, convertField(spec.type, spec.default));
      } catch (err) {
        throw new Error(`${where}: field ${name}: bad default: ${(err as Error).message}`);
      }
    }
  }
  for (const name of captureNames) if (!fields.has(name)) fields.set(name, { type: 'string' });

  const handlers: Partial<Record<Operation, Handler>> = {};
  const operations = Object.entries(declaration.operations ?? {}) as [string, OperationDeclaration | undefined][];
  for (const [operation, op] of operations) {
    if (!(OPERATIONS as readonly string[]).includes(operation)) throw new Error(`${where}: unknown operation ${operation}`);
    if (op === undefined) continue;
    const handler = typeof op === 'function' ? op : op.handler;
    if (typeof handler !== 'function') throw new Error(`${where}: operation ${operation} has no handler`);
    handlers[operation as Operation] = handler;
  }
  if (Object.keys(handlers).length === 0) throw new Error(`${where}: no operations`);

  return { declaration, regex, route: `^${source}$`, fields, captureNames, defaults, handlers };
}

/**
 * Vault's special-path matching: exact, or a prefix when the pattern ends in `*`; a `+` segment matches any one
 * segment.
 */
export function matchesSpecialPath(pattern: string, path: string): boolean {
  const isPrefix = pattern.endsWith('*');
  const body = isPrefix ? pattern.slice(0, -1) : pattern;
  if (!body.split('/').includes('+')) return isPrefix ? path.startsWith(body) : path === body;
  const want = body.split('/');
  const have = path.split('/');
  if (isPrefix ? have.length < want.length : have.length !== want.length) return false;
  return want.every((segment, i) => {
    const actual = have[i]!;
    if (segment === '+') return actual !== '';
    if (isPrefix && i === want.length - 1) return actual.startsWith(segment);
    return actual === segment;
  });
}

/** A list answer: `{keys}`, or null for none, which the host turns into Vault's 404 for an empty list. */
export function listResponse(keys: readonly string[]): HandlerResponse | null {
  return keys.length ? { data: { keys: [...keys] } } : null;
}
