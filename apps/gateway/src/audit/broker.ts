import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { CofferError } from '#contracts';
import type { Mount } from '#mount-table';
import { ProjectionHost, SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import type { Caller } from '../auth/authenticator.js';
import type { VaultRequest, VaultResponse } from '../vault-http.js';
import { openSink, type Sink } from './devices.js';
import {
  requestEntry,
  responseEntry,
  toJsonx,
  type AuditAuth,
  type AuditMount,
  type AuditRequestInput,
  type AuditResponseInput,
  type EntryOptions,
} from './entry.js';
import { entryBody, forgetDevice, requestEntryJson, responseEntryJson, writesJsonDirectly } from './entry-json.js';
import { entryOptions, formatOf } from './options.js';
import { auditDevicesProjection, type AuditDevice, type AuditDevicesState } from './projection.js';

/**
 * One request on its way through audit. The pipeline fills it in as it learns things (the caller once the token
 * was looked up, the mount once routing found it, the response or the error at the end) and hands it to
 * `auditRequest` before the request runs and to `auditResponse` after.
 */
export interface AuditContext {
  request: VaultRequest;
  /** The operation the entry names when it is not the request's (`help` for `?help=1`). */
  operation?: string;
  caller?: Caller;
  mount?: Mount;
  response?: VaultResponse;
  error?: unknown;
  /** The devices that recorded the request entry: the same ones record the response. */
  devices?: ActiveDevice[];
  /** The request as its entries describe it, made once for both. */
  input?: AuditRequestInput;
  /** Each device's request entry, whose hashed blocks the response entry repeats (devices on the generic path). */
  entries?: Map<ActiveDevice, Record<string, unknown>>;
  /** Each device's `"auth":…,"request":…` text, which the response entry repeats (devices written directly). */
  bodies?: Map<ActiveDevice, string>;
}

/** A device as this gateway runs it: the event's settings and this gateway's own sink (or why it has none). */
export interface ActiveDevice {
  device: AuditDevice;
  sink: Sink | Error;
  options: EntryOptions;
  format: 'json' | 'jsonx';
  prefix: string;
  /** Entries written as JSON text directly (`entry-json.ts`), not built as objects and stringified. */
  direct: boolean;
}

/**
 * Vault's non-logical handlers, which its audit broker never sees: health probes and the seal dance run while the
 * devices (their salts are behind the barrier) cannot be read at all.
 */
const UNAUDITED = /^sys\/(health|seal-status|init|unseal)\/?$/;

/** What a request with nothing to record waits on: one settled promise for all of them. */
const DONE: Promise<void> = Promise.resolve();

/**
 * The audit broker of one gateway. Devices are enabled cluster-wide (the `audit-devices` stream); each gateway opens
 * its own sink for each and writes its own requests, as each Vault node does. Fail closed: while at least one device
 * is enabled, a request whose entry no device accepted is answered 500 and does not run.
 */
@Injectable()
export class AuditBroker implements OnModuleDestroy {
  readonly host: ProjectionHost<AuditDevicesState>;
  private readonly active = new Map<string, ActiveDevice>();
  /** `active`'s devices as the list every request gets, rebuilt only when the stream changed. */
  private list: ActiveDevice[] = [];
  private synced?: AuditDevicesState;

  constructor(@Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext) {
    this.host = ProjectionHost.of(ctx, auditDevicesProjection);
  }

  start(): Promise<void> {
    return this.host.start();
  }

  onModuleDestroy(): void {
    this.host.stop();
    for (const a of this.active.values()) {
      forgetDevice(a.device.salt);
      if (!(a.sink instanceof Error)) void a.sink.close();
    }
  }

  /**
   * Writes the request entry; rejects with `AuditFailure` (500) when devices are enabled and none took it. The
   * pipeline's audit-request stage calls it before the request runs. Not an async function: the delivery's promise
   * is handed back as it is (an async frame of its own was another promise and microtask turn on every request).
   */
  auditRequest(ctx: AuditContext): Promise<void> {
    try {
      if (UNAUDITED.test(ctx.request.path) || ctx.devices) return DONE;
      const devices = this.devices();
      ctx.devices = devices;
      if (devices.length === 0) return DONE;
      const input = (ctx.input = requestInput(ctx, undefined));
      const now = new Date();
      return this.deliver(devices, (d) => requestText(ctx, d, input, now), ctx.request.id, 'request');
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Writes the response entry (for a request refused before `auditRequest`, the request entry first, with the error
   * that refused it). Rejects with `AuditFailure` (500) when devices are enabled and none took it. The pipeline's
   * audit-response stage calls it after the wrapping stage, or with the error a stage threw. The request that ran
   * (the usual case) hands back the delivery's promise as it is, as `auditRequest` does.
   */
  auditResponse(ctx: AuditContext): Promise<void> {
    try {
      if (UNAUDITED.test(ctx.request.path)) return DONE;
      if (!ctx.devices) return this.auditRefused(ctx);
      return this.responseEntry(ctx);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A request refused before `auditRequest`: its request entry (with the error), then its response entry. */
  private async auditRefused(ctx: AuditContext): Promise<void> {
    const devices = this.devices();
    ctx.devices = devices;
    if (devices.length === 0) return;
    const errorText = ctx.error === undefined ? undefined : errorMessage(ctx.error);
    const refused = { ...(ctx.input = requestInput(ctx, undefined)), error: errorText };
    const now = new Date();
    await this.deliver(devices, (d) => requestText(ctx, d, refused, now), ctx.request.id, 'request');
    await this.responseEntry(ctx);
  }

  private responseEntry(ctx: AuditContext): Promise<void> {
    const devices = ctx.devices!;
    if (devices.length === 0) return DONE;
    const errorText = ctx.error === undefined ? undefined : errorMessage(ctx.error);
    const input = (ctx.input ??= requestInput(ctx, undefined));
    const response = responseInput(ctx.response, errorText);
    const now = new Date();
    return this.deliver(devices, (d) => responseText(ctx, d, input, response, now), ctx.request.id, 'response');
  }

  /** `sys/audit-hash/<path>`: the device's hash of `input`, the same string its entries carry. */
  deviceFor(path: string): AuditDevice | undefined {
    return this.host.state.devices[path];
  }

  /** The devices this gateway writes to, re-opened when the stream changed (enable, disable, unseal, seal). */
  devices(): ActiveDevice[] {
    const state = this.host.state;
    if (state !== this.synced) {
      this.synced = state;
      for (const [path, a] of this.active) {
        const now = state.devices[path];
        if (now && now.salt === a.device.salt) continue;
        this.active.delete(path);
        forgetDevice(a.device.salt);
        if (!(a.sink instanceof Error)) void a.sink.close().catch(() => undefined);
      }
      for (const [path, device] of Object.entries(state.devices)) {
        if (this.active.has(path)) continue;
        this.active.set(path, activate(device, this.ctx.config.pluginDirectory));
      }
      this.list = [...this.active.values()];
    }
    return this.list;
  }

  private deliver(
    devices: ActiveDevice[],
    textFor: (d: ActiveDevice) => string,
    requestId: string,
    kind: 'request' | 'response',
  ): Promise<void> {
    // One device, the usual case: the same outcome without allSettled's array and a closure per device.
    if (devices.length === 1) return this.deliverToOne(devices[0], textFor, requestId, kind);
    return this.deliverToAll(devices, textFor, requestId, kind);
  }

  private async deliverToAll(devices: ActiveDevice[], textFor: (d: ActiveDevice) => string, requestId: string, kind: 'request' | 'response'): Promise<void> {
    const results = await Promise.allSettled(
      devices.map(async (d) => {
        if (d.sink instanceof Error) throw d.sink;
        await d.sink.write(`${d.prefix}${textFor(d)}\n`);
      }),
    );
    let written = 0;
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') written++;
      else this.deviceFailed(requestId, devices[i], kind, r.reason);
    });
    if (written === 0) this.noDeviceRecorded(requestId, kind, devices.length);
  }

  /** `deliver` for one device, as a promise chain: no async frame of its own on every entry. */
  private deliverToOne(d: ActiveDevice, textFor: (d: ActiveDevice) => string, requestId: string, kind: 'request' | 'response'): Promise<void> {
    let written: Promise<void>;
    try {
      if (d.sink instanceof Error) throw d.sink;
      written = d.sink.write(`${d.prefix}${textFor(d)}\n`);
    } catch (err) {
      written = Promise.reject(err);
    }
    return written.then(undefined, (err: unknown) => {
      this.deviceFailed(requestId, d, kind, err);
      this.noDeviceRecorded(requestId, kind, 1);
    });
  }

  private deviceFailed(requestId: string, d: ActiveDevice, kind: 'request' | 'response', reason: unknown): void {
    // The reason is the sink's (ENOENT, ECONNREFUSED...), never the entry.
    this.ctx.log.warn({ requestId, device: d.device.path, kind, reason: (reason as Error)?.message }, 'audit device failed to record an entry');
  }

  private noDeviceRecorded(requestId: string, kind: 'request' | 'response', devices: number): never {
    this.ctx.log.error({ requestId, kind, devices }, 'no audit device recorded the entry: request refused');
    throw new AuditFailure();
  }
}

/** Thrown when no device recorded an entry: Vault's 500, and nothing about which device or why. */
export class AuditFailure extends CofferError {
  constructor() {
    super('internal', 'internal error');
  }
}

/** A request entry's text for one device, its hashed blocks kept for the response entry. */
function requestText(ctx: AuditContext, d: ActiveDevice, input: AuditRequestInput, time: Date): string {
  if (d.direct) {
    const body = entryBody(d.device.salt, d.options, input);
    (ctx.bodies ??= new Map()).set(d, body);
    return requestEntryJson(body, input, time);
  }
  const entry = requestEntry(d.device.salt, d.options, input, time);
  (ctx.entries ??= new Map()).set(d, entry);
  return formatted(d, entry);
}

/** A response entry's text for one device, repeating the request entry's hashed blocks when there was one. */
function responseText(ctx: AuditContext, d: ActiveDevice, input: AuditRequestInput, response: AuditResponseInput, time: Date): string {
  if (d.direct) {
    const body = ctx.bodies?.get(d) ?? entryBody(d.device.salt, d.options, input);
    return responseEntryJson(d.device.salt, d.options, body, input, response, time);
  }
  const built = ctx.entries?.get(d) as { auth?: unknown; request: unknown } | undefined;
  return formatted(d, responseEntry(d.device.salt, d.options, input, response, time, built));
}

function formatted(d: ActiveDevice, entry: Record<string, unknown>): string {
  return d.format === 'jsonx' ? toJsonx(entry) : JSON.stringify(entry);
}

function activate(device: AuditDevice, pluginDirectory: string | undefined): ActiveDevice {
  let options: EntryOptions = { logRaw: false, hmacAccessor: true, elideListResponses: false };
  let format: 'json' | 'jsonx' = 'json';
  let sink: Sink | Error;
  try {
    options = entryOptions(device.options);
    format = formatOf(device.options);
    sink = openSink(device, { pluginDirectory });
  } catch (err) {
    // A device this host may not open (its file would be inside this host's plugin directory...) fails every write.
    sink = err instanceof Error ? err : new Error(String(err));
  }
  return { device, sink, options, format, prefix: device.options.prefix ?? '', direct: writesJsonDirectly(options, format) };
}

function errorMessage(err: unknown): string {
  if (err instanceof CofferError) return err.message === '' ? (err.code === 'not-found' ? '' : err.code) : err.message;
  return 'internal error';
}

function auditAuth(caller: Caller | undefined, request: VaultRequest): AuditAuth | undefined {
  if (!caller) return undefined;
  const t = caller.token;
  return {
    clientToken: request.token ?? '',
    accessor: t.accessor,
    displayName: t.displayName,
    policies: t.policies,
    metadata: t.meta,
    entityId: t.entityId,
    tokenType: t.type,
    tokenTtl: t.ttl,
    tokenIssueTime: t.issueTime,
  };
}

/**
 * One `AuditMount` per mount, so that `entry-json.ts` writes a mount's fields once, not twice a request. A tuned or
 * moved mount is a new `Mount` object (the mount table's fold replaces it), so it gets a new one.
 */
const auditMounts = new WeakMap<Mount, AuditMount>();
const SYS_MOUNT: AuditMount = { point: 'sys/', type: 'system', accessor: '', nonHmacRequestKeys: [], nonHmacResponseKeys: [] };
const TOKEN_MOUNT: AuditMount = { point: 'auth/token/', type: 'token', accessor: '', nonHmacRequestKeys: [], nonHmacResponseKeys: [] };

function auditMount(ctx: AuditContext): AuditMount | undefined {
  const m = ctx.mount;
  if (m) {
    let a = auditMounts.get(m);
    if (!a) {
      a = {
        point: m.table === 'auth' ? `auth/${m.path}` : m.path,
        type: m.type,
        accessor: m.accessor,
        nonHmacRequestKeys: m.config.auditNonHmacRequestKeys ?? [],
        nonHmacResponseKeys: m.config.auditNonHmacResponseKeys ?? [],
      };
      auditMounts.set(m, a);
    }
    return a;
  }
  const path = ctx.request.path;
  if (path.startsWith('sys/')) return SYS_MOUNT;
  if (path.startsWith('auth/token/')) return TOKEN_MOUNT;
  return undefined;
}

function requestInput(ctx: AuditContext, error: string | undefined): AuditRequestInput {
  const r = ctx.request;
  return {
    id: r.id,
    operation: ctx.operation ?? r.operation,
    path: r.path,
    data: r.data,
    clientToken: r.token,
    remoteAddress: r.remoteAddress ?? '',
    remotePort: r.remotePort,
    auth: auditAuth(ctx.caller, r),
    mount: auditMount(ctx),
    error,
  };
}

function responseInput(response: VaultResponse | undefined, error: string | undefined): AuditResponseInput {
  if (!response) return { error };
  switch (response.kind) {
    case 'empty':
      return { error };
    case 'json':
      return { data: response.body, error };
    case 'raw':
      return { data: { http_status_code: response.status, http_content_type: response.contentType, http_raw_body: response.body.toString('base64') }, error };
    case 'envelope': {
      const a = response.auth as Record<string, unknown> | undefined | null;
      return {
        data: response.data,
        warnings: response.warnings,
        auth:
          a && typeof a.client_token === 'string'
            ? {
                clientToken: a.client_token,
                accessor: String(a.accessor ?? ''),
                policies: (a.policies as string[]) ?? [],
                tokenPolicies: a.token_policies as string[] | undefined,
                metadata: (a.metadata as Record<string, string> | null) ?? null,
                leaseDuration: Number(a.lease_duration ?? 0),
                renewable: a.renewable === true,
                entityId: typeof a.entity_id === 'string' ? a.entity_id : undefined,
              }
            : undefined,
        wrapInfo: response.wrapInfo
          ? {
              token: String(response.wrapInfo.token ?? ''),
              accessor: String(response.wrapInfo.accessor ?? ''),
              ttl: Number(response.wrapInfo.ttl ?? 0),
              creationTime: String(response.wrapInfo.creation_time ?? ''),
              creationPath: String(response.wrapInfo.creation_path ?? ''),
              wrappedAccessor: String(response.wrapInfo.wrapped_accessor ?? ''),
            }
          : undefined,
        error,
      };
    }
  }
}
