export * from './messages.js';
export * from './plugin-side.js';
export * from './host-side.js';
export * from './schemas.js';
export { validate, isStrictBase64, type JsonSchema, type JsonType } from './validate.js';
export { checkPluginEnv, envName, envNames, REFUSED_PLUGIN_ENV } from './plugin-env.js';
export { checker, checkHello, hostToPluginChecks, methodChecker, type Check } from './compiled.js';
