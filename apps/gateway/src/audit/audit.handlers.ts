import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { CofferError } from '#contracts';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import type { Caller } from '../auth/authenticator.js';
import type { Operation, VaultRequest, VaultResponse } from '../vault-http.js';
import { actorOf } from './actor.js';
import { AuditBroker } from './broker.js';
import { openSink } from './devices.js';
import { hmacOf, requestEntry, toJsonx } from './entry.js';
import { decideEnable, devicePath, entryOptions, formatOf } from './options.js';

type Handler = (req: VaultRequest, params: Record<string, string>, caller: Caller | undefined) => Promise<VaultResponse> | VaultResponse;

/** The audit paths as rows of the router's table (same shape as its own routes). */
export interface AuditRoute {
  pattern: RegExp;
  operations: Partial<Record<Operation, Handler>>;
  sudo?: boolean;
}

/**
 * `sys/audit` (list), `sys/audit/<path>` (enable, disable) and `sys/audit-hash/<path>`. The gateway owns the
 * `audit-devices` stream, as it owns policies: enabling appends an event, and every gateway opens the device from it.
 */
@Injectable()
export class AuditHandlers {
  constructor(
    private readonly broker: AuditBroker,
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
  ) {}

  /** Root-protected, as in Vault (its PathsSpecial.Root holds `audit` and `audit/*`): enabling one needs sudo. */
  routes(): AuditRoute[] {
    return [
      { pattern: /^sys\/audit\/?$/, operations: { read: () => this.list() }, sudo: true },
      {
        pattern: /^sys\/audit\/(?<path>.+)$/,
        operations: { update: (r, p) => this.enable(r, p.path), delete: (r, p) => this.disable(r, p.path) },
        sudo: true,
      },
      // Vault serves update only; a read with `?input=` answers the same, so `coffer read sys/audit-hash/file input=x` works.
      { pattern: /^sys\/audit-hash\/(?<path>.+)$/, operations: { update: (r, p) => this.hash(r, p.path), read: (r, p) => this.hash(r, p.path) } },
    ];
  }

  async list(): Promise<VaultResponse> {
    await this.broker.host.catchUp();
    const data: Record<string, unknown> = {};
    for (const [path, d] of Object.entries(this.broker.host.state.devices).sort(([a], [b]) => a.localeCompare(b))) {
      data[path] = { type: d.type, description: d.description, options: d.options, local: d.local, path };
    }
    return { kind: 'envelope', data, topLevel: true };
  }

  async enable(req: VaultRequest, rawPath: string): Promise<VaultResponse> {
    const host = { pluginDirectory: this.ctx.config.pluginDirectory };
    await this.broker.host.catchUp();
    const proposed = decideEnable(this.broker.host.state, rawPath, req.data, host);
    await probe(proposed, host);
    await this.broker.host.decideAndAppend(this.ctx.events, (state) => {
      // Decided again on the state the append lands on: another gateway may have taken the path meanwhile.
      const event = { ...decideEnable(state, rawPath, req.data, host), salt: proposed.salt };
      return [{ type: 'AuditDeviceEnabled', data: event, metadata: { ...actorOf(req) } }];
    });
    return { kind: 'empty' };
  }

  /** 204 whether or not a device was there, as Vault. */
  async disable(req: VaultRequest, rawPath: string): Promise<VaultResponse> {
    const path = devicePath(rawPath);
    await this.broker.host.decideAndAppend(this.ctx.events, (state) =>
      state.devices[path] ? [{ type: 'AuditDeviceDisabled', data: { v: 1, path }, metadata: { ...actorOf(req) } }] : null,
    );
    return { kind: 'empty' };
  }

  async hash(req: VaultRequest, rawPath: string): Promise<VaultResponse> {
    const path = devicePath(rawPath);
    let device = this.broker.deviceFor(path);
    if (!device) {
      await this.broker.host.catchUp();
      device = this.broker.deviceFor(path);
    }
    if (!device) throw new CofferError('invalid-request', `unknown audit backend "${path}"`);
    const input = req.data.input ?? req.query.get('input');
    if (input === undefined || input === null || input === '') throw new CofferError('invalid-request', 'the "input" parameter is empty');
    return { kind: 'envelope', data: { hash: hmacOf(device.salt, String(input)) } };
  }
}

/**
 * Vault's test message: before the event is written, this gateway writes one request entry (hashed with a
 * throw-away salt) to the new device, and a device that cannot take it is refused.
 */
async function probe(device: Parameters<typeof openSink>[0], host: { pluginDirectory?: string }): Promise<void> {
  const sink = openSink(device, host);
  const entry = requestEntry(
    randomUUID(),
    entryOptions(device.options),
    { id: randomUUID(), operation: 'update', path: 'sys/audit/test', data: {}, remoteAddress: '' },
    new Date(),
  );
  try {
    await sink.write(`${device.options.prefix ?? ''}${formatOf(device.options) === 'jsonx' ? toJsonx(entry) : JSON.stringify(entry)}\n`);
  } catch (err) {
    throw new CofferError('invalid-request', `audit backend failed test message: ${(err as Error)?.message ?? String(err)}`);
  } finally {
    await sink.close().catch(() => undefined);
  }
}
