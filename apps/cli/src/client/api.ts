import { readFileSync, readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The response envelope of Vault's API (HV `api/secret.go`). */
export interface Secret {
  request_id?: string;
  lease_id?: string;
  lease_duration?: number;
  renewable?: boolean;
  data?: Record<string, unknown> | null;
  warnings?: string[] | null;
  auth?: Record<string, unknown> | null;
  wrap_info?: Record<string, unknown> | null;
  mount_type?: string;
  [key: string]: unknown;
}

/** A non-2xx answer, printed as Vault's `api/response.go` does. */
export class ResponseError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly errors: string[],
  ) {
    super(`Error making API request.\n\nURL: ${method} ${url}\nCode: ${status}. Errors:\n\n${errors.map((e) => `* ${e}`).join('\n')}`);
  }
}

/** The server could not be reached; worded as Go's `*url.Error`: `Put "<url>": <reason>`. */
export class TransportError extends Error {
  constructor(method: string, url: string, reason: string) {
    super(`${method[0]}${method.slice(1).toLowerCase()} "${url}": ${reason}`);
  }
}

export const TOKEN_HELPER_FILE = '.coffer-token';

export function tokenHelperPath(): string {
  return join(process.env.HOME || homedir(), TOKEN_HELPER_FILE);
}

