import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json(): any;
}

/**
 * A request with any verb and an unnormalised path: `fetch` would refuse LIST or clean `..` away before the
 * server ever saw it, and those are exactly what these tests send.
 */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method, path, headers: { ...headers, ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Polls until `check` stops throwing, or fails with its last error after `ms`. */
export async function eventually<T>(check: () => Promise<T>, ms = 20_000, stepMs = 200): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await check();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, stepMs));
    }
  }
  throw last;
}

/** Vault's response envelope as the lease and database tests read it. */
export interface Envelope {
  lease_id: string;
  lease_duration: number;
  renewable: boolean;
  data: Record<string, any> | null;
  warnings: string[] | null;
  errors?: string[];
}
