/**
 * The protocol's validators as used on the wire: each schema compiled once, at build time, by
 * scripts/compile-validators.mjs (ajv standalone code, validators.generated.ts), with the interpreter
 * (validate.ts) kept to word the problem.
 *
 * A compiled function says only valid or not. When it says valid, the message passes at compiled speed (measured
 * by bench/validators.ts; see docs/performance.md). When it says not, the interpreter checks again and its answer is
 * the result: the same first problem in the same words as before, and the interpreter's verdict where the two
 * differ (the compiled code is never more lenient, see the script; it is stricter only about properties set to
 * undefined in objects built in code, which the interpreter ignores as JSON would drop them).
 *
 * This module holds what both sides use (hello and the host → plugin schemas); the host's own checks (envelopes,
 * plugin → host params) are in host-side.ts, so a plugin's bundle carries only its side's functions.
 */
import type { HostToPlugin } from './messages.js';
import { helloSchema, hostToPluginSchemas } from './schemas.js';
import * as generated from './validators.generated.js';
import { validate, type JsonSchema } from './validate.js';

type Compiled = (value: unknown) => boolean;

/** A checker for one schema: null when `value` conforms, else the interpreter's message ("at: problem"). */
export type Check = (value: unknown, at?: string) => string | null;

export function checker(schema: JsonSchema, compiled: Compiled): Check {
  return (value, at) => (compiled(value) ? null : validate(schema, value, at));
}

export const checkHello: Check = /* @__PURE__ */ checker(helloSchema, generated.hello);

/** Host → plugin methods: params (checked by the plugin) and results (checked by the host). */
export const hostToPluginChecks: Record<keyof HostToPlugin, { params: Check; result: Check }> = {
  setup: { params: /* @__PURE__ */ checker(hostToPluginSchemas.setup.params, generated.setup_params), result: /* @__PURE__ */ checker(hostToPluginSchemas.setup.result, generated.setup_result) },
  handle: { params: /* @__PURE__ */ checker(hostToPluginSchemas.handle.params, generated.handle_params), result: /* @__PURE__ */ checker(hostToPluginSchemas.handle.result, generated.handle_result) },
  exists: { params: /* @__PURE__ */ checker(hostToPluginSchemas.exists.params, generated.exists_params), result: /* @__PURE__ */ checker(hostToPluginSchemas.exists.result, generated.exists_result) },
  specialPaths: {
    params: /* @__PURE__ */ checker(hostToPluginSchemas.specialPaths.params, generated.specialPaths_params),
    result: /* @__PURE__ */ checker(hostToPluginSchemas.specialPaths.result, generated.specialPaths_result),
  },
  invalidate: {
    params: /* @__PURE__ */ checker(hostToPluginSchemas.invalidate.params, generated.invalidate_params),
    result: /* @__PURE__ */ checker(hostToPluginSchemas.invalidate.result, generated.invalidate_result),
  },
  cleanup: { params: /* @__PURE__ */ checker(hostToPluginSchemas.cleanup.params, generated.cleanup_params), result: /* @__PURE__ */ checker(hostToPluginSchemas.cleanup.result, generated.cleanup_result) },
  shutdown: { params: /* @__PURE__ */ checker(hostToPluginSchemas.shutdown.params, generated.shutdown_params), result: /* @__PURE__ */ checker(hostToPluginSchemas.shutdown.result, generated.shutdown_result) },
  help: { params: /* @__PURE__ */ checker(hostToPluginSchemas.help.params, generated.help_params), result: /* @__PURE__ */ checker(hostToPluginSchemas.help.result, generated.help_result) },
  renew: { params: /* @__PURE__ */ checker(hostToPluginSchemas.renew.params, generated.renew_params), result: /* @__PURE__ */ checker(hostToPluginSchemas.renew.result, generated.renew_result) },
  revoke: { params: /* @__PURE__ */ checker(hostToPluginSchemas.revoke.params, generated.revoke_params), result: /* @__PURE__ */ checker(hostToPluginSchemas.revoke.result, generated.revoke_result) },
  periodic: { params: /* @__PURE__ */ checker(hostToPluginSchemas.periodic.params, generated.periodic_params), result: /* @__PURE__ */ checker(hostToPluginSchemas.periodic.result, generated.periodic_result) },
  renewAuth: {
    params: /* @__PURE__ */ checker(hostToPluginSchemas.renewAuth.params, generated.renewAuth_params),
    result: /* @__PURE__ */ checker(hostToPluginSchemas.renewAuth.result, generated.renewAuth_result),
  },
};
