import { CofferError, type CatalogRegisterRequest, type PluginRegisteredV1 } from '#contracts';
import { checkPluginEnv } from '#plugin-protocol';

/** Vault's semver grammar (hashicorp/go-version as the catalog uses it), with or without the leading `v`. */
const SEMVER = /^v?(0|[1-9]\d*)(\.(0|[1-9]\d*)){0,2}(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A catalog entry as registered, before the probe has told its type. */
export type ValidRegistration = Omit<PluginRegisteredV1, 'v' | 'type'>;

const invalid = (message: string) => new CofferError('invalid-request', message);

/** Checks a registration with Vault's texts and in Vault's order; the command's place on disk is checked later. */
export function validateRegistration(req: CatalogRegisterRequest): ValidRegistration {
  const name = String(req.name ?? '');
  if (!NAME.test(name)) throw invalid(`invalid plugin name "${name.slice(0, 64)}"`);
  const sha = typeof req.sha256 === 'string' ? req.sha256.trim() : '';
  if (sha === '') throw invalid('missing SHA-256 value');
  if (!/^[0-9a-fA-F]{64}$/.test(sha)) throw invalid('Could not decode SHA-256 value from Hex');
  const commandLine = typeof req.command === 'string' ? req.command.trim() : '';
  if (commandLine === '') throw invalid('missing command value');
  const words = commandLine.split(/\s+/);
  const args = stringList(req.args, 'args');
  if (words.length > 1 && args.length > 0) throw invalid('must not specify args in command and args field');
  const env = stringList(req.env, 'env');
  // The same check every launch applies (pluginEnvironment): an entry refused here could never run anyway.
  checkPluginEnv(env);
  return { name, version: canonicalVersion(req.version), sha256: sha.toLowerCase(), command: words[0], args: words.length > 1 ? words.slice(1) : args, env };
}

/** `1.2.3` → `v1.2.3`; "" stays "" (an unversioned entry). */
export function canonicalVersion(raw: unknown): string {
  if (raw === undefined || raw === null || raw === '') return '';
  const v = String(raw).trim();
  if (!SEMVER.test(v)) throw invalid(`version "${v.slice(0, 64)}" is not a valid semantic version: Malformed version: ${v.slice(0, 64)}`);
  const canonical = v.startsWith('v') ? v : `v${v}`;
  if (/\+builtin(\.|$)/.test(canonical)) {
    throw invalid(`version "${canonical}" is not allowed because 'builtin' is a reserved metadata identifier`);
  }
  return canonical;
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null || value === '') return [];
  if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw invalid(`${field} must be a list of strings`);
}
