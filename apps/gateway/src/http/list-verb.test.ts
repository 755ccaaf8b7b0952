import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { LIST_VERB_HEADER, ListVerbRewriter, attachListVerb, isListRequest, listenWithListVerb } from './list-verb.js';

// ---------------------------------------------------------------------------------------------
// The rewriter on its own: exact bytes out, whatever the chunking.

function rewrite(input: string | Buffer, cuts: number[] = []): string {
  const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const rw = new ListVerbRewriter();
  const out: Buffer[] = [];
  let last = 0;
  for (const cut of [...cuts, buf.length]) {
    out.push(rw.write(buf.subarray(last, cut)));
    last = cut;
  }
  out.push(rw.end());
  return Buffer.concat(out).toString('latin1');
}

const everyByte = (s: string): number[] => Array.from({ length: Math.max(0, s.length - 1) }, (_, i) => i + 1);

/** Same output whole, byte by byte, and cut at every single position. */
function assertRewrite(input: string, expected: string): void {
  assert.equal(rewrite(input), expected, 'whole');
  assert.equal(rewrite(input, everyByte(input)), expected, 'byte by byte');
  for (let i = 1; i < input.length; i++) assert.equal(rewrite(input, [i]), expected, `cut at ${i}`);
}

const M = `${LIST_VERB_HEADER}: LIST\r\n`;

