export {
  Backend,
  defineBackend,
  definePath,
  defineRoute,
  genericNameRegex,
  listResponse,
  matchesSpecialPath,
  OPERATIONS,
  UNSUPPORTED_OPERATION,
  UNSUPPORTED_PATH,
  type RequestContext,
  type Route,
} from './backend.js';
export { cidrsWithin, invalidCidrs, ipInCidrs, parseCidr, type Cidr } from './cidr.js';
export {
  emptyTokenParams,
  parsePolicies,
  parseTokenFields,
  TOKEN_FIELDS,
  tokenAuth,
  tokenData,
  upgradeField,
  type TokenParams,
} from './token-fields.js';
export { FIELD_TYPES, type FieldSpec, type FieldType, type FieldTypeValues } from './fields.js';
export { createHarness, HARNESS_TOKEN_ACCESSOR, MemoryStorage } from './harness.js';
export type { Harness, HarnessOptions, HarnessRequestOptions, HarnessResult } from './harness.js';
export { hostStorage, serve, toPluginImplementation } from './implementation.js';
export type * from './types.js';
// What handlers throw and return, so a plugin imports only the SDK.
export { PluginError } from '#plugin-protocol';
export type { AuthRenewInfo, LeaseInfo, MountInfo, Operation, PluginAuth, PluginErrorKind, PluginResponse, PluginSecret } from '#plugin-protocol';