function storedToken(): string | undefined {
  try {
    return readFileSync(tokenHelperPath(), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface Response {
  status: number;
  /** The parsed JSON body, undefined for an empty body (204). */
  body: unknown;
}

/** How the CLI checks an https server, as Vault's CLI: flags first, then COFFER_* / VAULT_* variables. */
export interface ClientTlsOptions {
  /** PEM file of the CA(s) that signed the server's certificate (-ca-cert, COFFER_CACERT, VAULT_CACERT). */
  caCert?: string;
  /** A directory of PEM CA files (-ca-path, COFFER_CAPATH, VAULT_CAPATH). */
  caPath?: string;
  /** Do not verify the server's certificate (-tls-skip-verify, COFFER_SKIP_VERIFY, VAULT_SKIP_VERIFY): tests only. */
  skipVerify?: boolean;
  /** A client certificate and key, for a listener that asks for one (-client-cert/-client-key, VAULT_CLIENT_CERT/KEY). */
  clientCert?: string;
  clientKey?: string;
  /** The name the certificate must carry, when it is not the address's host (-tls-server-name, VAULT_TLS_SERVER_NAME). */
  serverName?: string;
}

/** What node:https needs, read once from the files named; a file that cannot be read is the caller's mistake. */
export interface TlsRequestOptions {
  ca?: Buffer[];
  rejectUnauthorized: boolean;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
}

const env = (...names: string[]) => names.map((n) => process.env[n]).find((v) => v !== undefined && v !== '');

/** Go's strconv.ParseBool, as Vault reads VAULT_SKIP_VERIFY; anything else counts as false. */
const truthy = (v: string | undefined) => v !== undefined && ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v);

export function tlsRequestOptions(opts: ClientTlsOptions = {}): TlsRequestOptions {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`Error loading ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
  };
  const caCert = opts.caCert || env('COFFER_CACERT', 'VAULT_CACERT');
  const caPath = opts.caPath || env('COFFER_CAPATH', 'VAULT_CAPATH');
  const ca: Buffer[] = [];
  if (caCert) ca.push(read('CA certificate', caCert));
  else if (caPath) {
    let names: string[];
    try {
      names = readdirSync(caPath).filter((n) => /\.(pem|crt)$/.test(n)).sort();
    } catch (err) {
      throw new Error(`Error loading CA path ${caPath}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
    for (const n of names) ca.push(read('CA certificate', join(caPath, n)));
  }
  const clientCert = opts.clientCert || env('COFFER_CLIENT_CERT', 'VAULT_CLIENT_CERT');
  const clientKey = opts.clientKey || env('COFFER_CLIENT_KEY', 'VAULT_CLIENT_KEY');
  const skip = opts.skipVerify ?? truthy(env('COFFER_SKIP_VERIFY', 'VAULT_SKIP_VERIFY'));
  return {
    ...(ca.length ? { ca } : {}),
    rejectUnauthorized: !skip,
    ...(clientCert ? { cert: read('client certificate', clientCert) } : {}),
    ...(clientKey ? { key: read('client key', clientKey) } : {}),
    ...(opts.serverName || env('COFFER_TLS_SERVER_NAME', 'VAULT_TLS_SERVER_NAME')
      ? { servername: opts.serverName || env('COFFER_TLS_SERVER_NAME', 'VAULT_TLS_SERVER_NAME') }
      : {}),
  };
}

export class Client {
  readonly address: string;
  token: string | undefined;
  private readonly tls: TlsRequestOptions;

  constructor(opts: { address?: string; token?: string; tls?: ClientTlsOptions } = {}) {
    this.address = (opts.address || process.env.COFFER_ADDR || process.env.VAULT_ADDR || 'http://127.0.0.1:8200').replace(/\/+$/, '');
    this.token = opts.token ?? (process.env.COFFER_TOKEN || process.env.VAULT_TOKEN || storedToken());
    this.tls = tlsRequestOptions(opts.tls);
  }

  url(path: string, query?: Record<string, string>): string {
    const q = query && Object.keys(query).length ? `?${new URLSearchParams(query).toString()}` : '';
    return `${this.address}/v1/${path.replace(/^\/+/, '')}${q}`;
  }

  /** One request; 4xx/5xx throw ResponseError unless `allow` includes the status. */
  async request(
    method: string,
    path: string,
    opts: { body?: unknown; query?: Record<string, string>; allow?: number[]; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const url = this.url(path, opts.query);
    const headers: Record<string, string> = { 'X-Vault-Request': 'true', ...opts.headers };
    if (this.token) headers['X-Vault-Token'] = this.token;
    let res: { status: number; text: string };
    try {
      res = await send(method, url, headers, opts.body === undefined ? undefined : JSON.stringify(opts.body), this.tls);
    } catch (err) {
      throw new TransportError(method, url, describeCause(err));
    }
    const text = res.text;
    let body: unknown;
    if (text.trim()) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
        if (res.status >= 400) throw new ResponseError(method, url, res.status, [text.trim()]);
      }
    }
    if (res.status >= 400 && !opts.allow?.includes(res.status)) {
      const errors = (body as { errors?: unknown })?.errors;
      throw new ResponseError(method, url, res.status, Array.isArray(errors) ? errors.map(String) : []);
    }
    return { status: res.status, body };
  }

  /** Logical().Read: 404 ⇒ undefined (Vault prints "No value found"). */
  async read(path: string, query?: Record<string, string>): Promise<Secret | undefined> {
    const r = await this.request('GET', path, { query, allow: [404] });
    if (r.status === 404) {
      const s = r.body as Secret | undefined;
      return s && Array.isArray(s.warnings) && s.warnings.length ? s : undefined;
    }
    return asSecret(r.body);
  }

  /** Logical().List: `GET ?list=true`, as the Go client sends it. */
  async list(path: string): Promise<Secret | undefined> {
    return this.read(path, { list: 'true' });
  }

  async write(path: string, body: unknown, method = 'PUT'): Promise<Secret | undefined> {
    return asSecret((await this.request(method, path, { body })).body);
  }

  /** Logical().JSONMergePatch: PATCH with the media type Vault's API requires for it. */
  async patch(path: string, body: unknown): Promise<Secret | undefined> {
    return asSecret((await this.request('PATCH', path, { body, headers: { 'Content-Type': 'application/merge-patch+json' } })).body);
  }

  async delete(path: string, query?: Record<string, string>): Promise<Secret | undefined> {
    return asSecret((await this.request('DELETE', path, { query })).body);
  }
}

function asSecret(body: unknown): Secret | undefined {
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Secret) : undefined;
}

const UNKNOWN_AUTHORITY = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
]);

function describeCause(err: unknown): string {
  let e: unknown = err;
  // fetch wraps the socket error: TypeError('fetch failed', { cause: Error('connect ECONNREFUSED …') }).
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  if (e instanceof AggregateError && e.errors.length) e = e.errors[0];
  const code = (e as { code?: string })?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (code === 'ECONNREFUSED') return `dial tcp ${message.replace(/^connect ECONNREFUSED /, '')}: connect: connection refused`;
  // Go's words for an unverifiable server certificate, which is what Vault's CLI prints.
  if (code && UNKNOWN_AUTHORITY.has(code)) return 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `tls: failed to verify certificate: x509: ${message}`;
  return message;
}

/**
 * One HTTP exchange over node:http(s). Not fetch: fetch refuses the "bad ports" of the Fetch standard (1, 25, …),
 * which a Vault address may well use, and reports less about connection failures.
 */
function send(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: string | undefined,
  tls: TlsRequestOptions,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const https = target.protocol === 'https:';
    const req = (https ? httpsRequest : httpRequest)(
      target,
      {
        method,
        headers: body === undefined ? headers : { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
        ...(https ? tls : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
