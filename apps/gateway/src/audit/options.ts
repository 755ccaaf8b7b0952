import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { dirname, basename, isAbsolute, join, relative, sep } from 'node:path';
import { CofferError, type AuditDeviceEnabledV1 } from '#contracts';
import type { EntryOptions } from './entry.js';
import type { AuditDevicesState } from './projection.js';

/**
 * The rules of `sys/audit/<path>`, as pure decisions (the filesystem is asked only to resolve symlinks). The rules
 * that keep an audit device from becoming a way in (the CVE-2025-6000 class: an audit file written where plugins
 * live, made executable, its first bytes chosen by the caller through `prefix`) are all here, so every gateway
 * applies them twice: when a device is enabled, and again when it opens its own sink from the event.
 */

export type DeviceType = AuditDeviceEnabledV1['type'];
const TYPES: readonly string[] = ['file', 'socket', 'syslog'];

const invalid = (message: string) => new CofferError('invalid-request', message);

/** What the enable request carries, as `sys/audit/<path>` receives it. */
export interface AuditEnableRequest {
  type?: unknown;
  description?: unknown;
  options?: unknown;
  local?: unknown;
}

/** Where the host keeps plugins: an audit file may never land inside it. */
export interface HostFacts {
  pluginDirectory?: string;
}

/** `path/` for any spelling of a device path, refusing what could not be one. */
export function devicePath(raw: string): string {
  const path = raw.replace(/^\/+/, '').replace(/\/+$/, '');
  if (path === '' || path.split('/').some((s) => s === '' || s === '.' || s === '..')) throw invalid('invalid audit path');
  return `${path}/`;
}

/**
 * The `AuditDeviceEnabled` event for a request, or a Vault-worded refusal. `salt` is new for every enable, as
 * Vault's is: re-enabling a path starts a new set of hashes.
 */
export function decideEnable(state: AuditDevicesState, rawPath: string, req: AuditEnableRequest, host: HostFacts): AuditDeviceEnabledV1 {
  const path = devicePath(rawPath);
  for (const existing of Object.keys(state.devices)) {
    if (existing.startsWith(path) || path.startsWith(existing)) throw invalid('path already in use');
  }
  const type = typeof req.type === 'string' ? req.type : '';
  if (!TYPES.includes(type)) throw invalid(`unknown backend type: "${type}"`);
  const options = stringOptions(req.options);
  checkOptions(type as DeviceType, options, host);
  return {
    v: 1,
    path,
    type: type as DeviceType,
    description: typeof req.description === 'string' ? req.description : '',
    options,
    local: req.local === true || req.local === 'true',
    salt: randomUUID(),
  };
}

function stringOptions(raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null || raw === '') return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid("'options' must be a map of strings");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (v !== null && typeof v === 'object') throw invalid(`option "${k}" must be a string`);
    out[k] = v === null || v === undefined ? '' : String(v);
  }
  return out;
}

/** Every option of the device checked; throws the first problem. Run again by each gateway opening the device. */
export function checkOptions(type: DeviceType, options: Record<string, string>, host: HostFacts): void {
  entryOptions(options);
  formatOf(options);
  checkPrefix(options.prefix ?? '');
  if (type === 'file') fileTarget(options, host);
  if (type === 'socket') socketTarget(options);
  if (type === 'syslog') syslogTarget(options);
}

/** Go's strconv.ParseBool, as Vault parses these options. */
function bool(options: Record<string, string>, key: string, fallback: boolean): boolean {
  const raw = options[key];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  throw invalid(`unable to parse '${key}': strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`);
}

export function entryOptions(options: Record<string, string>): EntryOptions {
  return {
    logRaw: bool(options, 'log_raw', false),
    hmacAccessor: bool(options, 'hmac_accessor', true),
    elideListResponses: bool(options, 'elide_list_responses', false),
  };
}

export function formatOf(options: Record<string, string>): 'json' | 'jsonx' {
  const format = options.format ?? 'json';
  if (format === '' || format === 'json') return 'json';
  if (format === 'jsonx') return 'jsonx';
  throw invalid(`unknown format type "${format}"`);
}

