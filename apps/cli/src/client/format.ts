import { humanDuration } from '#duration';
import type { Secret } from './api.js';

export type Format = 'table' | 'json' | 'yaml';

/** Go's `%v`: maps as `map[k:v]` (keys sorted), lists as `[a b]`, null as `<nil>`. */
export function goValue(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goValue).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o).sort().map((k) => `${k}:${goValue(o[k])}`).join(' ')}]`;
  }
  return String(v);
}

/** columnize with Vault's settings: 4-space glue, empty cells `n/a`. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, header.map((h) => '-'.repeat(h.length)), ...rows].map((r) => r.map((c) => (c === '' ? 'n/a' : c)));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('    ').trimEnd()).join('\n') + '\n';
}

const isTtlKey = (k: string) => /(^|_)(ttl|period)$/.test(k) || k === 'lease_duration' || k === 'token_duration';

function cell(key: string, v: unknown): string {
  if (typeof v === 'number' && isTtlKey(key)) return humanDuration(v);
  return goValue(v);
}

/** Vault's TableFormatter.OutputSecret: lease rows when present, auth rows, then the data keys sorted. */
export function secretTable(secret: Secret): string {
  const rows: string[][] = [];
  if ((secret.lease_duration ?? 0) > 0) {
    if (secret.lease_id) {
      rows.push(['lease_id', secret.lease_id], ['lease_duration', humanDuration(secret.lease_duration!)], ['lease_renewable', String(!!secret.renewable)]);
    } else {
      rows.push(['refresh_interval', humanDuration(secret.lease_duration!)]);
    }
  }
  const auth = secret.auth as Record<string, unknown> | null | undefined;
  if (auth) {
    const duration = Number(auth.lease_duration ?? 0);
    rows.push(
      ['token', String(auth.client_token ?? '')],
      ['token_accessor', String(auth.accessor ?? '')],
      ['token_duration', duration === 0 ? '∞' : humanDuration(duration)],
      ['token_renewable', String(!!auth.renewable)],
      ['token_policies', goValue(auth.token_policies ?? auth.policies ?? [])],
      ['identity_policies', goValue(auth.identity_policies ?? [])],
      ['policies', goValue(auth.policies ?? [])],
    );
    const meta = (auth.metadata ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(meta ?? {}).sort()) rows.push([`token_meta_${k}`, goValue(meta[k])]);
  }
  const data = secret.data ?? {};
  for (const k of Object.keys(data).sort()) rows.push([k, cell(k, data[k])]);
  if (rows.length === 0) return '';
  return table(['Key', 'Value'], rows);
}

/** A Key/Value table of a flat map (plugin info, seal status). */
export function mapTable(data: Record<string, unknown>, sort = true): string {
  const keys = sort ? Object.keys(data).sort() : Object.keys(data);
  return table(['Key', 'Value'], keys.map((k) => [k, cell(k, data[k])]));
}

/** The envelope as the Go client's `api.Secret` marshals it (auth / wrap_info only when set). */
export function envelope(secret: Secret): Record<string, unknown> {
  const out: Record<string, unknown> = {
    request_id: secret.request_id ?? '',
    lease_id: secret.lease_id ?? '',
    lease_duration: secret.lease_duration ?? 0,
    renewable: secret.renewable ?? false,
    data: secret.data ?? null,
    warnings: secret.warnings ?? null,
  };
  if (secret.auth) out.auth = secret.auth;
  if (secret.wrap_info) out.wrap_info = secret.wrap_info;
  if (secret.mount_type !== undefined) out.mount_type = secret.mount_type;
  return out;
}

export async function structured(value: unknown, format: Format): Promise<string> {
  if (format === 'yaml') {
    const { stringify } = await import('yaml');
    return stringify(value);
  }
  return `${JSON.stringify(value, null, 2)}\n`;
}
