import { Inject, Injectable } from '@nestjs/common';
import { BUS, type Bus } from '#bus';
import {
  CofferError,
  catalogSubjects,
  type CatalogEntryKey,
  type CatalogEntryView,
  type CatalogListRequest,
  type CatalogListing,
  type CatalogRegisterRequest,
} from '#contracts';
import type { VaultRequest, VaultResponse } from '../vault-http.js';
import { actorOf } from '../audit/actor.js';

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
      // Vault gives its builtins a deprecation status and other plugins none.
      deprecation_status: e.builtin ? 'supported' : '',
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

  /** Register (typed, or legacy untyped when `type` is undefined): Vault answers 204. */
  async register(req: VaultRequest, type: string | undefined, name: string): Promise<VaultResponse> {
    const pluginType = this.pluginType(type);
    const d = req.data;
    const request: CatalogRegisterRequest = {
      type: pluginType,
      name,
      version: optionalString(d.version, 'version'),
      sha256: optionalString(d.sha256 ?? d.sha_256, 'sha256'),
      command: optionalString(d.command, 'command'),
      args: d.args as string[] | undefined,
      env: d.env as string[] | undefined,
      actor: actorOf(req),
    };
    // Registration runs the plugin to learn its type and version, which can take a while on a cold machine.
    await this.bus.request<CatalogEntryView>(catalogSubjects.register, request, { timeoutMs: 30_000 });
    return { kind: 'empty' };
  }

  async read(req: VaultRequest, type: string | undefined, name: string): Promise<VaultResponse> {
    const key: CatalogEntryKey = { type: this.pluginType(type), name, version: req.query.get('version') ?? undefined };
    if (type === undefined) {
      return { kind: 'envelope', data: null, warnings: [`Deprecated API endpoint, cannot read plugin information from catalog for "${name}"`] };
    }
    let entry: CatalogEntryView | null;
    try {
      entry = await this.bus.request<CatalogEntryView | null>(catalogSubjects.read, key);
    } catch (err) {
      // The catalog's not-found with a message: the versions that exist, as a warning with the 404.
      if (err instanceof CofferError && err.code === 'not-found' && err.message) return { kind: 'envelope', status: 404, data: null, warnings: [err.message] };
      throw err;
    }
    if (!entry) throw new CofferError('not-found', '');
    const { type: _t, ...data } = entry;
    return { kind: 'envelope', data: { ...data, deprecation_status: '' } };
  }

  async deregister(req: VaultRequest, type: string | undefined, name: string): Promise<VaultResponse> {
    const key: CatalogEntryKey = { type: this.pluginType(type), name, version: (req.data.version as string) ?? req.query.get('version') ?? undefined, actor: actorOf(req) };
    await this.bus.request(catalogSubjects.deregister, key);
    if (type === undefined) {
      return { kind: 'envelope', data: null, warnings: [`Deprecated API endpoint, cannot deregister plugin from catalog for "${name}"`] };
    }
    return { kind: 'empty' };
  }

  private pluginType(type: string | undefined): CatalogRegisterRequest['type'] {
    if (type === undefined) return undefined;
    if (type === 'secret' || type === 'auth') return type;
    if (type === 'database') throw new CofferError('invalid-request', 'database plugins are not supported by Coffer');
    throw new CofferError('invalid-request', `unknown plugin type: ${type}`);
  }
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  throw new CofferError('invalid-request', `${field} must be a string`);
}