/**
 * A prefix is written before every entry, so a caller who picks it picks the first bytes of the file: `#!` or an
 * executable's magic number would make the log a program. Vault refuses any prefix unless the server's config
 * allows it; Coffer allows plain printable text that cannot start a script or a binary.
 */
export function checkPrefix(prefix: string): void {
  if (prefix === '') return;
  if (!/^[\x20-\x7e]*$/.test(prefix)) throw invalid('audit log prefix may only hold printable ASCII characters');
  if (prefix.startsWith('#!')) throw invalid('audit log prefix may not start with "#!"');
}

export type FileTarget = { kind: 'stdout' } | { kind: 'discard' } | { kind: 'path'; path: string; mode: number };

/**
 * Where a file device writes. The path must be absolute and, symlinks resolved, outside the plugin directory; the
 * mode (octal, Vault's default 0600) may carry no execute, setuid, setgid or sticky bit.
 */
export function fileTarget(options: Record<string, string>, host: HostFacts): FileTarget {
  const raw = options.file_path ?? options.path ?? '';
  if (raw === '') throw invalid('file_path is required');
  const lower = raw.toLowerCase();
  if (lower === 'stdout') return { kind: 'stdout' };
  if (lower === 'discard') return { kind: 'discard' };
  if (!isAbsolute(raw)) throw invalid(`file_path "${raw}" must be an absolute path`);
  const modeText = options.mode ?? '0600';
  if (!/^[0-7]{1,4}$/.test(modeText)) throw invalid(`mode "${modeText}" is not an octal file mode`);
  const mode = parseInt(modeText, 8);
  if (mode & 0o7111) throw invalid(`file mode "${modeText}" is not allowed: an audit file may not be executable`);
  if (host.pluginDirectory) {
    const plugins = resolveExisting(host.pluginDirectory);
    const target = resolveExisting(raw);
    const rel = relative(plugins, target);
    if (rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))) {
      throw invalid(`file_path "${raw}" is not allowed: it is inside the plugin directory`);
    }
  }
  return { kind: 'path', path: raw, mode };
}

/** The path with symlinks resolved as far as it exists; the part that does not exist yet is appended as written. */
function resolveExisting(path: string): string {
  let head = path;
  const tail: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(head), ...tail);
    } catch {
      const parent = dirname(head);
      if (parent === head) return path;
      tail.unshift(basename(head));
      head = parent;
    }
  }
}

export type SocketTarget = { kind: 'tcp' | 'udp'; host: string; port: number; timeoutMs: number } | { kind: 'unix'; path: string; timeoutMs: number };

export function socketTarget(options: Record<string, string>): SocketTarget {
  const address = options.address ?? '';
  if (address === '') throw invalid('address is required');
  const socketType = options.socket_type || 'tcp';
  const timeoutMs = durationMs(options.write_timeout || '2s');
  if (socketType === 'unix') return { kind: 'unix', path: address, timeoutMs };
  if (socketType !== 'tcp' && socketType !== 'udp') throw invalid(`unknown socket_type "${socketType}": must be tcp, udp or unix`);
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`address "${address}" must be host:port`);
  return { kind: socketType, host: address.slice(0, i).replace(/^\[|\]$/g, ''), port, timeoutMs };
}

const FACILITIES = ['KERN', 'USER', 'MAIL', 'DAEMON', 'AUTH', 'SYSLOG', 'LPR', 'NEWS', 'UUCP', 'CRON', 'AUTHPRIV', 'FTP', 'LOCAL0', 'LOCAL1', 'LOCAL2', 'LOCAL3', 'LOCAL4', 'LOCAL5', 'LOCAL6', 'LOCAL7'];

export function syslogTarget(options: Record<string, string>): { facility: string; tag: string } {
  const facility = (options.facility || 'AUTH').toUpperCase();
  if (!FACILITIES.includes(facility)) throw invalid(`unknown syslog facility "${options.facility}"`);
  const tag = options.tag || 'coffer';
  if (!/^[\w.-]{1,48}$/.test(tag)) throw invalid(`syslog tag "${tag}" may only hold letters, digits, '.', '_' and '-'`);
  return { facility, tag };
}

function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(text);
  if (!m) throw invalid(`write_timeout "${text}" is not a duration`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}
