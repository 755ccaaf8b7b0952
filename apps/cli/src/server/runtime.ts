import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { Bus } from '#bus';
import type { CofferConfig, Tunables } from '#config';
import type { ServiceName } from '#contracts';
import { barrierCodec } from '#barrier';
import { EventStore } from '#event-store';
import type { Subscription } from '#bus';
import { BarrierLink, BarrierState, answerCensus, answerServiceApi, newInstanceId, type RunningService, type ServiceContext } from '#runtime';
import { SERVICE_STARTERS, START_ORDER } from './services.js';

export interface ProcessParts {
  config: CofferConfig;
  tunables: Tunables;
  bus: Bus;
  dataSource: DataSource;
  storageType: 'postgresql' | 'pglite';
  log: Logger;
  catchUpIntervalMs?: number;
  /** The cluster's membership key (bus `membership_key_file`), mixed into every keyring exchange. */
  membershipKey?: Buffer;
  /** How each service starts; tests replace them (runtime.test.ts). */
  starters?: Partial<Record<ServiceName, (ctx: ServiceContext) => Promise<RunningService>>>;
}

/** The services running in one process, sharing its bus connection, its store pool and its barrier. */
export interface RunningServices {
  services: RunningService[];
  barrier: BarrierState;
  barrierLink: BarrierLink;
  close(): Promise<void>;
}

/**
 * Starts the named services in dependency order on shared parts; closes what started if one fails.
 *
 * The process joins the cluster first: when the cluster is unsealed, it fetches the keyring from a member before any
 * service starts, so each service replays its projections while starting and subscribes to its request subjects
 * (or binds its HTTP listeners) already unsealed and current. Joining last, as it once did, left a restarted runner
 * or gateway taking requests for a moment while still sealed, answering them `Vault is sealed`, `plugin not found`
 * or `no handler for route` although its peers were serving (found by test/fault-suite.e2e.test.ts).
 */
export async function startServices(names: ServiceName[], parts: ProcessParts): Promise<RunningServices> {
  const barrier = new BarrierState(parts.log);
  const barrierLink = new BarrierLink(barrier, parts.bus, parts.log, { membershipKey: parts.membershipKey });
  const events = new EventStore(parts.dataSource, barrierCodec(barrier.current));
  const started: RunningService[] = [];
  const census: Subscription[] = [];
  const serviceApis: { stop(): Promise<void> }[] = [];
  const close = async () => {
    for (const c of census.splice(0)) c.unsubscribe();
    for (const api of serviceApis.splice(0)) await api.stop();
    barrierLink.stop();
    for (const s of [...started].reverse()) {
      await s.close().catch((err: unknown) => parts.log.warn({ service: s.service, err: String(err) }, 'close failed'));
    }
  };
  try {
    // Services register their unseal and seal hooks as they start; one started unsealed replays at once
    // (ProjectionHost.start), and a later unseal or seal broadcast runs the hooks registered by then.
    await barrierLink.start();
    for (const service of START_ORDER.filter((s) => names.includes(s))) {
      const instance = newInstanceId(service);
      const log = parts.log.child({ service, instance });
      const ctx: ServiceContext = {
        service,
        instance,
        bus: parts.bus,
        dataSource: parts.dataSource,
        events,
        barrier,
        barrierLink,
        config: parts.config,
        tunables: parts.tunables,
        storageType: parts.storageType,
        log,
        startedAt: new Date(),
        catchUpIntervalMs: parts.catchUpIntervalMs ?? 5_000,
      };
      started.push(await (parts.starters?.[service] ?? SERVICE_STARTERS[service])(ctx));
      // Once started: a census then lists only instances that serve (sys/instances).
      census.push(answerCensus(ctx));
      // And NATS's service API ($SRV.PING/INFO/STATS), on a NATS bus.
      const api = await answerServiceApi(ctx);
      if (api) serviceApis.push(api);
      log.info('service started');
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { services: started, barrier, barrierLink, close };
}
