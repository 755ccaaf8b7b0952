export { Acl, type AclRequest, type AclResult } from './acl.js';
export {
  assertPolicyDeletable,
  assertPolicyWritable,
  DEFAULT_POLICY_NAME,
  DEFAULT_POLICY_TEXT,
  normalizePolicyName,
  ROOT_POLICY,
  ROOT_POLICY_NAME,
  RESPONSE_WRAPPING_POLICY_NAME,
  RESPONSE_WRAPPING_POLICY_TEXT,
} from './builtin.js';
export { type AclOperation, CAPABILITIES, type Capability } from './capabilities.js';
export { parsePolicy, type PathRule, type Policy } from './policy.js';
