/**
 * `coffer server -dev -dev-tls`, as Vault's: a throwaway CA and a server certificate signed by it, made at start
 * with node:crypto (no openssl binary needed), written to a private directory, so a CLI given the CA verifies the
 * dev server instead of skipping verification. Node has no certificate builder, so the few DER structures an X.509
 * v3 certificate needs are written here; the keys and signatures are node:crypto's (ECDSA P-256 with SHA-256).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DevTlsFiles {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

// ---- DER ----

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, inner: Buffer) => tlv(0xa0 + n, inner);
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer, unused = 0) => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));

function integer(bytes: Buffer): Buffer {
  let b = bytes;
  while (b.length > 1 && b[0] === 0 && b[1]! < 0x80) b = b.subarray(1);
  return tlv(0x02, b[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift((v & 0x7f) | (chunk.length ? 0x80 : 0));
      v >>>= 7;
    } while (v > 0);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const name = (cn: string) => seq(set(seq(oid('2.5.4.3'), utf8(cn))));
const extension = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));

/** The header length and content length of the DER element at `at`. */
function header(der: Buffer, at: number): { head: number; length: number } {
  const first = der[at + 1]!;
  if (first < 0x80) return { head: 2, length: first };
  let length = 0;
  for (let i = 0; i < (first & 0x7f); i++) length = (length << 8) | der[at + 2 + i]!;
  return { head: 2 + (first & 0x7f), length };
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2, method 1): the key identifier. */
function keyId(spki: Buffer): Buffer {
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
  const outer = header(spki, 0);
  const algorithm = header(spki, outer.head);
  const at = outer.head + algorithm.head + algorithm.length;
  const key = header(spki, at);
  // Past the BIT STRING's unused-bits byte.
  return createHash('sha1').update(spki.subarray(at + key.head + 1, at + key.head + key.length)).digest();
}

interface CertSpec {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signingKey: KeyObject;
  issuerKeyId: Buffer;
  days: number;
  ca: boolean;
  /** DNS names and IP addresses, for a server certificate. */
  altNames?: string[];
}

function certificate(spec: CertSpec): string {
  const spki = spec.publicKey.export({ type: 'spki', format: 'der' });
  const now = Date.now();
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const extensions = [
    extension('2.5.29.19', true, spec.ca ? seq(bool(true)) : seq()),
    // keyUsage: keyCertSign + cRLSign for the CA (bits 5, 6), digitalSignature for the server (bit 0).
    extension('2.5.29.15', true, spec.ca ? bits(Buffer.from([0x06]), 1) : bits(Buffer.from([0x80]), 7)),
    extension('2.5.29.14', false, octets(keyId(spki))),
    extension('2.5.29.35', false, seq(tlv(0x80, spec.issuerKeyId))),
  ];
  if (!spec.ca) {
    extensions.push(extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))));
    const names = (spec.altNames ?? []).map((n) => (isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii'))));
    extensions.push(extension('2.5.29.17', false, seq(...names)));
  }
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    ECDSA_SHA256,
    name(spec.issuer),
    seq(time(new Date(now - 60_000)), time(new Date(now + spec.days * 86_400_000))),
    name(spec.subject),
    spki,
    explicit(3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, { key: spec.signingKey, dsaEncoding: 'der' });
  const der = seq(tbs, ECDSA_SHA256, bits(signature));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head, tail = ''] = ip.split('::');
  const groups = (s: string) => (s ? s.split(':') : []);
  const h = groups(head!);
  const t = groups(tail);
  const all = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return Buffer.concat(all.map((g) => Buffer.from([parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff])));
}

/**
 * A CA and a server certificate for `host` (plus localhost, 127.0.0.1 and ::1), valid for a year, written to `dir`
 * (a fresh private temporary directory when absent) as Vault names them: vault-ca.pem, vault-cert.pem, vault-key.pem.
 */
export function makeDevTls(host: string, dir?: string): DevTlsFiles {
  const target = dir ?? mkdtempSync(join(tmpdir(), 'coffer-tls'));
  mkdirSync(target, { recursive: true, mode: 0o700 });
  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const server = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caSpki = ca.publicKey.export({ type: 'spki', format: 'der' });
  const caId = keyId(caSpki);
  const caPem = certificate({ subject: 'Coffer dev CA', issuer: 'Coffer dev CA', publicKey: ca.publicKey, signingKey: ca.privateKey, issuerKeyId: caId, days: 365, ca: true });
  const names = [...new Set([host, 'localhost', '127.0.0.1', '::1'].filter((n) => n && n !== '0.0.0.0' && n !== '::'))];
  const certPem = certificate({ subject: 'localhost', issuer: 'Coffer dev CA', publicKey: server.publicKey, signingKey: ca.privateKey, issuerKeyId: caId, days: 365, ca: false, altNames: names });
  const files: DevTlsFiles = {
    dir: target,
    caFile: join(target, 'vault-ca.pem'),
    certFile: join(target, 'vault-cert.pem'),
    keyFile: join(target, 'vault-key.pem'),
  };
  writeFileSync(files.caFile, caPem, { mode: 0o644 });
  writeFileSync(files.certFile, certPem, { mode: 0o644 });
  writeFileSync(files.keyFile, server.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  return files;
}
