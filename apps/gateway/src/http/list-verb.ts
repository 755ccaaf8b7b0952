/**
 * Vault's `LIST` HTTP method on a Node HTTP/1.1 server.
 *
 * llhttp only knows a fixed set of methods and answers `LIST / HTTP/1.1` with 400 before any
 * JavaScript runs (insecureHTTPParser does not change that). This module rewrites, on each
 * server-side socket, the request line `LIST <target> HTTP/1.x` into `GET <target> HTTP/1.x`
 * followed by the header `x-coffer-verb: LIST`; every other byte reaches llhttp unchanged.
 *
 * The rewrite is installed on the real `net.Socket` (by wrapping its `push`) rather than on a
 * Duplex stand-in: handlers keep the genuine socket (remoteAddress, timeouts, TLS peer
 * certificates for cert auth, bytesWritten), responses are written exactly as without this
 * module, and the HTTP server keeps listening itself, so its headersTimeout/requestTimeout
 * checks (started on 'listening') stay in force. The cost is that llhttp can no longer read the
 * socket from C++ directly ("consume"); bytes pass through JavaScript as they do for any
 * socket that has a 'data' listener.
 *
 * To know where a request starts on a keep-alive or pipelined connection the rewriter follows
 * HTTP/1.1 framing (request head, Content-Length, chunked with extensions and trailers). It
 * streams: bytes are forwarded as they arrive, only the up-to-4 bytes `LIST` at the start of a
 * request are held back until the next byte decides the method. Whenever the framing is not
 * unambiguous by the strict grammar (bare CR or LF, obs-fold, whitespace before a colon,
 * duplicate or malformed Content-Length, Transfer-Encoding other than a single `…, chunked`,
 * both CL and TE, a request line without ` HTTP/1.0|1.1`, Upgrade, CONNECT) it stops rewriting
 * for the rest of the connection. llhttp then sees the client's own bytes, rejects them in strict
 * mode, and in lenient mode no byte that llhttp might frame differently has been touched, so the
 * rewriter can never make two parsers disagree about where a request begins.
 */
import type { IncomingMessage } from 'node:http';
import type http from 'node:http';
import type https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

/** Header added after the request line of a request that arrived as `LIST`. */
export const LIST_VERB_HEADER = 'x-coffer-verb';

/**
 * True when the request arrived as `LIST`. A client can send the header itself on a GET, which
 * means the same as `GET ?list=true` and so grants nothing; other methods never count.
 */
export function isListRequest(req: Pick<IncomingMessage, 'method' | 'headers'>): boolean {
  return req.method === 'GET' && req.headers[LIST_VERB_HEADER] === 'LIST';
}

const LF = 10;
const CR = 13;
const SP = 32;
const HT = 9;
const COLON = 58;
const SEMICOLON = 59;

const LIST_SP = Buffer.from('LIST ', 'latin1');
const CONNECT_SP = Buffer.from('CONNECT ', 'latin1');
const GET_SP = Buffer.from('GET ', 'latin1');
const MARKER = Buffer.from(`${LIST_VERB_HEADER}: LIST\r\n`, 'latin1');
const EMPTY = Buffer.alloc(0);

const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding', 'latin1');
const UPGRADE = Buffer.from('upgrade', 'latin1');

/** ` HTTP/1.x`, the only request-line endings after which the head is framed like HTTP/1.1. */
const VERSION_LEN = 9;
const VERSION_PREFIX = Buffer.from(' HTTP/1.', 'latin1');

/**
 * A header line split across reads is copied up to this many bytes: enough for the name and
 * value of the three headers that matter, whose longer values are not plausible anyway.
 */
const CARRY_CAP = 256;

/** Beyond this a chunk size is not something a client legitimately sends; stop rewriting. */
const MAX_CHUNK_SIZE = 2 ** 44;

const S_START = 0;
const S_METHOD = 1;
const S_REQ_LINE = 2;
const S_HEAD = 3;
const S_BODY = 4;
const S_CHUNK_SIZE = 5;
const S_CHUNK_EXT = 6;
const S_CHUNK_SIZE_LF = 7;
const S_CHUNK_DATA = 8;
const S_CHUNK_DATA_CR = 9;
const S_CHUNK_DATA_LF = 10;
const S_TRAILER = 11;
const S_PASS = 12;

