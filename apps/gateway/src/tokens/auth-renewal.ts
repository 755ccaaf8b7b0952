import type { Bus } from '#bus';
import { GATEWAY_CALL_MARGIN_MS } from '#config';
import { CofferError, runnerSubjects, type AuthRenewAnswer, type AuthRenewCall } from '#contracts';
import type { AuthRenewal, TokenEntry } from './token-store.js';

/** Vault's prefix for every error of a token renewal's backend callback (expiration.renewAuthEntry). */
export const RENEW_FAILED_PREFIX = 'failed to renew entry: ';

/**
 * The token store's `renewAuth`: asks the auth plugin whose login issued the token (through a plugin-runner) before
 * the token is renewed, as Vault's expiration manager asks the auth backend's AuthRenew. The plugin's refusal is the
 * client's 400 `failed to renew entry: <its message>`; a plugin without the callback renews as before (undefined).
 * When nobody can ask the plugin (no runner answers, the cluster sealed), the token is not renewed either: a
 * renewal nobody could judge is not granted.
 */
export function authRenewal(bus: Bus, timing: { pluginCallTimeoutMs: number; busLivenessMs: number }) {
  return async (entry: TokenEntry, increment: number): Promise<AuthRenewal | undefined> => {
    const login = entry.login;
    if (!login) return undefined;
    const call: AuthRenewCall = {
      mount: login.mount,
      auth: {
        path: login.path,
        policies: login.policies,
        metadata: entry.meta ?? {},
        internal: login.internal ?? {},
        displayName: login.displayName,
        issueTime: entry.issueTime,
        ttl: entry.ttl,
      },
      increment,
    };
    let answer: AuthRenewAnswer;
    try {
      answer = await bus.request<AuthRenewAnswer>(runnerSubjects.renewAuth, call, {
        timeoutMs: timing.pluginCallTimeoutMs + GATEWAY_CALL_MARGIN_MS,
        livenessMs: timing.busLivenessMs,
      });
    } catch (err) {
      if (err instanceof CofferError && (err.code === 'unavailable' || err.code === 'sealed')) throw err;
      const message = err instanceof CofferError ? err.message : 'internal error';
      throw new CofferError('invalid-request', RENEW_FAILED_PREFIX + message);
    }
    if (!answer?.implemented) return undefined;
    return { ttl: answer.ttl, maxTtl: answer.maxTtl, warnings: answer.warnings };
  };
}
