import { CofferError } from '../contracts/errors.js';

/**
 * A config that cannot be used. The message starts with where the problem is (a file, a directory, an environment
 * variable) and names the key when one key is at fault, so an operator can fix it without reading code. It never
 * carries the value of a secret key.
 */
export class ConfigError extends CofferError {
  constructor(
    /** The file, directory or `$VARIABLE` at fault. */
    readonly source: string,
    /** The key as written in the config (`listener.tcp.tls_cert_file`), when one key is at fault. */
    readonly key: string | undefined,
    problem: string,
  ) {
    super('invalid-request', `${source}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/** A value is wrong; thrown by the value kinds, which do not know where the value came from. */
export class ValueProblem extends Error {}