/**
 * Incremental request-stream rewriter; one per connection. `write` returns the bytes to hand to
 * the HTTP parser (often the same Buffer), `end` whatever was held back when the input ends.
 */
export class ListVerbRewriter {
  private state = S_START;

  // Method matching: `mIdx` bytes of `mTarget` matched so far, `mStart` where that began in the
  // current chunk (0 when it began in an earlier one), `mPrev` how many came from earlier chunks.
  private mTarget = LIST_SP;
  private mIdx = 0;
  private mStart = 0;
  private mPrev = 0;

  private isList = false;
  private contentLength = -1;
  private chunked = false;

  // The line being scanned: where it starts in the current chunk, how many content bytes came in
  // earlier chunks, whether the previous chunk ended on its CR, and what of it was kept.
  private lineStart = 0;
  private lineLen = 0;
  private pendingCR = false;
  private tail: Buffer = EMPTY;
  private carry: Buffer | null = null;

  private remaining = 0;
  private chunkSize = 0;
  private sizeDigits = 0;

  // Output of the current `write`: pieces assembled only when something is replaced or inserted.
  private cur: Buffer = EMPTY;
  private out: Buffer[] | null = null;
  private emitFrom = 0;

  /** True once rewriting has stopped for good; from then on `write` returns its input. */
  get passThrough(): boolean {
    return this.state === S_PASS;
  }

  write(chunk: Buffer): Buffer {
    if (this.state === S_PASS) return chunk;
    const len = chunk.length;
    this.cur = chunk;
    this.out = null;
    this.emitFrom = 0;
    if (this.state === S_METHOD) {
      this.mStart = 0;
      this.mPrev = this.mIdx;
    } else {
      this.lineStart = 0;
    }
    let pos = 0;
    while (pos < len) {
      switch (this.state) {
        case S_BODY:
        case S_CHUNK_DATA: {
          const avail = len - pos;
          if (avail < this.remaining) {
            this.remaining -= avail;
            pos = len;
          } else {
            pos += this.remaining;
            this.remaining = 0;
            this.state = this.state === S_BODY ? S_START : S_CHUNK_DATA_CR;
          }
          break;
        }
        case S_START: {
          const b = chunk[pos];
          // llhttp skips empty lines between requests (some clients add CRLF after a body).
          if (b === CR || b === LF) {
            pos++;
            break;
          }
          this.isList = false;
          this.contentLength = -1;
          this.chunked = false;
          this.lineStart = pos;
          this.lineLen = 0;
          this.tail = EMPTY;
          if (b === LIST_SP[0] || b === CONNECT_SP[0]) {
            this.state = S_METHOD;
            this.mTarget = b === LIST_SP[0] ? LIST_SP : CONNECT_SP;
            this.mIdx = 0;
            this.mStart = pos;
            this.mPrev = 0;
          } else {
            this.state = S_REQ_LINE;
          }
          break;
        }
        case S_METHOD:
          pos = this.method(chunk, pos);
          break;
        case S_REQ_LINE:
        case S_HEAD:
        case S_TRAILER:
          pos = this.lines(chunk, pos);
          break;
        case S_CHUNK_SIZE: {
          const b = chunk[pos];
          const d = hexValue(b);
          if (d >= 0) {
            if (this.chunkSize >= MAX_CHUNK_SIZE) {
              pos = this.passAt();
              break;
            }
            this.chunkSize = this.chunkSize * 16 + d;
            this.sizeDigits++;
            pos++;
          } else if (this.sizeDigits > 0 && b === SEMICOLON) {
            this.state = S_CHUNK_EXT;
            pos++;
          } else if (this.sizeDigits > 0 && b === CR) {
            this.state = S_CHUNK_SIZE_LF;
            pos++;
          } else {
            // Includes whitespace after the size, which only lenient llhttp accepts.
            pos = this.passAt();
          }
          break;
        }
        case S_CHUNK_EXT: {
          const cr = chunk.indexOf(CR, pos);
          const lf = chunk.indexOf(LF, pos);
          if (lf !== -1 && (cr === -1 || lf < cr)) {
            pos = this.passAt();
          } else if (cr === -1) {
            pos = len;
          } else {
            this.state = S_CHUNK_SIZE_LF;
            pos = cr + 1;
          }
          break;
        }
        case S_CHUNK_SIZE_LF:
          if (chunk[pos] !== LF) {
            pos = this.passAt();
            break;
          }
          pos++;
          if (this.chunkSize === 0) {
            this.state = S_TRAILER;
            this.lineStart = pos;
            this.lineLen = 0;
          } else {
            this.state = S_CHUNK_DATA;
            this.remaining = this.chunkSize;
          }
          break;
        case S_CHUNK_DATA_CR:
          if (chunk[pos] !== CR) {
            pos = this.passAt();
            break;
          }
          this.state = S_CHUNK_DATA_LF;
          pos++;
          break;
        case S_CHUNK_DATA_LF:
          if (chunk[pos] !== LF) {
            pos = this.passAt();
            break;
          }
          this.state = S_CHUNK_SIZE;
          this.chunkSize = 0;
          this.sizeDigits = 0;
          pos++;
          break;
        default:
          pos = len;
      }
    }
    return this.result();
  }