describe('ListVerbRewriter', () => {
  it('turns a LIST request line into GET plus the marker header', () => {
    assertRewrite('LIST /v1/secret/ HTTP/1.1\r\nHost: x\r\n\r\n', `GET /v1/secret/ HTTP/1.1\r\n${M}Host: x\r\n\r\n`);
    assertRewrite('LIST /v1/secret/ HTTP/1.0\r\n\r\n', `GET /v1/secret/ HTTP/1.0\r\n${M}\r\n`);
  });

  it('returns the very same Buffer when there is nothing to rewrite', () => {
    const rw = new ListVerbRewriter();
    const head = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n');
    const body = Buffer.from('LIST ');
    assert.equal(rw.write(head), head);
    assert.equal(rw.write(body), body);
  });

  it('leaves other methods starting with L or C alone, and the held prefix is not lost', () => {
    for (const m of ['LOCK', 'LINK', 'LABEL', 'COPY', 'CHECKOUT', 'LISTEN', 'CONNECTX']) {
      const req = `${m} /a HTTP/1.1\r\nHost: x\r\n\r\n`;
      assertRewrite(req, req);
    }
    assertRewrite('LIS', 'LIS');
    assertRewrite('LIST', 'LIST');
  });

  it('never rewrites inside a Content-Length body', () => {
    const body = 'LIST / HTTP/1.1\r\n\r\n';
    const req = `POST /a HTTP/1.1\r\ncontent-LENGTH:  ${body.length} \r\n\r\n${body}`;
    assertRewrite(req + 'LIST /b HTTP/1.1\r\n\r\n', `${req}GET /b HTTP/1.1\r\n${M}\r\n`);
  });

  it('follows chunked bodies with extensions and trailers to the next request', () => {
    const req =
      'POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n' +
      '5;name="q;x"\r\nLIST \r\n' +
      '010\r\n/ HTTP/1.1\r\n\r\nab\r\n' +
      '0\r\nX-Trailer: LIST / HTTP/1.1\r\nContent-Length: 99\r\n\r\n';
    assertRewrite(`${req}\r\nLIST /b HTTP/1.1\r\n\r\n`, `${req}\r\nGET /b HTTP/1.1\r\n${M}\r\n`);
  });

  it('rewrites every request of a pipelined stream, including after leading empty lines', () => {
    const input = 'GET /1 HTTP/1.1\r\n\r\nLIST /2 HTTP/1.1\r\nA: b\r\n\r\n\r\nLIST /3 HTTP/1.1\r\n\r\n';
    assertRewrite(input, `GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n${M}A: b\r\n\r\n\r\nGET /3 HTTP/1.1\r\n${M}\r\n`);
  });

  // Each of these is framed differently by a lenient parser than by the strict grammar, so after
  // it nothing may be touched: the trailing LIST stays as sent.
  const ambiguous: Record<string, string> = {
    'space before colon': 'POST / HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc',
    'obs-fold': 'POST / HTTP/1.1\r\nX: 1\r\n  2\r\nContent-Length: 3\r\n\r\nabc',
    'bare LF': 'GET / HTTP/1.1\nHost: x\n\n',
    'bare CR': 'GET / HTTP/1.1\r\nX: a\rContent-Length: 3\r\n\r\nabc',
    'duplicate Content-Length': 'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
    'Content-Length list': 'POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc',
    'Content-Length and Transfer-Encoding': 'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'Transfer-Encoding not ending in chunked': 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
    'two Transfer-Encoding headers': 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'space after chunk size': 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n',
    'chunk without CRLF': 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n',
    'HTTP/0.9 request line': 'GET /a\r\n\r\n',
    'Upgrade': 'GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n',
    'CONNECT': 'CONNECT example.com:443 HTTP/1.1\r\n\r\n',
  };
  for (const [name, prefix] of Object.entries(ambiguous)) {
    it(`stops rewriting for good after ${name}`, () => {
      const input = `${prefix}LIST / HTTP/1.1\r\n\r\n`;
      assertRewrite(input, input);
    });
  }

  it('does not care about header lines that only look like framing headers', () => {
    const req = 'POST / HTTP/1.1\r\nContent-Lengthy: 9\r\nUpgrade-Insecure-Requests: 1\r\nTE: trailers\r\nContent-Length: 2\r\n\r\nab';
    assertRewrite(`${req}LIST / HTTP/1.1\r\n\r\n`, `${req}GET / HTTP/1.1\r\n${M}\r\n`);
  });

  it('handles long header lines split across chunks', () => {
    const long = 'x'.repeat(5000);
    const req = `POST / HTTP/1.1\r\nCookie: ${long}\r\nContent-Length: 3\r\nX-Other: ${long}\r\n\r\nabc`;
    const input = `${req}LIST /${long} HTTP/1.1\r\n\r\n`;
    const expected = `${req}GET /${long} HTTP/1.1\r\n${M}\r\n`;
    for (const step of [1, 7, 100, 4096]) {
      const cuts = [];
      for (let i = step; i < input.length; i += step) cuts.push(i);
      assert.equal(rewrite(input, cuts), expected, `step ${step}`);
    }
  });

  it('gives the same bytes for random pipelines however they are cut', () => {
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pick = <T>(xs: T[]): T => xs[rnd(xs.length)];
    const bodies = ['', 'LIST / HTTP/1.1\r\n\r\n', 'LIST ', '\r\n\r\nLIST /x HTTP/1.1\r\n\r\n', 'y'.repeat(700)];
    for (let iter = 0; iter < 300; iter++) {
      let input = '';
      let expected = '';
      for (let n = 1 + rnd(4); n > 0; n--) {
        const method = pick(['GET', 'LIST', 'POST', 'LOCK', 'PUT']);
        const target = pick(['/', '/v1/secret/', `/v1/${'a'.repeat(rnd(300))}`]);
        const headers = [`Host: x`, `X-Vault-Token: ${'t'.repeat(rnd(400))}`];
        const body = pick(bodies);
        let framed = '';
        if (body && rnd(2) === 0) {
          headers.push(`Content-Length: ${body.length}`);
          framed = body;
        } else if (body) {
          headers.push('Transfer-Encoding: chunked');
          for (let rest = body; rest; ) {
            const k = 1 + rnd(rest.length);
            framed += `${k.toString(16)}\r\n${rest.slice(0, k)}\r\n`;
            rest = rest.slice(k);
          }
          framed += `0\r\n${pick(['', 'T: LIST / HTTP/1.1\r\n'])}\r\n`;
        }
        const rest = `${headers.join('\r\n')}\r\n\r\n${framed}`;
        input += `${method} ${target} HTTP/1.1\r\n${rest}`;
        expected += method === 'LIST' ? `GET ${target} HTTP/1.1\r\n${M}${rest}` : `${method} ${target} HTTP/1.1\r\n${rest}`;
      }
      const cuts = [...new Set(Array.from({ length: rnd(12) }, () => 1 + rnd(input.length - 1)))].sort((a, b) => a - b);
      assert.equal(rewrite(input, cuts), expected);
    }
  });
});

it('isListRequest only counts a GET carrying the marker', () => {
  assert.equal(isListRequest({ method: 'GET', headers: { [LIST_VERB_HEADER]: 'LIST' } }), true);
  assert.equal(isListRequest({ method: 'PUT', headers: { [LIST_VERB_HEADER]: 'LIST' } }), false);
  assert.equal(isListRequest({ method: 'GET', headers: {} }), false);
});

// ---------------------------------------------------------------------------------------------
// Through a real http.Server.

