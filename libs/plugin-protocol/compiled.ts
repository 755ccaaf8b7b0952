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
 * The checkers here are the host's (hello, host → plugin results); its envelope and plugin → host checks are in
 * host-side.ts. The plugin side (plugin-side.ts) builds its own with methodChecker, compiled for handle and exists
 * only, so a plugin's bundle carries those functions and no others (checkers are built from identifiers and
 * literals, see methodChecker, so what a bundle never calls is dropped).
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

/**
 * The checker of one method's params or result. Takes the table and names rather than the schema itself: its call
 * sites then hold identifiers and string literals only, which a bundler knows to be free of side effects, so a
 * bundle that never uses a checker drops it with the compiled function it holds (a property read might run a getter,
 * and keeps everything it touches).
 */
export function methodChecker<T extends Record<string, { params: JsonSchema; result: JsonSchema }>>(table: T, method: keyof T, side: 'params' | 'result', compiled: Compiled): Check {
  return (value, at) => (compiled(value) ? null : validate(table[method]![side], value, at));
}

export const checkHello: Check = /* @__PURE__ */ checker(helloSchema, generated.hello);

/** Host → plugin methods: params (checked by the plugin) and results (checked by the host). */
export const hostToPluginChecks: Record<keyof HostToPlugin, { params: Check; result: Check }> = {
  setup: { params: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'setup', 'params', generated.setup_params), result: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'setup', 'result', generated.setup_result) },
  handle: { params: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'handle', 'params', generated.handle_params), result: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'handle', 'result', generated.handle_result) },
  exists: { params: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'exists', 'params', generated.exists_params), result: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'exists', 'result', generated.exists_result) },
  specialPaths: {
    params: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'specialPaths', 'params', generated.specialPaths_params),
    result: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'specialPaths', 'result', generated.specialPaths_result),
  },
  invalidate: {
    params: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'invalidate', 'params', generated.invalidate_params),
    result: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'invalidate', 'result', generated.invalidate_result),
  },
  cleanup: { params: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'cleanup', 'params', generated.cleanup_params), result: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'cleanup', 'result', generated.cleanup_result) },
  shutdown: { params: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'shutdown', 'params', generated.shutdown_params), result: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'shutdown', 'result', generated.shutdown_result) },
  help: { params: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'help', 'params', generated.help_params), result: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'help', 'result', generated.help_result) },
  renew: { params: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'renew', 'params', generated.renew_params), result: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'renew', 'result', generated.renew_result) },
  revoke: { params: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'revoke', 'params', generated.revoke_params), result: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'revoke', 'result', generated.revoke_result) },
  periodic: { params: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'periodic', 'params', generated.periodic_params), result: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'periodic', 'result', generated.periodic_result) },
  renewAuth: {
    params: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'renewAuth', 'params', generated.renewAuth_params),
    result: /* @__PURE__ */ methodChecker(hostToPluginSchemas, 'renewAuth', 'result', generated.renewAuth_result),
  },
};
