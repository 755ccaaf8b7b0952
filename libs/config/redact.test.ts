import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactConfig, type CofferConfig } from './index.js';

const CONFIG: CofferConfig = {
  pluginDirectory: '/opt/plugins',
  logLevel: 'info',
  defaultLeaseTtl: 60,
  maxLeaseTtl: 60,
  services: ['gateway'],
  storage: { type: 'postgresql', connectionUrl: 'postgres://coffer:hunter2@db:5432/coffer?sslmode=require' },
  bus: {
    type: 'nats',
    servers: ['nats://svc:n4ts-pw@nats-1:4222', 'nats://t0ken-in-url@nats-2:4222', 'nats-3:4222'],
    user: 'svc',
    password: 'n4ts-pw',
    token: 't0ken',
  },
  listeners: [{ type: 'tcp', address: '0.0.0.0:8200', tlsDisable: true, maxRequestSize: 1024 }],
  sources: ['/etc/coffer/coffer.hcl'],
};

test('redactConfig hides every secret and keeps what helps an operator', () => {
  const redacted = redactConfig(CONFIG);

  assert.equal(redacted.storage?.connectionUrl, 'postgres://coffer:redacted@db:5432/coffer?sslmode=require');
  assert.deepEqual(redacted.bus?.servers, ['nats://svc:redacted@nats-1:4222', 'nats://redacted@nats-2:4222', 'nats-3:4222']);
  assert.equal(redacted.bus?.password, '[redacted]');
  assert.equal(redacted.bus?.token, '[redacted]');
  assert.equal(redacted.bus?.user, 'svc');
  assert.deepEqual(redacted.listeners, CONFIG.listeners);
  const text = JSON.stringify(redacted);
  for (const secret of ['hunter2', 'n4ts-pw', 't0ken']) assert.ok(!text.includes(secret), `${text} leaks ${secret}`);
});

test('redactConfig leaves the running config untouched', () => {
  const before = structuredClone(CONFIG);
  redactConfig(CONFIG);
  assert.deepEqual(CONFIG, before);
});

test('a password given as a query parameter is hidden too', () => {
  const config = { ...CONFIG, storage: { type: 'postgresql' as const, connectionUrl: 'postgresql://db/coffer?user=c&password=hunter2' } };
  assert.equal(redactConfig(config).storage?.connectionUrl, 'postgresql://db/coffer?user=c&password=redacted');
});
