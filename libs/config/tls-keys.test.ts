import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from './load.js';

async function load(hcl: string) {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-config-tls-'));
  try {
    writeFileSync(join(dir, 'c.hcl'), hcl);
    return await loadConfig(join(dir, 'c.hcl'), { env: {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const listener = (extra: string) => `listener "tcp" {\n  address = "127.0.0.1:8200"\n  tls_cert_file = "/c.pem"\n  tls_key_file = "/k.pem"\n${extra}\n}\n`;

test('listener TLS keys: versions, Go cipher names as OpenSSL names, client certificates', async () => {
  const config = await load(
    listener(
      '  tls_min_version = "tls13"\n  tls_cipher_suites = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384"\n' +
        '  tls_client_ca_file = "/ca.pem"\n  tls_require_and_verify_client_cert = true',
    ),
  );
  const l = config.listeners[0];
  assert.equal(l.tlsMinVersion, 'tls13');
  assert.equal(l.tlsMaxVersion, undefined, 'unset: the default applies where the listener is built');
  assert.deepEqual(l.tlsCipherSuites, ['ECDHE-RSA-AES128-GCM-SHA256', 'TLS_AES_256_GCM_SHA384']);
  assert.equal(l.tlsClientCaFile, '/ca.pem');
  assert.equal(l.tlsRequireAndVerifyClientCert, true);
});

test('listener TLS keys: bad values name the key', async () => {
  await assert.rejects(load(listener('  tls_min_version = "ssl3"')), /tls_min_version.*must be one of tls10, tls11, tls12, tls13/s);
  await assert.rejects(load(listener('  tls_cipher_suites = "TLS_FANCY_SUITE"')), /tls_cipher_suites.*unknown cipher suite "TLS_FANCY_SUITE"/s);
  await assert.rejects(load(listener('  tls_min_version = "tls13"\n  tls_max_version = "tls12"')), /tls_max_version.*must not be lower than tls_min_version/s);
});
