import { Inject, Injectable } from '@nestjs/common';
import { BUS, type Bus } from '#bus';
import { CofferError, catalogSubjects, type CatalogListRequest, type CatalogListing } from '#contracts';
import type { VaultRequest, VaultResponse } from './vault-http.js';

const PLUGIN_TYPES = ['auth', 'database', 'secret'] as const;

/** Reads of sys/plugins/catalog, answered by the catalog service over the bus. */
@Injectable()
export class SysCatalogHandlers {
  constructor(@Inject(BUS) private readonly bus: Bus) {}

  async readAll(): Promise<VaultResponse> {
    const { entries } = await this.bus.request<CatalogListing>(catalogSubjects.list, {} satisfies CatalogListRequest);
    const names = (type: string) => [...new Set(entries.filter((e) => e.type === type).map((e) => e.name))].sort();
    const data: Record<string, unknown> = Object.fromEntries(PLUGIN_TYPES.map((t) => [t, names(t)]));
    data.detailed = entries.map((e) => ({
      type: e.type,
      name: e.name,
      version: e.version,
      builtin: e.builtin,
      deprecation_status: '',
      sha256: e.sha256,
    }));
    return { kind: 'envelope', data };
  }

  async listType(req: VaultRequest, type: string): Promise<VaultResponse> {
    if (!(PLUGIN_TYPES as readonly string[]).includes(type)) {
      throw new CofferError('invalid-request', `unknown plugin type: ${type}`);
    }
    if (type === 'database') throw new CofferError('not-found', '');
    const { entries } = await this.bus.request<CatalogListing>(catalogSubjects.list, {
      type: type as CatalogListRequest['type'],
    });
    const keys = [...new Set(entries.map((e) => e.name))].sort();
    // Vault answers an empty list with a bare 404.
    if (keys.length === 0) throw new CofferError('not-found', '');
    return { kind: 'envelope', data: { keys } };
  }
}
