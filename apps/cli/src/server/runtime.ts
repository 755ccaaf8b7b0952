import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { Bus } from '#bus';
import type { CofferConfig } from '#config';
import type { ServiceName } from '#contracts';
import { EventStore, jsonCodec } from '#event-store';
import { newInstanceId, type RunningService } from '#runtime';
import { SERVICE_STARTERS, START_ORDER } from './services.js';

export interface ProcessParts {
  config: CofferConfig;
  bus: Bus;
  dataSource: DataSource;
  storageType: 'postgresql' | 'pglite';
  log: Logger;
  catchUpIntervalMs?: number;
}

/** The services running in one process, sharing its bus connection and its store pool. */
export interface RunningServices {
  services: RunningService[];
  close(): Promise<void>;
}

/** Starts the named services in dependency order on shared parts; closes what started if one fails. */
export async function startServices(names: ServiceName[], parts: ProcessParts): Promise<RunningServices> {
  const events = new EventStore(parts.dataSource, jsonCodec);
  const started: RunningService[] = [];
  const close = async () => {
    for (const s of [...started].reverse()) {
      await s.close().catch((err: unknown) => parts.log.warn({ service: s.service, err: String(err) }, 'close failed'));
    }
  };
  try {
    for (const service of START_ORDER.filter((s) => names.includes(s))) {
      const instance = newInstanceId(service);
      const log = parts.log.child({ service, instance });
      started.push(
        await SERVICE_STARTERS[service]({
          service,
          instance,
          bus: parts.bus,
          dataSource: parts.dataSource,
          events,
          config: parts.config,
          storageType: parts.storageType,
          log,
          startedAt: new Date(),
          catchUpIntervalMs: parts.catchUpIntervalMs ?? 5_000,
        }),
      );
      log.info('service started');
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { services: started, close };
}
