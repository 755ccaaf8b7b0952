import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, freePort } from './support/cluster.js';
import { startDevServer, type DevServer } from './support/dev-server.js';
import { REPO_ROOT } from './support/paths.js';
import { makeTestPki, type TestPki } from './support/tls.js';

/** One HTTP/1.1 request over a fresh (or given) TLS socket; resolves with the status, body and the socket. */
async function httpsGet(port: number, path: string, options: ConnectionOptions, socket?: TLSSocket): Promise<{ status: number; body: string; socket: TLSSocket }> {
  const s = socket ?? tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
  if (!socket) {
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve());
      s.once('error', reject);
    });
  }
  let text = '';
  const done = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      text += d.toString();
      const m = /\r\ncontent-length: (\d+)\r\n/i.exec(text);
      const end = text.indexOf('\r\n\r\n');
      if (m && end >= 0 && Buffer.byteLength(text.slice(end + 4)) >= Number(m[1])) {
        s.off('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    // With TLS 1.3 a refused client certificate shows only after the handshake: the server closes the connection.
    s.once('close', () => reject(new Error(`connection closed before an answer: ${text.slice(0, 200)}`)));
  });
  s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
  await done;
  return { status: Number(text.slice(9, 12)), body: text.slice(text.indexOf('\r\n\r\n') + 4), socket: s };
}

