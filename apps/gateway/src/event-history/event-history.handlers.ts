import { CofferError, STREAMS } from '#contracts';
import type { EventStore } from '#event-store';
import type { VaultRequest, VaultResponse } from '../vault-http.js';
import { historyEntry } from './history-view.js';

/** A page when `limit` is not given, and the most one request may ask for: every entry is decrypted to be shown. */
export const DEFAULT_HISTORY_LIMIT = 50;
export const MAX_HISTORY_LIMIT = 500;

/**
 * `sys/event-history` (Coffer's, not Vault's): the stored events of the catalog, the mount table, the policies and
 * the audit devices, newest first, each as the allow-list view of history-view.ts. `after` continues below the last
 * `sequence` of the previous page (`next_after`); `stream` keeps one or more streams (comma-separated). Sudo, as
 * Vault's sensitive sys paths: the history names every token accessor that changed the cluster.
 */
export function eventHistoryRoutes(events: Pick<EventStore, 'readPage'>) {
  return [
    {
      pattern: /^sys\/event-history\/?$/,
      operations: { read: (req: VaultRequest) => readHistory(events, req) },
      sudo: true,
    },
  ];
}

export async function readHistory(events: Pick<EventStore, 'readPage'>, req: Pick<VaultRequest, 'data'>): Promise<VaultResponse> {
  const limit = integerParam(req.data.limit, 'limit', 1, MAX_HISTORY_LIMIT) ?? DEFAULT_HISTORY_LIMIT;
  const after = integerParam(req.data.after, 'after', 1, Number.MAX_SAFE_INTEGER);
  const streams = streamsParam(req.data.stream);
  // One more than asked tells whether an older page exists, without a count.
  const page = await events.readPage({ beforePosition: after, limit: limit + 1, streams });
  const shown = page.slice(0, limit);
  return {
    kind: 'envelope',
    data: {
      events: shown.map(historyEntry),
      next_after: page.length > limit ? shown[shown.length - 1].position : null,
    },
  };
}

function integerParam(raw: unknown, name: string, min: number, max: number): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : undefined;
  const value = text !== undefined && /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new CofferError('invalid-request', `"${name}" must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function streamsParam(raw: unknown): string[] | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const names = (Array.isArray(raw) ? raw.map(String) : String(raw).split(',')).map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(STREAMS as readonly string[]).includes(n));
  if (unknown.length > 0 || names.length === 0) {
    throw new CofferError('invalid-request', `unknown stream ${JSON.stringify(unknown[0] ?? raw)}: one of ${STREAMS.join(', ')}`);
  }
  return [...new Set(names)];
}
