/**
 * The gateway's sockets: one server per `listener "tcp"` block, all serving the same request handler. A TLS listener
 * is an https.Server with the block's certificate, key, versions, suites and client-certificate rules; SIGHUP gives
 * it a new certificate and key through setSecureContext, so the socket stays bound and open connections stay up.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';
import { parseListenAddress, type TcpListenerConfig, type TlsVersion } from '#config';
import { listenWithListVerb } from './list-verb.js';

/** What Go's net/http writes to a client that speaks plain HTTP to a TLS port; Vault clients know the sentence. */
export const PLAIN_HTTP_TO_TLS_RESPONSE = 'HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n';

const TLS_VERSIONS: Record<TlsVersion, tls.SecureVersion> = { tls10: 'TLSv1', tls11: 'TLSv1.1', tls12: 'TLSv1.2', tls13: 'TLSv1.3' };

/** A TLS record starts with its content type; a ClientHello is a handshake record (22). */
const TLS_HANDSHAKE = 0x16;

/** How long a connection may stay silent before its first byte says whether it speaks TLS. */
const FIRST_BYTE_TIMEOUT_MS = 60_000;

export interface ListenerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface BoundListener {
  config: TcpListenerConfig;
  server: http.Server | https.Server;
  /** The address actually bound (port 0 picks a free one). */
  host: string;
  port: number;
  tls: boolean;
}

/**
 * Node's secure-context options for a TLS listener, read from its files now. Throws an Error naming the key whose
 * file cannot be read or does not hold what it should; never the file's contents.
 */
export function tlsOptionsOf(listener: TcpListenerConfig): https.ServerOptions {
  const read = (key: string, path: string | undefined): Buffer => {
    if (!path) throw new Error(`listener ${listener.address}: ${key} is required unless tls_disable = true`);
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`listener ${listener.address}: ${key} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
  };
  const options: https.ServerOptions = {
    cert: read('tls_cert_file', listener.tlsCertFile),
    key: read('tls_key_file', listener.tlsKeyFile),
    minVersion: TLS_VERSIONS[listener.tlsMinVersion ?? 'tls12'],
    maxVersion: TLS_VERSIONS[listener.tlsMaxVersion ?? 'tls13'],
  };
  if (listener.tlsCipherSuites?.length) {
    const suites = listener.tlsCipherSuites;
    // As in Go, naming only TLS 1.2 suites leaves TLS 1.3 at its defaults instead of switching it off.
    const tls13 = suites.some((s) => s.startsWith('TLS_')) ? [] : tls.DEFAULT_CIPHERS.split(':').filter((s) => s.startsWith('TLS_'));
    options.ciphers = [...tls13, ...suites].join(':');
  }
  if (listener.tlsClientCaFile) options.ca = read('tls_client_ca_file', listener.tlsClientCaFile);
  if (listener.tlsClientCaFile || listener.tlsRequireAndVerifyClientCert) {
    options.requestCert = true;
    options.rejectUnauthorized = listener.tlsRequireAndVerifyClientCert === true;
  }
  try {
    // Fails here, with the key named, rather than at the first handshake: a key that does not match its cert.
    tls.createSecureContext(options);
  } catch (err) {
    throw new Error(`listener ${listener.address}: tls_cert_file/tls_key_file: ${(err as Error).message}`);
  }
  return options;
}

/**
 * A client that speaks plain HTTP to a TLS port is answered as Go answers it, in clear text, instead of having its
 * connection reset: the https.Server's own connection listeners (which start TLS) run only once the first byte
 * says a TLS handshake is coming. The bytes read to decide are put back for TLS to read.
 */
function answerPlainHttp(server: https.Server): void {
  const startTls = server.listeners('connection') as ((socket: net.Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: net.Socket) => {
    const timer = setTimeout(() => socket.destroy(), FIRST_BYTE_TIMEOUT_MS);
    timer.unref();
    const onError = () => clearTimeout(timer);
    const onReadable = () => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null || chunk.length === 0) return;
      socket.removeListener('readable', onReadable);
      socket.removeListener('error', onError);
      clearTimeout(timer);
      socket.unshift(chunk);
      if (chunk[0] === TLS_HANDSHAKE) {
        for (const listener of startTls) listener.call(server, socket);
      } else if (/^[A-Z]/.test(String.fromCharCode(chunk[0]))) {
        socket.end(PLAIN_HTTP_TO_TLS_RESPONSE);
      } else {
        socket.destroy();
      }
    };
    socket.on('error', onError);
    socket.on('readable', onReadable);
  });
}

/** Binds every listener block, in order; if one cannot bind, those already bound are closed and the error thrown. */
export async function bindListeners(
  listeners: readonly TcpListenerConfig[],
  handler: http.RequestListener,
  log: ListenerLog,
  /** The server Fastify was handed for the first listener (it owns it); the others are made here. */
  first?: http.Server | https.Server,
): Promise<BoundListener[]> {
  const bound: BoundListener[] = [];
  try {
    for (const [index, config] of listeners.entries()) {
      const server = index === 0 && first ? first : createServerFor(config, handler);
      trackSockets(server);
      const { host, port } = parseListenAddress(config.address);
      await listenWithListVerb(server, port, host);
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      bound.push({ config, server, host, port: actual, tls: !config.tlsDisable });
      log.info({ address: `${host}:${actual}`, tls: !config.tlsDisable }, 'gateway listening');
    }
  } catch (err) {
    await closeListeners(bound);
    throw err;
  }
  return bound;
}

/** An http.Server for a plain listener, an https.Server (answering plain HTTP as Go does) for a TLS one. */
export function createServerFor(config: TcpListenerConfig, handler: http.RequestListener): http.Server | https.Server {
  if (config.tlsDisable) return http.createServer(handler);
  const server = https.createServer(tlsOptionsOf(config), handler);
  answerPlainHttp(server);
  return server;
}

/**
 * SIGHUP: every TLS listener re-reads its certificate and key (and client CA) from the files the reloaded config
 * names, paired by address. New connections get the new certificate; the socket and open connections are kept. All
 * files are read before any listener changes, so a broken file changes nothing and the error says which.
 */
export function reloadListenerTls(bound: readonly BoundListener[], listeners: readonly TcpListenerConfig[], log: ListenerLog): void {
  const updates: [BoundListener, https.ServerOptions][] = [];
  for (const b of bound) {
    if (!b.tls) continue;
    const next = listeners.find((l) => l.address === b.config.address) ?? b.config;
    updates.push([b, tlsOptionsOf(next)]);
  }
  for (const [b, options] of updates) {
    (b.server as https.Server).setSecureContext(options);
    log.info({ address: `${b.host}:${b.port}` }, 'listener certificate reloaded');
  }
}

const SOCKETS = new WeakMap<net.Server, Set<net.Socket>>();

/**
 * Every raw connection, HTTP or not yet: closeAllConnections() knows only the HTTP ones, and a socket still in its
 * TLS handshake (or waiting for its first byte) would otherwise hold close() open for as long as its client likes.
 */
function trackSockets(server: net.Server): void {
  const sockets = new Set<net.Socket>();
  SOCKETS.set(server, sockets);
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
}

export async function closeListeners(bound: readonly BoundListener[]): Promise<void> {
  await Promise.all(
    bound.map(
      ({ server }) =>
        new Promise<void>((resolve) => {
          if (!server.listening) return resolve();
          server.close(() => resolve());
          // Keep-alive connections would hold close() open until their clients leave.
          server.closeAllConnections();
          for (const socket of SOCKETS.get(server) ?? []) socket.destroy();
        }),
    ),
  );
}
