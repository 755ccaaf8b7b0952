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
}

/** The services running in one process, sharing its bus connection, its store pool and its barrier. */
export interface RunningServices {
  services: RunningService[];
  barrier: BarrierState;
  barrierLink: BarrierLink;
  close(): Promise<void>;
}

/** Starts the named services in dependency order on shared parts; closes what started if one fails. */
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
      started.push(await SERVICE_STARTERS[service](ctx));
      // Once started: a census then lists only instances that serve (sys/instances).
      census.push(answerCensus(ctx));
      // And NATS's service API ($SRV.PING/INFO/STATS), on a NATS bus.
      const api = await answerServiceApi(ctx);
      if (api) serviceApis.push(api);
      log.info('service started');
    }
    // Last: services have registered their unseal hooks by now, so joining an unsealed cluster replays them.
    await barrierLink.start();
  } catch (err) {
    await close();
    throw err;
  }
  return { services: started, barrier, barrierLink, close };
}
