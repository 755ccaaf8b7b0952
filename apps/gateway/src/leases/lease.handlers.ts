import { CofferError } from '#contracts';
import { parseGoBool } from '#vault-rules';
import type { VaultRequest, VaultResponse } from '../vault-http.js';
import type { LeaseManager } from './lease-manager.js';

type Handler = (req: VaultRequest, params: Record<string, string>) => Promise<VaultResponse>;
export interface LeaseRoute {
  pattern: RegExp;
  operations: Partial<Record<'read' | 'list' | 'update', Handler>>;
  sudo?: boolean | readonly ('read' | 'list' | 'update')[];
}

/** Vault's `sync` flag (default true): false answers 202 and leaves the revocation to the expiry pass. */
function syncOf(req: VaultRequest): boolean {
  const raw = req.data.sync;
  if (raw === undefined || raw === null) return true;
  if (typeof raw === 'boolean') return raw;
  const parsed = parseGoBool(String(raw));
  if (parsed === undefined) throw new CofferError('invalid-request', `invalid value for "sync": ${JSON.stringify(raw)}`);
  return parsed;
}

const idOf = (req: VaultRequest, params: Record<string, string>) => (typeof req.data.lease_id === 'string' && req.data.lease_id ? req.data.lease_id : (params.id ?? ''));

/** `sys/leases/*` (and Vault's older `sys/renew`, `sys/revoke*` spellings), served by the gateway's lease manager. */
export function leaseRoutes(leases: LeaseManager): LeaseRoute[] {
  const list: Handler = async (_req, p) => {
    const keys = await leases.list(p.prefix ?? '');
    if (keys.length === 0) throw new CofferError('not-found', '');
    return { kind: 'envelope', data: { keys } };
  };
  return [
    {
      pattern: /^sys\/leases\/lookup\/?$/,
      operations: { update: async (req) => ({ kind: 'envelope', data: await leases.lookup(idOf(req, {})) }), list },
      // Vault: looking one lease up needs no sudo; listing lease ids (here, all of them) does, as under a prefix.
      sudo: ['list'],
    },
    { pattern: /^sys\/leases\/lookup\/(?<prefix>.+)$/, operations: { list }, sudo: true },
    {
      pattern: /^sys\/(?:leases\/)?renew(?:\/(?<id>.+))?$/,
      operations: {
        update: async (req, p) => {
          const renewed = await leases.renew(idOf(req, p), req.data.increment);
          return { kind: 'envelope', data: null, warnings: renewed.warnings, lease: renewed };
        },
      },
    },
    {
      pattern: /^sys\/(?:leases\/)?revoke(?:\/(?<id>.+))?$/,
      operations: {
        update: async (req, p) => {
          const sync = syncOf(req);
          await leases.revoke(idOf(req, p), sync);
          return { kind: 'empty', status: sync ? 204 : 202 };
        },
      },
    },
    {
      pattern: /^sys\/(?:leases\/)?revoke-prefix\/(?<prefix>.+)$/,
      operations: {
        update: async (req, p) => {
          const sync = syncOf(req);
          await leases.revokePrefix(p.prefix, { sync, force: false });
          return { kind: 'empty', status: sync ? 204 : 202 };
        },
      },
      sudo: true,
    },
    {
      pattern: /^sys\/(?:leases\/)?revoke-force\/(?<prefix>.+)$/,
      operations: {
        update: async (_req, p) => {
          await leases.revokePrefix(p.prefix, { sync: true, force: true });
          return { kind: 'empty', status: 204 };
        },
      },
      sudo: true,
    },
    {
      pattern: /^sys\/leases\/tidy$/,
      operations: {
        update: async () => {
          void leases.tidy().catch(() => undefined);
          return {
            kind: 'envelope',
            status: 202,
            data: null,
            warnings: ["Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs."],
          };
        },
      },
    },
  ];
}
