/**
 * What KV version 2 keeps per secret, and the pure rules over it (versions, CAS, limits, deletion). One storage
 * record per secret (`meta/<path>`) holds its metadata and its versions' data, so every change of a secret is one
 * compare-and-swap of that record: of two writers that read version N, exactly one commits version N+1.
 */
import { PluginError } from '#plugin-sdk';

export interface VersionEntry {
  created_time: string;
  deletion_time: string;
  destroyed: boolean;
  /** Absent once destroyed. */
  data?: Record<string, unknown>;
}

export interface SecretRecord {
  created_time: string;
  updated_time: string;
  current_version: number;
  oldest_version: number;
  /** 0 = the mount's config (then 10). */
  max_versions: number;
  cas_required: boolean;
  /** Seconds; 0 = none. */
  delete_version_after: number;
  custom_metadata: Record<string, string> | null;
  versions: Record<string, VersionEntry>;
}

export interface KvConfig {
  max_versions: number;
  cas_required: boolean;
  /** Seconds; 0 = none, negative = disabled everywhere. */
  delete_version_after: number;
}

export const DEFAULT_CONFIG: KvConfig = { max_versions: 0, cas_required: false, delete_version_after: 0 };
export const DEFAULT_MAX_VERSIONS = 10;

/** Vault's timestamps: RFC 3339 in UTC with the fraction's trailing zeros trimmed. */
export function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z');
}

/** Go's time.Duration String() for whole seconds: 0s, 45s, 2m30s, 1h0m0s. */
export function goDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  const sign = seconds < 0 ? '-' : '';
  let s = Math.abs(seconds);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}

export function emptyRecord(now: number): SecretRecord {
  const t = timestamp(now);
  return {
    created_time: t,
    updated_time: t,
    current_version: 0,
    oldest_version: 0,
    max_versions: 0,
    cas_required: false,
    delete_version_after: 0,
    custom_metadata: null,
    versions: {},
  };
}

export function effectiveMaxVersions(config: KvConfig, record: SecretRecord): number {
  const m = Math.max(config.max_versions, record.max_versions);
  return m > 0 ? m : DEFAULT_MAX_VERSIONS;
}

/** The smaller non-zero of the mount's and the secret's; a negative config disables it everywhere. */
export function effectiveDeleteAfter(config: KvConfig, record: SecretRecord): number {
  if (config.delete_version_after < 0) return 0;
  const values = [config.delete_version_after, record.delete_version_after].filter((v) => v > 0);
  return values.length ? Math.min(...values) : 0;
}

/** A version reads as deleted once its deletion time has passed. */
export function isDeleted(v: VersionEntry, now: number): boolean {
  return v.deletion_time !== '' && Date.parse(v.deletion_time) <= now;
}

export function versionMetadata(record: SecretRecord, version: number): Record<string, unknown> {
  const v = record.versions[String(version)]!;
  return {
    created_time: v.created_time,
    custom_metadata: record.custom_metadata,
    deletion_time: v.deletion_time,
    destroyed: v.destroyed,
    version,
  };
}

/**
 * Vault's check-and-set rule for a write or patch: `cas` given must equal the current version (0: the secret must
 * not exist yet); absent while the mount or the secret requires it is refused.
 */
export function checkCas(config: KvConfig, record: SecretRecord | null, options: Record<string, unknown>): void {
  const required = config.cas_required || record?.cas_required === true;
  if (!('cas' in options) || options.cas === null || options.cas === undefined) {
    if (required) throw new PluginError('invalid-request', 'check-and-set parameter required for this call');
    return;
  }
  const raw = options.cas;
  const cas = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isInteger(cas)) throw new PluginError('invalid-request', 'error parsing check-and-set parameter');
  if (cas !== (record?.current_version ?? 0)) throw new PluginError('invalid-request', 'check-and-set parameter did not match the current version');
}

/** Adds the next version and purges the oldest beyond the limit: the record to store, and the version written. */
export function addVersion(config: KvConfig, existing: SecretRecord | null, data: Record<string, unknown>, now: number): { record: SecretRecord; version: number } {
  const record: SecretRecord = structuredClone(existing ?? emptyRecord(now));
  const version = record.current_version + 1;
  const dva = effectiveDeleteAfter(config, record);
  record.versions[String(version)] = {
    created_time: timestamp(now),
    deletion_time: dva > 0 ? timestamp(now + dva * 1000) : '',
    destroyed: false,
    data,
  };
  record.current_version = version;
  record.updated_time = timestamp(now);
  if (record.oldest_version === 0) record.oldest_version = 1;
  purge(record, effectiveMaxVersions(config, record));
  return { record, version };
}

/** Drops the versions older than the newest `max`. */
export function purge(record: SecretRecord, max: number): void {
  const cutoff = record.current_version - max;
  for (const key of Object.keys(record.versions)) if (Number(key) <= cutoff) delete record.versions[key];
  if (cutoff >= record.oldest_version) record.oldest_version = cutoff + 1;
}

/** Vault's `versions` parameter: a list of integers, or a comma-separated string of them. */
export function parseVersions(raw: unknown): number[] {
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : raw === undefined || raw === null ? [] : [raw];
  const out: number[] = [];
  for (const item of items) {
    const text = String(item).trim();
    if (text === '') continue;
    const n = Number(text);
    if (!Number.isInteger(n)) throw new PluginError('invalid-request', `Field validation failed: error converting input ${text} for field "versions"`);
    out.push(n);
  }
  return out;
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const base: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete base[k];
    else base[k] = mergePatch(base[k], v);
  }
  return base;
}

/** Vault's subkeys: the structure with every leaf (and empty map) as null, maps deeper than `depth` cut to null. */
export function subkeys(data: Record<string, unknown>, depth: number, level = 1): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    const isMap = v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0;
    out[k] = isMap && (depth === 0 || level < depth) ? subkeys(v as Record<string, unknown>, depth, level + 1) : null;
  }
  return out;
}

/** Vault's custom_metadata limits: at most 64 keys, keys 1–128 bytes, values 1–512 bytes, printable. */
export function checkCustomMetadata(raw: unknown): Record<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PluginError('invalid-request', 'custom_metadata validation failed: custom_metadata must be a map of strings');
  }
  const entries = Object.entries(raw as Record<string, unknown>);
  const problems: string[] = [];
  if (entries.length > 64) problems.push(`payload must contain at most 64 keys, provided: ${entries.length}`);
  for (const [k, v] of entries) {
    const value = typeof v === 'string' ? v : String(v);
    if (Buffer.byteLength(k) < 1 || Buffer.byteLength(k) > 128) problems.push(`length of key "${k}" is ${Buffer.byteLength(k)} but must be 0 < len(key) <= 128`);
    if (Buffer.byteLength(value) < 1 || Buffer.byteLength(value) > 512) problems.push(`length of value for key "${k}" is ${Buffer.byteLength(value)} but must be 0 < len(value) <= 512`);
    if (/[^\x20-\x7e\u00a0-\uffff]/.test(k)) problems.push(`key "${k}" contains unprintable characters`);
    if (/[^\x20-\x7e\u00a0-\uffff]/.test(value)) problems.push(`value for key "${k}" contains unprintable characters`);
  }
  if (problems.length) throw new PluginError('invalid-request', `custom_metadata validation failed: ${problems.join('; ')}`);
  return Object.fromEntries(entries.map(([k, v]) => [k, typeof v === 'string' ? v : String(v)]));
}
