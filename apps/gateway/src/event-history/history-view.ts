import type { StoredEvent } from '#event-store';

/**
 * What `sys/event-history` shows of one stored event: who changed what, and when. An allow-list, built field by field:
 * event data is decrypted to build it, and some of it is secret or close to it (a plugin's `env` and `args`, an audit
 * device's HMAC `salt` and options, a policy's text, mount options other than `version`), so nothing is copied
 * wholesale and every value is checked for its type. An event type this file does not know shows its header only.
 */
export interface HistoryEntry {
  /** The event's global position: newest has the highest; what `?after=` takes. */
  sequence: number;
  stream: string;
  /** The event's type, a past-tense fact (`MountEnabled`, `PluginRegistered`, ...). */
  type: string;
  recorded_at: string;
  /** The request that made the change, as the audit log names it; "" when nobody asked (a start-up registration). */
  request_id: string;
  /** The accessor of the token that made the change (never the token); "" when nobody asked. */
  actor_accessor: string;
  details: Record<string, string | number | boolean | string[] | Record<string, string>>;
}

/** Mount options shown as they are: `version` says KV v1 or v2. Others may be anything a plugin takes. */
const SHOWN_MOUNT_OPTIONS = ['version'] as const;

/** A config field of a mount event, with the name Vault's API gives it. */
const MOUNT_CONFIG_FIELDS = [
  ['defaultLeaseTtl', 'default_lease_ttl'],
  ['maxLeaseTtl', 'max_lease_ttl'],
  ['forceNoCache', 'force_no_cache'],
  ['pluginVersion', 'plugin_version'],
  ['auditNonHmacRequestKeys', 'audit_non_hmac_request_keys'],
  ['auditNonHmacResponseKeys', 'audit_non_hmac_response_keys'],
] as const;

export function historyEntry(event: StoredEvent): HistoryEntry {
  const meta = record(event.metadata);
  return {
    sequence: event.position,
    stream: event.stream,
    type: event.type,
    recorded_at: event.recordedAt.toISOString(),
    request_id: str(meta.requestId),
    actor_accessor: str(meta.actorAccessor),
    details: detailsOf(event.type, record(event.data), meta),
  };
}

function detailsOf(type: string, d: Record<string, unknown>, meta: Record<string, unknown>): HistoryEntry['details'] {
  switch (type) {
    case 'PluginRegistered':
      // Not `args` nor `env`: they are how operators hand a plugin its settings, secrets included.
      return { plugin_type: str(d.type), plugin_name: str(d.name), plugin_version: str(d.version), sha256: str(d.sha256), command: str(d.command) };
    case 'PluginDeregistered':
      return { plugin_type: str(d.type), plugin_name: str(d.name), plugin_version: str(d.version) };
    case 'MountEnabled': {
      const config = record(d.config);
      return {
        table: str(d.table),
        path: mountPath(d.table, d.path),
        mount_type: str(d.type),
        plugin_name: str(d.pluginName),
        plugin_version: str(config.pluginVersion),
        accessor: str(d.accessor),
        description: str(d.description),
        local: d.local === true,
        seal_wrap: d.sealWrap === true,
        ...numbers(config, ['defaultLeaseTtl', 'default_lease_ttl'], ['maxLeaseTtl', 'max_lease_ttl']),
        ...shownOptions(d.options),
      };
    }
    case 'MountTuned': {
      const config = record(d.config);
      const changed = [
        ...(typeof d.description === 'string' ? ['description'] : []),
        ...MOUNT_CONFIG_FIELDS.filter(([key]) => config[key] !== undefined).map(([, name]) => name),
        ...(d.options !== undefined ? ['options'] : []),
      ];
      return {
        table: str(d.table),
        path: mountPath(d.table, d.path),
        changed,
        ...(typeof d.description === 'string' ? { description: d.description } : {}),
        ...numbers(config, ['defaultLeaseTtl', 'default_lease_ttl'], ['maxLeaseTtl', 'max_lease_ttl']),
        ...(typeof config.pluginVersion === 'string' ? { plugin_version: config.pluginVersion } : {}),
        ...(typeof config.forceNoCache === 'boolean' ? { force_no_cache: config.forceNoCache } : {}),
        ...shownOptions(d.options),
      };
    }
    case 'MountDisabled':
      return { table: str(d.table), path: mountPath(d.table, d.path) };
    case 'MountMoved':
      return { table: str(d.table), from: mountPath(d.table, d.from), to: mountPath(d.table, d.to), migration_id: str(meta.migrationId) };
    case 'PolicyWritten':
    case 'PolicyDeleted':
      // The name only: a policy's text is read at sys/policies/acl/<name>, under its own ACL.
      return { name: str(d.name) };
    case 'AuditDeviceEnabled':
      // Not `salt` (the device's HMAC key) nor `options` (addresses, file paths: sys/audit shows them, under sudo).
      return { path: str(d.path), audit_type: str(d.type), description: str(d.description), local: d.local === true };
    case 'AuditDeviceDisabled':
      return { path: str(d.path) };
    default:
      return {};
  }
}

/** A mount's path as clients write it: auth mounts under `auth/` (the events keep them without). */
function mountPath(table: unknown, path: unknown): string {
  const p = str(path);
  return table === 'auth' && p ? `auth/${p}` : p;
}

function shownOptions(options: unknown): { options?: Record<string, string> } {
  const o = record(options);
  const shown = Object.fromEntries(SHOWN_MOUNT_OPTIONS.filter((k) => typeof o[k] === 'string').map((k) => [k, o[k] as string]));
  return Object.keys(shown).length ? { options: shown } : {};
}

function numbers(source: Record<string, unknown>, ...fields: [string, string][]): Record<string, number> {
  return Object.fromEntries(fields.filter(([key]) => typeof source[key] === 'number').map(([key, name]) => [name, source[key] as number]));
}

function record(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
