import { Inject, Injectable } from '@nestjs/common';
import { BUS, type Bus } from '#bus';
import { CofferError, subjects, type ServiceName, type ServiceStatus } from '#contracts';

/** The services behind the gateway; each must answer for the cluster to be healthy. */
export const BACKEND_SERVICES: ServiceName[] = ['catalog', 'mount-manager', 'plugin-runner'];

const STATUS_TIMEOUT_MS = 2_000;

/** Asks every backing service for its status over the bus, so health reflects the cluster, not just this process. */
@Injectable()
export class ServiceStatusProbe {
  constructor(@Inject(BUS) private readonly bus: Bus) {}

  /**
   * The status of every backing service that has an instance. A service type with no instance at all (NATS says no
   * responders) is left out rather than failing: health must not read "sealed" (503) because, say, no runner is up.
   * Silence (a timeout: the bus itself is down) still fails, since then the gateway can vouch for nothing.
   */
  async all(): Promise<ServiceStatus[]> {
    return (await this.survey()).running;
  }

  /** As `all`, with the service types that have no instance named. */
  async survey(): Promise<{ running: ServiceStatus[]; missing: ServiceName[] }> {
    const found = await Promise.all(
      BACKEND_SERVICES.map(async (service) => {
        try {
          return await this.bus.request<ServiceStatus>(subjects.status(service), null, { timeoutMs: STATUS_TIMEOUT_MS });
        } catch (err) {
          if (err instanceof CofferError && /^no service is listening/.test(err.message)) return undefined;
          const why = err instanceof CofferError ? err.message : 'no answer';
          throw new CofferError('unavailable', `service ${service} is not answering: ${why}`);
        }
      }),
    );
    return {
      running: found.filter((s): s is ServiceStatus => s !== undefined),
      missing: BACKEND_SERVICES.filter((_, i) => found[i] === undefined),
    };
  }
}
