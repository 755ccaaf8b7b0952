/**
 * The web UI (`apps/ui`, built by `npm run build` into `dist/ui/`) served at `/ui/`, as Vault serves its own, when
 * the config says `ui = true`. The files are read once at start into memory: a request is answered by a lookup in
 * that map, so no request path ever reaches the file system, and `..` can name nothing.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where `npm run build` puts the UI: dist/ui, seen from dist/apps/gateway/src/ui/. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../../../ui', import.meta.url));

/**
 * No inline script or style, nothing from another origin, no framing. The app only ever talks to its own origin's
 * /v1 API. `img-src data:` is for the favicon only.
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': UI_CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

interface UiFile {
  body: Buffer;
  type: string;
}

/** Every file under `dir`, keyed by its path relative to it with forward slashes. Empty when the UI is not built. */
export function readUiFiles(dir: string): Map<string, UiFile> {
  const files = new Map<string, UiFile>();
  if (!existsSync(dir)) return files;
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const full = join(at, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && statSync(full).size > 0) {
        const key = relative(dir, full).split(sep).join('/');
        files.set(key, { body: readFileSync(full), type: TYPES[extname(entry.name)] ?? 'application/octet-stream' });
      }
    }
  };
  walk(dir);
  return files;
}

export interface UiLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * Adds `/ui`, `/ui/` and `/ui/*` (GET and HEAD) to the gateway's Fastify, and `/` redirecting to `/ui/`. A path
 * under /ui/ that is no file is the app's own route (`/ui/secrets/kv/...`): it gets index.html, and the app reads
 * the location. Hashed assets are cached for good; index.html never is, so a new build is picked up at once.
 */
export function registerUi(fastify: FastifyInstance, log: UiLog, dir: string = DEFAULT_UI_DIR): void {
  const files = readUiFiles(dir);
  const index = files.get('index.html');
  if (!index) log.warn({ dir }, 'ui = true but the web UI is not built (npm run build); /ui/ answers 503');
  else log.info({ files: files.size }, 'web UI served at /ui/');

  const send = (reply: FastifyReply, file: UiFile, cache: string) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
    return reply.code(200).header('cache-control', cache).type(file.type).send(file.body);
  };
  const serve = async (request: FastifyRequest, reply: FastifyReply) => {
    const q = request.url.indexOf('?');
    const pathname = q === -1 ? request.url : request.url.slice(0, q);
    let rest: string;
    try {
      rest = decodeURIComponent(pathname.slice('/ui/'.length));
    } catch {
      return reply.code(400).header('cache-control', 'no-store').type('application/json').send({ errors: ['invalid path'] });
    }
    if (!index) {
      return reply.code(503).header('cache-control', 'no-store').type('application/json').send({ errors: ['the web UI is not built; run npm run build'] });
    }
    const file = rest === '' || rest.endsWith('/') ? undefined : files.get(rest);
    if (file) return send(reply, file, rest.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    // A missing asset is a 404, not the app: a stale index.html asking for an old bundle should fail visibly.
    if (rest.startsWith('assets/')) return reply.code(404).header('cache-control', 'no-store').type('application/json').send({ errors: [] });
    return send(reply, index, 'no-store');
  };
  const redirect = async (_request: FastifyRequest, reply: FastifyReply) => reply.code(307).header('location', '/ui/').send();
  fastify.route({ method: ['GET', 'HEAD'], url: '/', handler: redirect });
  fastify.route({ method: ['GET', 'HEAD'], url: '/ui', handler: redirect });
  fastify.route({ method: ['GET', 'HEAD'], url: '/ui/', handler: serve });
  fastify.route({ method: ['GET', 'HEAD'], url: '/ui/*', handler: serve });
}
