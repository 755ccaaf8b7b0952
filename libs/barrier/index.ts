/** The cryptographic core: Shamir split of the root key, the keyring sealed under it, and the barrier over data. */
export type { Barrier } from './types.js';
export {
  KEY_BYTES,
  UNSEAL_KEY_MAX_BYTES,
  UNSEAL_KEY_MIN_BYTES,
  checkUnsealKeyLength,
  combineShares,
  generateRootKey,
  parseUnsealKey,
  splitRootKey,
  validateSealConfig,
} from './shamir.js';
export { INVALID_ROOT_KEY_MESSAGE, KeyTerm, Keyring, openKeyring, sealKeyring } from './keyring.js';
export { DECRYPT_FAILED_MESSAGE, KeyringBarrier } from './barrier.js';
export { barrierCodec, eventAad } from './codec.js';
