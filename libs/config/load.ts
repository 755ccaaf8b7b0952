import { assembleConfig, type Environment } from './assemble.js';
import { readFragment } from './fragment.js';
import { readConfigFiles } from './read.js';
import type { CofferConfig } from './types.js';

export interface LoadOptions {
  /**
   * Where COFFER_* / VAULT_* overrides are read (api_addr, log_level, the storage connection_url); process.env by
   * default. Pass `{}` to read the files alone.
   */
  env?: Environment;
}

/**
 * Reads the config the server runs with: each path is a file or a directory of `*.hcl` / `*.json` files, merged in
 * the order given (a directory's files in name order). Throws a ConfigError naming the file and key at fault.
 */
export async function loadConfig(paths: string | readonly string[], options: LoadOptions = {}): Promise<CofferConfig> {
  const files = await readConfigFiles(typeof paths === 'string' ? [paths] : paths);
  return assembleConfig(files.map(readFragment), options.env ?? process.env);
}
