/**
 * The one way the UI talks to Coffer: the public HTTP API at /v1, as every other client does. The token lives in
 * sessionStorage (never a cookie, so no request is ever authenticated by the browser on its own).
 */

const TOKEN_KEY = 'coffer.token';

export const session = {
  token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear(): void {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** Vault's `{"errors": [...]}`, with the status it came with. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
  ) {
    super(errors.length ? errors.join('; ') : statusText(status));
  }
}

function statusText(status: number): string {
  switch (status) {
    case 403:
      return 'permission denied';
    case 404:
      return 'not found';
    case 503:
      return 'Vault is sealed';
    default:
      return `request failed with status ${status}`;
  }
}

export type Method = 'GET' | 'LIST' | 'PUT' | 'POST' | 'DELETE' | 'PATCH';

export interface Envelope<T = Record<string, unknown>> {
  request_id?: string;
  data: T;
  auth: { client_token: string; accessor: string; policies: string[]; lease_duration: number; renewable: boolean } | null;
  warnings: string[] | null;
  wrap_info: unknown;
  [key: string]: unknown;
}

/** Listeners told when the server says the token is no good (so the app can go back to the login page). */
const onForbidden = new Set<() => void>();
export function whenTokenRejected(fn: () => void): () => void {
  onForbidden.add(fn);
  return () => onForbidden.delete(fn);
}

/** Listeners told when a request finds the cluster sealed (sealed elsewhere, or a restart): the app re-checks. */
const onSealed = new Set<() => void>();
export function whenSealed(fn: () => void): () => void {
  onSealed.add(fn);
  return () => onSealed.delete(fn);
}

/**
 * A request to `/v1/<path>`. LIST goes as `GET ?list=true` (Vault accepts both; browsers cannot send LIST).
 * Resolves with the parsed body (null for 204), rejects with an ApiError carrying Vault's messages.
 */
export async function request<T = Envelope>(method: Method, path: string, body?: unknown, options: { token?: string | null; query?: Record<string, string> } = {}): Promise<T> {
  const query = new URLSearchParams(options.query);
  let verb: string = method;
  if (method === 'LIST') {
    verb = 'GET';
    query.set('list', 'true');
  }
  const qs = query.toString();
  const token = options.token === undefined ? session.token() : options.token;
  const headers: Record<string, string> = {};
  if (token) headers['x-vault-token'] = token;
  if (body !== undefined) headers['content-type'] = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
  const res = await fetch(`/v1/${encodePath(path)}${qs ? `?${qs}` : ''}`, {
    method: verb,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  });
  const text = await res.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { text };
    }
  }
  if (!res.ok) {
    const errors = Array.isArray((parsed as { errors?: unknown })?.errors) ? ((parsed as { errors: string[] }).errors) : [];
    // Vault's 403 for a token that does not exist (or expired) says so; a policy's 403 says "permission denied".
    if (res.status === 503 && errors.includes('Vault is sealed')) for (const fn of onSealed) fn();
    if (res.status === 403 && token && errors.some((e) => /invalid token|bad token/.test(e))) for (const fn of onForbidden) fn();
    throw new ApiError(res.status, errors);
  }
  return parsed as T;
}

/** Each segment is encoded, the slashes between them kept. */
function encodePath(path: string): string {
  return path
    .replace(/^\/+/, '')
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

export const api = {
  get: <T = Envelope>(path: string, query?: Record<string, string>) => request<T>('GET', path, undefined, { query }),
  list: async (path: string): Promise<string[]> => {
    try {
      const r = await request<Envelope<{ keys?: string[] }>>('LIST', path);
      return r?.data?.keys ?? [];
    } catch (err) {
      // An empty folder is Vault's bare 404.
      if (err instanceof ApiError && err.status === 404) return [];
      throw err;
    }
  },
  put: <T = Envelope>(path: string, body?: unknown) => request<T>('PUT', path, body ?? {}),
  post: <T = Envelope>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  delete: <T = Envelope>(path: string) => request<T>('DELETE', path),
  /** Vault's path help: `{"help": text}` without an envelope. */
  help: async (path: string): Promise<string> => {
    const r = await request<{ help?: string }>('GET', path, undefined, { query: { help: '1' } });
    return r?.help ?? '';
  },
};

export interface SealStatus {
  type: string;
  initialized: boolean;
  sealed: boolean;
  t: number;
  n: number;
  progress: number;
  nonce: string;
  version: string;
  storage_type?: string;
  cluster_name?: string;
}

export const sealStatus = () => request<SealStatus>('GET', 'sys/seal-status', undefined, { token: null });

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