  /** Bytes held back when the input ends (a lone `LIS`); llhttp must see them to reject them. */
  end(): Buffer {
    const held = this.state === S_METHOD && this.mTarget === LIST_SP ? LIST_SP.subarray(0, this.mIdx) : EMPTY;
    this.state = S_PASS;
    this.carry = null;
    this.tail = EMPTY;
    this.cur = EMPTY;
    return held;
  }

  private method(chunk: Buffer, pos: number): number {
    const len = chunk.length;
    const target = this.mTarget;
    while (pos < len && this.mIdx < target.length) {
      if (chunk[pos] !== target[this.mIdx]) {
        if (target === LIST_SP && this.mPrev > 0) {
          // The matched prefix came in earlier chunks and was held; nothing of this chunk has
          // been emitted yet, so it goes first.
          (this.out ??= []).push(LIST_SP.subarray(0, this.mPrev));
        }
        this.enterRequestLine();
        return pos;
      }
      pos++;
      this.mIdx++;
    }
    if (this.mIdx < target.length) return pos;
    // A tunnel follows a CONNECT head; its bytes are not HTTP.
    if (target === CONNECT_SP) return this.passAt();
    this.replace(this.mStart, pos, GET_SP);
    this.isList = true;
    this.enterRequestLine();
    return pos;
  }

  private enterRequestLine(): void {
    this.state = S_REQ_LINE;
    this.lineStart = this.mPrev > 0 ? 0 : this.mStart;
    this.lineLen = this.mPrev;
    this.tail = this.mPrev > 0 ? this.mTarget.subarray(0, this.mPrev) : EMPTY;
    this.mPrev = 0;
  }

  /** Scans CRLF-terminated lines of a head or trailer section from `pos`; returns where it stopped. */
  private lines(buf: Buffer, pos: number): number {
    const len = buf.length;
    for (;;) {
      if (this.pendingCR) {
        this.pendingCR = false;
        if (buf[pos] !== LF) return this.passAt();
        if (!this.lineDone(buf, pos, pos, pos)) return len;
        pos++;
      } else {
        if (pos >= len) return pos;
        const lf = buf.indexOf(LF, pos);
        if (lf === -1) {
          const cr = buf.indexOf(CR, pos);
          if (cr !== -1 && cr !== len - 1) return this.passAt();
          this.pendingCR = cr !== -1;
          this.stash(buf, this.lineStart, this.pendingCR ? len - 1 : len);
          return len;
        }
        // Exactly one CR, right before the LF: bare CR or LF is where lenient parsing differs.
        if (lf === pos || buf.indexOf(CR, pos) !== lf - 1) return this.passAt();
        if (!this.lineDone(buf, this.lineStart, lf - 1, lf)) return len;
        pos = lf + 1;
      }
      this.lineStart = pos;
      this.lineLen = 0;
      if (this.state !== S_HEAD && this.state !== S_TRAILER) return pos;
    }
  }