/** Whether a TLS handshake with these options succeeds; the error's text otherwise. */
async function handshake(port: number, options: ConnectionOptions): Promise<true | string> {
  try {
    const { socket } = await httpsGet(port, '/v1/sys/health', options);
    socket.destroy();
    return true;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Plain HTTP bytes to a port: the whole answer, as text. */
async function plainHttp(port: number): Promise<string> {
  const s = netConnect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  s.end('GET /v1/sys/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  await once(s, 'close');
  return text;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function coffer(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  const merged: Record<string, string | undefined> = { ...process.env, VAULT_CACERT: undefined, COFFER_CACERT: undefined, VAULT_SKIP_VERIFY: undefined, ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), ...args], { env: merged as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/**
 * Issue 10, item 7: the `listener "tcp"` TLS settings against the gateway as a process, with certificates made by
 * openssl at test time; the CLI's TLS options; `coffer server -dev -dev-tls`.
 */
describe('TLS listeners', () => {
  let cluster: Cluster;
  let pki: TestPki;
  let tlsPort = 0;
  let mtlsPort = 0;
  let ca: Buffer;

  before(async () => {
    cluster = await Cluster.create();
    pki = makeTestPki(cluster.dir);
    ca = readFileSync(pki.caFile);
    [tlsPort, mtlsPort] = [await freePort(), await freePort()];
    // The cluster's own plain listener stays first (the harness waits on it); both TLS blocks must bind too.
    copyFileSync(pki.certFile, join(cluster.dir, 'live-cert.pem'));
    copyFileSync(pki.keyFile, join(cluster.dir, 'live-key.pem'));
    cluster.writeConfig(
      `listener "tcp" {\n  address = "127.0.0.1:${tlsPort}"\n  tls_cert_file = "${join(cluster.dir, 'live-cert.pem')}"\n  tls_key_file = "${join(cluster.dir, 'live-key.pem')}"\n` +
        `  tls_min_version = "tls12"\n  tls_cipher_suites = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"\n}\n` +
        `listener "tcp" {\n  address = "127.0.0.1:${mtlsPort}"\n  tls_cert_file = "${pki.certFile}"\n  tls_key_file = "${pki.keyFile}"\n` +
        `  tls_min_version = "tls13"\n  tls_client_ca_file = "${pki.caFile}"\n  tls_require_and_verify_client_cert = true\n}\n`,
    );
    await cluster.startAll();
    await cluster.initAndUnseal();
  });

  after(async () => {
    await cluster?.stop();
  });

  it('binds every listener block and serves Vault\'s API over TLS to a client that verifies the certificate', async () => {
    const r = await httpsGet(tlsPort, '/v1/sys/health', { ca });
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).sealed, false);
    r.socket.destroy();
    assert.equal((await cluster.fetch('/v1/sys/health')).status, 200, 'the plain listener still serves');
    assert.match(String(await handshake(tlsPort, { ca: readFileSync(pki.rogueCaFile) })), /self.signed|unable to verify|certificate/i, 'a client that trusts another CA refuses it');
  });

  it("answers plain HTTP on a TLS port with Go's 400 `Client sent an HTTP request to an HTTPS server.`", async () => {
    for (const port of [tlsPort, mtlsPort]) {
      const answer = await plainHttp(port);
      assert.match(answer, /^HTTP\/1\.[01] 400 Bad Request\r\n/);
      assert.ok(answer.endsWith('\r\n\r\nClient sent an HTTP request to an HTTPS server.\n'), JSON.stringify(answer));
    }
    assert.equal((await httpsGet(tlsPort, '/v1/sys/health', { ca })).status, 200, 'and keeps serving TLS');
  });

  it('applies tls_min_version and tls_cipher_suites', async () => {
    const r = await httpsGet(tlsPort, '/v1/sys/health', { ca, maxVersion: 'TLSv1.2' });
    assert.equal(r.socket.getCipher().standardName, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'TLS 1.2 uses the one suite configured');
    r.socket.destroy();
    assert.notEqual(await handshake(tlsPort, { ca, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), true, 'a suite not listed is refused');
    assert.equal(await handshake(tlsPort, { ca, minVersion: 'TLSv1.3' }), true, 'TLS 1.3 keeps its default suites');
    assert.notEqual(await handshake(tlsPort, { ca, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), true, 'below tls12 is refused');
    const client = { ca, cert: readFileSync(pki.clientCertFile), key: readFileSync(pki.clientKeyFile) };
    assert.notEqual(await handshake(mtlsPort, { ...client, maxVersion: 'TLSv1.2' }), true, 'tls_min_version = "tls13" refuses TLS 1.2');
  });

  it('tls_require_and_verify_client_cert refuses a client without a certificate the tls_client_ca_file signed', async () => {
    assert.notEqual(await handshake(mtlsPort, { ca }), true, 'no client certificate: refused');
    const r = await httpsGet(mtlsPort, '/v1/sys/health', { ca, cert: readFileSync(pki.clientCertFile), key: readFileSync(pki.clientKeyFile) });
    assert.equal(r.status, 200);
    r.socket.destroy();
    // A certificate the client CA did not sign (the rogue CA's own, self-signed) is refused too.
    const rogue = { cert: readFileSync(pki.rogueCaFile), key: readFileSync(join(cluster.dir, 'rogue-ca-key.pem')) };
    assert.notEqual(await handshake(mtlsPort, { ca, ...rogue }), true, 'a client certificate of another CA: refused');
  });

  it('SIGHUP reloads the certificate and key without dropping the listener or its open connections', async () => {
    const before = await httpsGet(tlsPort, '/v1/sys/health', { ca });
    const oldSerial = new X509Certificate(before.socket.getPeerX509Certificate()!.raw).serialNumber;
    const next = pki.serverCert('reloaded');
    copyFileSync(next.certFile, join(cluster.dir, 'live-cert.pem'));
    copyFileSync(next.keyFile, join(cluster.dir, 'live-key.pem'));
    const logged = () => (cluster.logOf('gateway').match(/listener certificate reloaded/g) ?? []).length;
    const reloads = logged();
    process.kill(cluster.pid('gateway')!, 'SIGHUP');
    for (let i = 0; i < 200 && logged() === reloads; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(logged() > reloads, 'the gateway says it reloaded');

    const after = await httpsGet(tlsPort, '/v1/sys/health', { ca });
    const cert = after.socket.getPeerX509Certificate()!;
    assert.match(cert.subject, /CN=reloaded/, 'a new connection gets the new certificate');
    assert.notEqual(cert.serialNumber, oldSerial);
    after.socket.destroy();
    const again = await httpsGet(tlsPort, '/v1/sys/health', { ca }, before.socket);
    assert.equal(again.status, 200, 'the connection opened before the reload still serves');
    before.socket.destroy();

    // A broken key on the next SIGHUP keeps the running certificate: the listener never goes without one.
    copyFileSync(pki.rogueCaFile, join(cluster.dir, 'live-key.pem'));
    process.kill(cluster.pid('gateway')!, 'SIGHUP');
    for (let i = 0; i < 200 && !/config reload could not be applied/.test(cluster.logOf('gateway')); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(cluster.logOf('gateway'), /config reload could not be applied/);
    const still = await httpsGet(tlsPort, '/v1/sys/health', { ca });
    assert.match(still.socket.getPeerX509Certificate()!.subject, /CN=reloaded/);
    still.socket.destroy();
  });

  it('the CLI verifies the server with VAULT_CACERT, COFFER_CACERT or -ca-cert, and skips only when told to', async () => {
    const addr = `https://127.0.0.1:${tlsPort}`;
    const ok = (r: Run, what: string) => {
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      assert.match(r.stdout, /Sealed\s+false/, what);
    };
    const unverified = await coffer(['status'], { VAULT_ADDR: addr });
    assert.notEqual(unverified.code, 0, 'no CA: refused');
    assert.match(unverified.stderr, /x509: certificate signed by unknown authority/);
    ok(await coffer(['status'], { VAULT_ADDR: addr, VAULT_CACERT: pki.caFile }), 'VAULT_CACERT');
    ok(await coffer(['status'], { VAULT_ADDR: addr, COFFER_CACERT: pki.caFile }), 'COFFER_CACERT');
    ok(await coffer(['status', `-ca-cert=${pki.caFile}`], { VAULT_ADDR: addr }), '-ca-cert');
    ok(await coffer(['status', '-tls-skip-verify'], { VAULT_ADDR: addr }), '-tls-skip-verify');
    ok(await coffer(['status'], { VAULT_ADDR: addr, VAULT_SKIP_VERIFY: 'true' }), 'VAULT_SKIP_VERIFY');
    const rogue = await coffer(['status', `-ca-cert=${pki.rogueCaFile}`], { VAULT_ADDR: addr });
    assert.notEqual(rogue.code, 0, 'the wrong CA: refused');
    const mtls = await coffer(['status', `-ca-cert=${pki.caFile}`, `-client-cert=${pki.clientCertFile}`, `-client-key=${pki.clientKeyFile}`], {
      VAULT_ADDR: `https://127.0.0.1:${mtlsPort}`,
    });
    ok(mtls, 'a client certificate for the listener that requires one');
    const plain = await coffer(['status'], { VAULT_ADDR: `http://127.0.0.1:${tlsPort}` });
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /Client sent an HTTP request to an HTTPS server\./, 'http:// to a TLS port says why, as Vault does');
  });
});

describe('coffer server -dev -dev-tls', () => {
  let dev: DevServer;
  before(async () => {
    dev = await startDevServer({ args: ['-dev-tls'] });
  });
  after(async () => {
    await dev?.stop();
  });

  it('makes a CA and a certificate at start, serves https, and prints VAULT_ADDR and VAULT_CACERT', async () => {
    const out = dev.output();
    const addr = /export VAULT_ADDR='(https:\/\/127\.0\.0\.1:\d+)'/.exec(out)?.[1];
    const caFile = /export VAULT_CACERT='([^']+)'/.exec(out)?.[1];
    assert.ok(addr, `an https VAULT_ADDR is printed:\n${out.slice(0, 2000)}`);
    assert.ok(caFile, 'VAULT_CACERT is printed');
    const port = Number(new URL(addr).port);
    const ca = readFileSync(caFile);
    assert.ok(new X509Certificate(ca).ca, 'VAULT_CACERT is a CA certificate');
    const r = await httpsGet(port, '/v1/sys/health', { ca, servername: undefined });
    assert.equal(r.status, 200, r.body);
    const leaf = r.socket.getPeerX509Certificate()!;
    assert.ok(leaf.checkIssued(new X509Certificate(ca)) && leaf.verify(new X509Certificate(ca).publicKey), 'signed by the printed CA');
    r.socket.destroy();
    assert.ok((await plainHttp(port)).endsWith('Client sent an HTTP request to an HTTPS server.\n'));

    const status = await coffer(['status'], { VAULT_ADDR: addr, VAULT_CACERT: caFile });
    assert.equal(status.code, 0, status.stderr);
    const token = await coffer(['token', 'lookup', '-format=json'], { VAULT_ADDR: addr, VAULT_CACERT: caFile, VAULT_TOKEN: dev.rootToken });
    assert.equal(token.code, 0, token.stderr);
    assert.deepEqual(JSON.parse(token.stdout).data.policies, ['root']);
  });
});
