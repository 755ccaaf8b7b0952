/**
 * Which catalog `env` entries a plugin may be given. The SHA-256 pins the bytes of the plugin file, but an
 * interpreter or the dynamic loader can be told by its environment to load other code first (NODE_OPTIONS=--import,
 * LD_PRELOAD, PYTHONSTARTUP, ...) or to find a different interpreter (PATH): such an entry would run code nobody
 * pinned. They are refused here, and this one function is used both when an entry is registered (apps/catalog) and
 * when any plugin process's environment is built (pluginEnvironment), so an entry that got into the stream by another
 * way (an older Coffer) is still never launched.
 */
import { CofferError } from '../contracts/errors.js';

/** Variables that make an interpreter, a shell or the dynamic loader run or find code other than the pinned file. */
export const REFUSED_PLUGIN_ENV: readonly string[] = [
  'PATH',
  'NODE_OPTIONS',
  'NODE_PATH',
  'NODE_REPL_EXTERNAL_MODULE',
  'LD_PRELOAD',
  'LD_LIBRARY_PATH',
  'LD_AUDIT',
  'GCONV_PATH',
  'PYTHONPATH',
  'PYTHONSTARTUP',
  'PYTHONHOME',
  'PYTHONUSERBASE',
  'PYTHONEXECUTABLE',
  'PERL5OPT',
  'PERL5LIB',
  'PERLLIB',
  'PERL5DB',
  'RUBYOPT',
  'RUBYLIB',
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'PS4',
  'IFS',
  'JAVA_TOOL_OPTIONS',
  'JDK_JAVA_OPTIONS',
  '_JAVA_OPTIONS',
];

/** Whole families: every dynamic-loader variable (glibc `LD_*`, macOS `DYLD_*`) and bash's exported functions. */
const REFUSED_PREFIXES = ['LD_', 'DYLD_', 'BASH_FUNC_'];

/** The variable name of a `KEY=VALUE` entry (the whole entry when it has no `=`). */
export function envName(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

/**
 * The names of a catalog entry's env, for showing: values may be credentials, names never are. Kept in the order
 * registered, without duplicates.
 */
export function envNames(entries: readonly string[] = []): string[] {
  return [...new Set(entries.map(envName))];
}

/**
 * Throws a 400 naming the first entry that is malformed or could make the plugin run unpinned code. Compared
 * without case: Linux is case-sensitive, but refusing `node_options` costs nothing and other systems are not.
 */
export function checkPluginEnv(entries: readonly string[] = []): void {
  for (const entry of entries) {
    if (typeof entry !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*=/.test(entry)) {
      throw new CofferError('invalid-request', `invalid env entry "${String(entry).slice(0, 64)}": must be KEY=VALUE`);
    }
    const name = envName(entry);
    const upper = name.toUpperCase();
    if (REFUSED_PLUGIN_ENV.includes(upper) || REFUSED_PREFIXES.some((p) => upper.startsWith(p))) {
      throw new CofferError(
        'invalid-request',
        `env entry "${name}" is not allowed: it can make an interpreter or the dynamic loader run code the SHA-256 does not cover`,
      );
    }
  }
}