interface Echo {
  method: string;
  url: string;
  verb: string | null;
  firstHeader: string;
  body: string;
  remote: string;
  isSocket: boolean;
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function echoServer(options: http.ServerOptions = {}): { server: http.Server; events: string[] } {
  const events: string[] = [];
  const server = http.createServer(options, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () => {
      if (!req.complete) events.push(`aborted ${req.method} ${req.url}`);
    });
    req.on('end', () => {
      const echo: Echo = {
        method: req.method ?? '',
        url: req.url ?? '',
        verb: (req.headers[LIST_VERB_HEADER] as string | undefined) ?? null,
        firstHeader: req.rawHeaders[0] ?? '',
        body: Buffer.concat(chunks).toString('latin1'),
        remote: req.socket.remoteAddress ?? '',
        isSocket: req.socket instanceof net.Socket,
      };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(echo));
    });
  });
  return { server, events };
}

/** A raw connection that reads HTTP/1.1 responses (Content-Length or read-to-close bodies). */
class RawClient {
  readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  private closed = false;
  private waiter: (() => void) | null = null;

  constructor(port: number, host = '127.0.0.1') {
    this.socket = net.connect(port, host);
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  async writeByteByByte(data: string): Promise<void> {
    for (const byte of Buffer.from(data, 'latin1')) {
      await this.write(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  async response(): Promise<RawResponse> {
    for (;;) {
      const r = this.tryParse();
      if (r) return r;
      if (this.closed) throw new Error(`connection closed; unparsed: ${JSON.stringify(this.buf.toString('latin1'))}`);
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
  }

  async responses(n: number): Promise<RawResponse[]> {
    const out: RawResponse[] = [];
    while (out.length < n) out.push(await this.response());
    return out;
  }

  /** Resolves when the server has closed the connection. */
  async closedByServer(): Promise<void> {
    while (!this.closed) {
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Everything received and not yet parsed as a response. */
  received(): string {
    return this.buf.toString('latin1');
  }

  private tryParse(): RawResponse | null {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end === -1) return null;
    const [statusLine, ...lines] = this.buf.toString('latin1', 0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    const status = Number(statusLine.split(' ')[1]);
    if (status === 100) {
      this.buf = this.buf.subarray(end + 4);
      return { status, headers, body: '' };
    }
    const length = headers['content-length'];
    let bodyEnd: number;
    if (length !== undefined) bodyEnd = end + 4 + Number(length);
    else if (this.closed) bodyEnd = this.buf.length;
    else return null;
    if (this.buf.length < bodyEnd) return null;
    const body = this.buf.toString('latin1', end + 4, bodyEnd);
    this.buf = this.buf.subarray(bodyEnd);
    return { status, headers, body };
  }
}

const json = (r: RawResponse): Echo => {
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as Echo;
};

describe('listenWithListVerb on an http.Server', () => {
  const { server, events } = echoServer();
  let port = 0;

  before(async () => {
    const front = await listenWithListVerb(server, 0, '127.0.0.1');
    assert.equal(front, server);
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('answers LIST as GET with the marker, on the genuine socket', async () => {
    const c = new RawClient(port);
    await c.write('LIST /v1/secret/ HTTP/1.1\r\nHost: x\r\n\r\n');
    const e = json(await c.response());
    assert.deepEqual(
      { method: e.method, url: e.url, verb: e.verb, first: e.firstHeader, isSocket: e.isSocket },
      { method: 'GET', url: '/v1/secret/', verb: 'LIST', first: LIST_VERB_HEADER, isSocket: true },
    );
    assert.equal(e.remote, '127.0.0.1');
    c.destroy();
  });

  it('answers a LIST sent one byte per packet', async () => {
    const c = new RawClient(port);
    await c.writeByteByByte('LIST /v1/secret/metadata/ HTTP/1.1\r\nHost: x\r\n\r\n');
    const e = json(await c.response());
    assert.deepEqual([e.method, e.url, e.verb], ['GET', '/v1/secret/metadata/', 'LIST']);
    c.destroy();
  });

  it('leaves a request body that contains a LIST request line untouched', async () => {
    const body = 'LIST / HTTP/1.1\r\nHost: x\r\n\r\n';
    const c = new RawClient(port);
    await c.write(`POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await c.write(`GET /g HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const [p, g] = (await c.responses(2)).map(json);
    assert.deepEqual([p.method, p.verb, p.body], ['POST', null, body]);
    assert.deepEqual([g.method, g.verb, g.body], ['GET', null, body]);
    c.destroy();
  });

  it('finds a pipelined LIST after a chunked POST with trailers, all in one packet', async () => {
    const c = new RawClient(port);
    await c.write(
      'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;ext=1\r\nLIST \r\n12\r\n/ HTTP/1.1\r\nX: y\r\n\r\n0\r\nX-Checksum: LIST\r\n\r\n' +
        'LIST /after HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const [p, l] = (await c.responses(2)).map(json);
    assert.deepEqual([p.method, p.body], ['POST', 'LIST / HTTP/1.1\r\nX: y\r\n']);
    assert.deepEqual([l.method, l.url, l.verb], ['GET', '/after', 'LIST']);
    c.destroy();
  });

  it('keeps LIST working across a keep-alive sequence of LIST, GET, PUT, LIST', async () => {
    const c = new RawClient(port);
    const seen: string[] = [];
    for (const req of [
      'LIST /a/ HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /b HTTP/1.1\r\nHost: x\r\n\r\n',
      'PUT /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}',
      'LIST /d/ HTTP/1.1\r\nHost: x\r\n\r\n',
    ]) {
      await c.write(req);
      const e = json(await c.response());
      seen.push(`${e.method} ${e.url} ${e.verb ?? '-'} ${e.body}`);
    }
    assert.deepEqual(seen, ['GET /a/ LIST ', 'GET /b - ', 'PUT /c - {}', 'GET /d/ LIST ']);
    c.destroy();
  });

  it('lets llhttp answer 100-continue and reads the body that follows', async () => {
    const c = new RawClient(port);
    await c.write('PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
    assert.equal((await c.response()).status, 100);
    await c.write('LIST LIST /f HTTP/1.1\r\nHost: x\r\n\r\n');
    const [put, list] = (await c.responses(2)).map(json);
    assert.deepEqual([put.method, put.body], ['PUT', 'LIST ']);
    assert.deepEqual([list.method, list.url, list.verb], ['GET', '/f', 'LIST']);
    c.destroy();
  });

  it('answers a garbage request line with 400 and keeps serving new connections', async () => {
    const bad = new RawClient(port);
    await bad.write('LIST\x01/ HTTP/1.1\r\n\r\n');
    assert.equal((await bad.response()).status, 400);
    await bad.closedByServer();
    const ok = new RawClient(port);
    await ok.write('LIST / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(json(await ok.response()).verb, 'LIST');
    ok.destroy();
  });

  it('still lets llhttp reject what it always rejected (CL with TE)', async () => {
    const c = new RawClient(port);
    await c.write('LIST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    assert.equal((await c.response()).status, 400);
    c.destroy();
  });

  it('answers an oversized head with 431, LIST or not', async () => {
    for (const method of ['GET', 'LIST']) {
      const c = new RawClient(port);
      await c.write(`${method} / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
      assert.equal((await c.response()).status, 431);
      c.destroy();
    }
  });

  it('survives a client that disconnects in the middle of a body', async () => {
    const c = new RawClient(port);
    await c.write('POST /abort HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nLIST / HTTP');
    await new Promise((r) => setTimeout(r, 20));
    c.destroy();
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(events.includes('aborted POST /abort'), events.join());
    const next = new RawClient(port);
    await next.write('LIST /ok HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(json(await next.response()).url, '/ok');
    next.destroy();
  });

  it('passes a LIST cut short by the end of the connection to llhttp', async () => {
    const c = new RawClient(port);
    await c.write('LIS');
    c.socket.end();
    assert.equal((await c.response()).status, 400);
  });

  it('serves normal verbs from fetch and http.request, and LIST from http.request', async () => {
    const base = `http://127.0.0.1:${port}`;
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      const withBody = method !== 'GET' && method !== 'DELETE';
      const r = await fetch(`${base}/v1/x?list=true`, { method, body: withBody ? 'LIST / HTTP/1.1\r\n\r\n' : undefined });
      const e = (await r.json()) as Echo;
      assert.deepEqual([e.method, e.url, e.verb, e.body], [method, '/v1/x?list=true', null, withBody ? 'LIST / HTTP/1.1\r\n\r\n' : '']);
    }
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const method of ['LIST', 'GET', 'LIST', 'POST']) {
        const e = await new Promise<Echo>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port, path: '/v1/y/', method, agent }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => resolve(JSON.parse(text) as Echo));
          });
          req.on('error', reject);
          req.end(method === 'POST' ? 'body' : undefined);
        });
        assert.equal(e.method, method === 'LIST' ? 'GET' : method);
        assert.equal(e.verb, method === 'LIST' ? 'LIST' : null);
      }
    } finally {
      agent.destroy();
    }
  });

  it('passes the bytes after an Upgrade to the upgrade handler untouched', async () => {
    const { server: up } = echoServer();
    up.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n');
      socket.write(head);
      socket.pipe(socket);
    });
    await listenWithListVerb(up, 0, '127.0.0.1');
    try {
      const c = new RawClient((up.address() as net.AddressInfo).port);
      await c.write('LIST / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(json(await c.response()).verb, 'LIST');
      await c.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nLIST / HTTP/1.1\r\n');
      await c.write('LIST /again HTTP/1.1\r\n\r\n');
      await new Promise((r) => setTimeout(r, 50));
      const raw = c.received();
      assert.ok(raw.startsWith('HTTP/1.1 101 '), raw);
      assert.ok(raw.endsWith('\r\n\r\nLIST / HTTP/1.1\r\nLIST /again HTTP/1.1\r\n\r\n'), raw);
      c.destroy();
    } finally {
      up.closeAllConnections();
      await new Promise((r) => up.close(r));
    }
  });
});

describe('request timeouts', () => {
  it('keeps the HTTP server headersTimeout in force for a slow LIST head', async () => {
    // The server listens itself (so its timeout checks run) and the head is not held back from
    // llhttp (so its clock starts): a slowloris LIST is cut off like any other request.
    const { server } = echoServer({ headersTimeout: 200, requestTimeout: 300, connectionsCheckingInterval: 50 });
    await listenWithListVerb(server, 0, '127.0.0.1');
    try {
      const c = new RawClient((server.address() as net.AddressInfo).port);
      await c.write('LIST /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      // The 408 comes only from the server's own timeout (the head never ends): no clock is asserted.
      assert.equal((await c.response()).status, 408);
      c.destroy();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('with insecureHTTPParser', () => {
  it('does not rewrite a body that a lenient parser frames differently', async () => {
    const { server } = echoServer({ insecureHTTPParser: true });
    await listenWithListVerb(server, 0, '127.0.0.1');
    try {
      const c = new RawClient((server.address() as net.AddressInfo).port);
      const smuggled = 'LIST /s HTTP/1.1\r\n\r\n';
      // Lenient llhttp takes `Content-Length : n`; strict framing would not, and would otherwise
      // see a LIST request where the server sees body bytes.
      await c.write(`POST /p HTTP/1.1\r\nHost: x\r\nContent-Length : ${smuggled.length}\r\n\r\n${smuggled}`);
      const e = json(await c.response());
      assert.deepEqual([e.method, e.body], ['POST', smuggled]);
      c.destroy();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('attachListVerb', () => {
  it('works with a server that listens on its own, and can be detached', async () => {
    const { server } = echoServer();
    const detach = attachListVerb(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const c = new RawClient(port);
      await c.write('LIST / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(json(await c.response()).verb, 'LIST');
      c.destroy();
      detach();
      const d = new RawClient(port);
      await d.write('LIST / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal((await d.response()).status, 400);
      d.destroy();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('rejects a second listenWithListVerb port clash with the listen error', async () => {
    const { server: a } = echoServer();
    const { server: b } = echoServer();
    await listenWithListVerb(a, 0, '127.0.0.1');
    try {
      await assert.rejects(listenWithListVerb(b, (a.address() as net.AddressInfo).port, '127.0.0.1'), { code: 'EADDRINUSE' });
    } finally {
      await new Promise((r) => a.close(r));
    }
  });

  it('hooks HTTPS after the TLS handshake and keeps the TLS socket', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'list-verb-'));
    try {
      try {
        execFileSync(
          'openssl',
          ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost',
            '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')],
          { stdio: 'ignore' },
        );
      } catch {
        t.skip('openssl is not available to make a certificate');
        return;
      }
      const cert = fs.readFileSync(path.join(dir, 'cert.pem'));
      const server = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert }, (req, res) => {
        res.end(JSON.stringify({ method: req.method, verb: req.headers[LIST_VERB_HEADER] ?? null, tls: req.socket instanceof tls.TLSSocket }));
      });
      await listenWithListVerb(server, 0, '127.0.0.1');
      try {
        const port = (server.address() as net.AddressInfo).port;
        const socket = tls.connect({ port, host: '127.0.0.1', ca: cert, servername: 'localhost' });
        // Sent at once with the handshake's end, so the request can arrive with TLS's last flight.
        socket.write('LIST /v1/secret/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => (text += d));
        await new Promise((r) => socket.on('close', r));
        assert.ok(text.startsWith('HTTP/1.1 200'), text);
        assert.deepEqual(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)), { method: 'GET', verb: 'LIST', tls: true });
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
