/**
 * The gateway's side of a token renewal's plugin call: what goes to the runner, and how its answers become the
 * client's. The runner is a small bus stand-in; test/approle-cubbyhole.e2e.test.ts runs the real chain.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Bus } from '#bus';
import { ResponderLost } from '#bus';
import { CofferError, runnerSubjects, type AuthRenewCall } from '#contracts';
import { authRenewal } from './auth-renewal.js';
import type { TokenEntry } from './token-store.js';

const entry = {
  accessor: 'acc',
  policies: ['default', 'dev'],
  path: 'auth/userpass/login/alice',
  meta: { username: 'alice' },
  displayName: 'userpass-alice',
  issueTime: '2026-11-29T12:00:00.000Z',
  ttl: 300,
  login: { mount: '4b0c7a52-0000-4000-8000-000000000001', path: 'login/alice', policies: ['dev'], displayName: 'alice', internal: { id: 7 } },
} as unknown as TokenEntry;

function busAnswering(answer: (call: AuthRenewCall) => unknown) {
  const sent: { subject: string; call: AuthRenewCall }[] = [];
  const bus = {
    async request<T>(subject: string, data: unknown): Promise<T> {
      sent.push({ subject, call: data as AuthRenewCall });
      return answer(data as AuthRenewCall) as T;
    },
  } as unknown as Bus;
  return { bus, sent };
}

const timing = { pluginCallTimeoutMs: 1000, busLivenessMs: 200 };

test('the login goes to the runner as the protocol has it; an answer gives its TTLs, "not implemented" gives none', async () => {
  const granted = busAnswering(() => ({ implemented: true, ttl: 60, maxTtl: 600, warnings: ['w'] }));
  assert.deepEqual(await authRenewal(granted.bus, timing)(entry, 30), { ttl: 60, maxTtl: 600, warnings: ['w'] });
  assert.equal(granted.sent[0]!.subject, runnerSubjects.renewAuth);
  assert.deepEqual(granted.sent[0]!.call, {
    mount: '4b0c7a52-0000-4000-8000-000000000001',
    auth: { path: 'login/alice', policies: ['dev'], metadata: { username: 'alice' }, internal: { id: 7 }, displayName: 'alice', issueTime: entry.issueTime, ttl: 300 },
    increment: 30,
  });
  const plain = busAnswering(() => ({ implemented: false }));
  assert.equal(await authRenewal(plain.bus, timing)(entry, 0), undefined);
  const notLogin = busAnswering(() => assert.fail('a token no login issued asks nobody'));
  assert.equal(await authRenewal(notLogin.bus, timing)({ ...entry, login: undefined }, 0), undefined);
});

test("a refusal is Vault's 400 `failed to renew entry: ...`; no runner answering, or sealed, stays as it is", async () => {
  const refusing = busAnswering(() => {
    throw new CofferError('invalid-request', 'policies have changed, not renewing');
  });
  await assert.rejects(authRenewal(refusing.bus, timing)(entry, 0), (err) => {
    assert.ok(err instanceof CofferError);
    assert.deepEqual([err.code, err.message], ['invalid-request', 'failed to renew entry: policies have changed, not renewing']);
    return true;
  });
  const crashed = busAnswering(() => {
    throw new CofferError('plugin-failed', 'plugin userpass exited unexpectedly (code 1)');
  });
  await assert.rejects(authRenewal(crashed.bus, timing)(entry, 0), /^CofferError: failed to renew entry: plugin userpass exited unexpectedly \(code 1\)$/);
  const lost = busAnswering(() => {
    throw new ResponderLost('no responders', false, true);
  });
  await assert.rejects(authRenewal(lost.bus, timing)(entry, 0), (err) => err instanceof CofferError && err.code === 'unavailable');
});
