/**
 * Events are facts in the past tense. Each shape carries `v` (its schema version) from the day it is written, so a
 * projection can still fold events recorded by an older Coffer.
 */
import type { StreamName } from './subjects.js';

export type PluginType = 'secret' | 'auth';

export interface PluginRegisteredV1 {
  v: 1;
  type: PluginType;
  name: string;
  /** Canonical semver with a leading `v`, or "" for an unversioned entry. */
  version: string;
  sha256: string;
  command: string;
  args: string[];
  env: string[];
}

export interface PluginDeregisteredV1 {
  v: 1;
  type: PluginType;
  name: string;
  version: string;
}

export interface MountConfigV1 {
  defaultLeaseTtl: number;
  maxLeaseTtl: number;
  forceNoCache: boolean;
  pluginVersion: string;
  /** Tune `audit_non_hmac_request_keys` / `audit_non_hmac_response_keys`: data keys audit logs in clear. */
  auditNonHmacRequestKeys?: string[];
  auditNonHmacResponseKeys?: string[];
}

export interface MountEnabledV1 {
  v: 1;
  table: 'secret' | 'auth';
  /** Always ends with `/`; auth mounts are kept without their `auth/` prefix. */
  path: string;
  type: string;
  pluginName: string;
  uuid: string;
  accessor: string;
  description: string;
  config: MountConfigV1;
  options: Record<string, string> | null;
  local: boolean;
  sealWrap: boolean;
}

export interface MountDisabledV1 {
  v: 1;
  table: 'secret' | 'auth';
  path: string;
  uuid: string;
}

export interface MountTunedV1 {
  v: 1;
  table: 'secret' | 'auth';
  path: string;
  description?: string;
  config?: Partial<MountConfigV1>;
  options?: Record<string, string> | null;
}

export interface MountMovedV1 {
  v: 1;
  table: 'secret' | 'auth';
  from: string;
  to: string;
}

export interface PolicyWrittenV1 {
  v: 1;
  name: string;
  policy: string;
}

export interface PolicyDeletedV1 {
  v: 1;
  name: string;
}

/**
 * An audit device, enabled cluster-wide: every gateway opens its own sink from it. `salt` is the HMAC key of the
 * device's hashes; it lives only here, in event data the barrier encrypts, so it is unreadable while sealed.
 */
export interface AuditDeviceEnabledV1 {
  v: 1;
  /** Always ends with `/`. */
  path: string;
  type: 'file' | 'socket' | 'syslog';
  description: string;
  options: Record<string, string>;
  local: boolean;
  salt: string;
}

export interface AuditDeviceDisabledV1 {
  v: 1;
  path: string;
}

/** Event type names per stream, with the data each carries. */
export interface StreamEvents {
  'plugin-catalog': { PluginRegistered: PluginRegisteredV1; PluginDeregistered: PluginDeregisteredV1 };
  'mount-table': {
    MountEnabled: MountEnabledV1;
    MountDisabled: MountDisabledV1;
    MountTuned: MountTunedV1;
    MountMoved: MountMovedV1;
  };
  'acl-policies': { PolicyWritten: PolicyWrittenV1; PolicyDeleted: PolicyDeletedV1 };
  'audit-devices': { AuditDeviceEnabled: AuditDeviceEnabledV1; AuditDeviceDisabled: AuditDeviceDisabledV1 };
}

export type EventOf<S extends StreamName> = {
  [K in keyof StreamEvents[S]]: { type: K; data: StreamEvents[S][K] };
}[keyof StreamEvents[S]];