  /** Keeps what a line split across chunks will need once it is complete. */
  private stash(buf: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n === 0) return;
    if (this.state === S_REQ_LINE) {
      const piece = buf.subarray(Math.max(start, end - VERSION_LEN), end);
      this.tail =
        piece.length >= VERSION_LEN ? Buffer.from(piece) : Buffer.concat([this.tail, piece]).subarray(-VERSION_LEN);
    } else if (this.state === S_HEAD && this.lineLen < CARRY_CAP) {
      this.carry ??= Buffer.allocUnsafe(CARRY_CAP);
      buf.copy(this.carry, this.lineLen, start, Math.min(end, start + CARRY_CAP - this.lineLen));
    }
    this.lineLen += n;
  }

  /**
   * A line ended; its content is what came in earlier chunks plus `buf[start, end)`, its LF is
   * at `lf`. False once rewriting has stopped.
   */
  private lineDone(buf: Buffer, start: number, end: number, lf: number): boolean {
    const here = end - start;
    const total = this.lineLen + here;
    switch (this.state) {
      case S_REQ_LINE: {
        let ok: boolean;
        if (here >= VERSION_LEN) {
          ok = isHttp1Version(buf, end - VERSION_LEN);
        } else if (total >= VERSION_LEN) {
          const last = Buffer.concat([this.tail, buf.subarray(start, end)]);
          ok = isHttp1Version(last, last.length - VERSION_LEN);
        } else {
          ok = false;
        }
        // Without a version llhttp reads HTTP/0.9 and the "headers" as further requests; a
        // LIST like that is left as GET without the marker rather than guessed at.
        if (!ok) return this.stop();
        if (this.isList) this.insert(lf + 1, MARKER);
        this.state = S_HEAD;
        this.tail = EMPTY;
        return true;
      }
      case S_HEAD: {
        if (total === 0) {
          this.endOfHead();
          return true;
        }
        if (this.lineLen === 0) return this.header(buf, start, end, false);
        const carry = this.carry as Buffer;
        if (this.lineLen < CARRY_CAP) buf.copy(carry, this.lineLen, start, Math.min(end, start + CARRY_CAP - this.lineLen));
        return this.header(carry, 0, Math.min(total, CARRY_CAP), total > CARRY_CAP);
      }
      default:
        if (total === 0) this.state = S_START;
        return true;
    }
  }

  /** Looks at one header line `b[s, e)` (no CR); only framing-relevant headers matter. */
  private header(b: Buffer, s: number, e: number, truncated: boolean): boolean {
    const first = b[s];
    // A continuation line could extend Content-Length or Transfer-Encoding for a lenient parser.
    if (first === SP || first === HT) return this.stop();
    const f = first | 0x20;
    const name = f === 0x63 ? CONTENT_LENGTH : f === 0x74 ? TRANSFER_ENCODING : f === 0x75 ? UPGRADE : null;
    if (name === null) return true;
    const nl = name.length;
    if (e - s <= nl) return true;
    // `| 0x20` folds case for letters; for '-' it would also accept CR, which a line cannot hold.
    for (let i = 1; i < nl; i++) if ((b[s + i] | 0x20) !== name[i]) return true;
    const after = b[s + nl];
    if (after !== COLON) return after === SP || after === HT ? this.stop() : true;
    if (truncated || name === UPGRADE) return this.stop();
    if (name === CONTENT_LENGTH) {
      if (this.contentLength !== -1 || this.chunked) return this.stop();
      const n = parseDecimal(b, s + nl + 1, e);
      if (n < 0) return this.stop();
      this.contentLength = n;
      return true;
    }
    if (this.chunked || this.contentLength !== -1) return this.stop();
    const tokens = b.toString('latin1', s + nl + 1, e).split(',');
    if (tokens[tokens.length - 1].trim().toLowerCase() !== 'chunked') return this.stop();
    this.chunked = true;
    return true;
  }

  private endOfHead(): void {
    if (this.chunked) {
      this.state = S_CHUNK_SIZE;
      this.chunkSize = 0;
      this.sizeDigits = 0;
    } else if (this.contentLength > 0) {
      this.state = S_BODY;
      this.remaining = this.contentLength;
    } else {
      this.state = S_START;
    }
  }

  private replace(from: number, to: number, bytes: Buffer): void {
    const out = (this.out ??= []);
    if (from > this.emitFrom) out.push(this.cur.subarray(this.emitFrom, from));
    out.push(bytes);
    this.emitFrom = to;
  }

  private insert(at: number, bytes: Buffer): void {
    this.replace(at, at, bytes);
  }

  /** Stops rewriting for good; the rest of the current chunk passes as is. Returns its end. */
  private passAt(): number {
    this.stop();
    return this.cur.length;
  }

  private stop(): false {
    this.state = S_PASS;
    this.carry = null;
    this.tail = EMPTY;
    this.pendingCR = false;
    return false;
  }

  private result(): Buffer {
    const chunk = this.cur;
    this.cur = EMPTY;
    const end = this.state === S_METHOD && this.mTarget === LIST_SP ? this.mStart : chunk.length;
    const out = this.out;
    if (out === null) return this.emitFrom === 0 && end === chunk.length ? chunk : chunk.subarray(this.emitFrom, end);
    this.out = null;
    if (end > this.emitFrom) out.push(chunk.subarray(this.emitFrom, end));
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** `OWS 1*DIGIT OWS` as a number, or -1. */
function parseDecimal(b: Buffer, s: number, e: number): number {
  while (s < e && (b[s] === SP || b[s] === HT)) s++;
  while (e > s && (b[e - 1] === SP || b[e - 1] === HT)) e--;
  if (s === e || e - s > 15) return -1;
  let n = 0;
  for (let i = s; i < e; i++) {
    const d = b[i] - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function isHttp1Version(b: Buffer, at: number): boolean {
  for (let i = 0; i < VERSION_PREFIX.length; i++) if (b[at + i] !== VERSION_PREFIX[i]) return false;
  const minor = b[at + VERSION_PREFIX.length];
  return minor === 0x30 || minor === 0x31;
}

const kInstalled = Symbol('coffer.listVerb');

type Hookable = Duplex & { [kInstalled]?: true; alpnProtocol?: string | false | null };

/**
 * Makes `socket` deliver its incoming bytes through a `ListVerbRewriter`. Must run before the
 * socket's first read, i.e. synchronously in the server's connection event.
 */
export function installListVerb(socket: Duplex): void {
  const s = socket as Hookable;
  if (s[kInstalled]) return;
  s[kInstalled] = true;
  // HTTP/2 has no method whitelist, and its frames must not be read as HTTP/1.
  if (s.alpnProtocol === 'h2') return;
  const rewriter = new ListVerbRewriter();
  const push = s.push;
  s.push = function pushListVerb(this: Duplex, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) {
      const held = rewriter.end();
      this.push = push;
      if (held.length > 0) push.call(this, held);
      return push.call(this, null);
    }
    if (!Buffer.isBuffer(chunk)) {
      // Only a setEncoding()'d stream pushes strings, and the HTTP server forbids that.
      rewriter.end();
      this.push = push;
      return push.call(this, chunk, encoding);
    }
    const out = rewriter.write(chunk);
    if (rewriter.passThrough) this.push = push;
    // Swallowing a chunk (a held `LIS`) must not tell the socket to stop reading.
    if (out.length === 0) return this.readableLength < this.readableHighWaterMark;
    return push.call(this, out);
  };
}

const noop = (): void => {};

/**
 * Rewrites LIST on every connection `server` accepts. Call once, before connections arrive
 * (before or after `listen`). For HTTPS the hook runs on 'secureConnection', after TLS.
 * Returns a function that stops hooking new connections.
 */
export function attachListVerb(server: http.Server | https.Server): () => void {
  const event = server instanceof tls.Server ? 'secureConnection' : 'connection';
  // Appended, so it runs after the HTTP server's own connection listener (registered by its
  // constructor), which makes llhttp consume the socket's handle in C++. Adding a 'data'
  // listener is the public way to undo that (the server then reads in JS, through `push`).
  const onConnection = (socket: Duplex): void => {
    installListVerb(socket);
    socket.on('data', noop);
    socket.removeListener('data', noop);
  };
  server.on(event, onConnection);
  return () => {
    server.removeListener(event, onConnection);
  };
}

/**
 * Attaches the LIST rewrite and makes `server` itself listen. Resolves with the same server
 * (a `net.Server`), so `address()`/`close()` and the HTTP server's request timeouts work as usual.
 */
export async function listenWithListVerb<S extends http.Server | https.Server>(
  server: S,
  port: number,
  host?: string,
): Promise<S> {
  attachListVerb(server);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
  return server;
}
