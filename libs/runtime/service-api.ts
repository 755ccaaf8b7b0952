import { Svcm, type Service } from '@nats-io/services';
import { NatsBus } from '../bus/nats-bus.js';
import { serviceApiName, subjects } from '../contracts/subjects.js';
import { COFFER_VERSION } from '../contracts/version.js';
import { instanceState } from './census.js';
import type { ServiceContext } from './service.js';

/** What the `health` endpoint answers, and what `$SRV.STATS` carries as the endpoint's `data`. */
export interface ServiceApiHealth {
  service: string;
  instance: string;
  /** Started and unsealed: what the health port's `/health/ready` says 200 for. */
  ready: boolean;
  sealed: boolean;
}

/**
 * Every instance answers NATS's service API (the nats.js services module): `$SRV.PING`, `$SRV.INFO` and
 * `$SRV.STATS`, by all, by name (`coffer-<service>`, with the namespace if any: serviceApiName) or by instance id.
 * So `nats micro ls` / `nats micro stats coffer-gateway` show every instance, and a monitor that speaks the
 * protocol needs nothing Coffer-specific. Metadata says which Coffer instance answers; one endpoint, `health`
 * (subject `coffer.[<namespace>.]<service>.health`, a queue group, so any one instance answers), and its stats data
 * say whether that instance is ready. Only on a NATS bus: the dev server's in-process bus has no $SRV.
 */
export async function answerServiceApi(ctx: Pick<ServiceContext, 'bus' | 'service' | 'instance' | 'startedAt' | 'barrier'>): Promise<{ stop(): Promise<void> } | undefined> {
  if (!(ctx.bus instanceof NatsBus)) return undefined;
  const bus = ctx.bus;
  const health = (): ServiceApiHealth => ({ service: ctx.service, instance: ctx.instance, ready: !ctx.barrier.sealed, sealed: ctx.barrier.sealed });
  const state = instanceState(ctx);
  const service: Service = await new Svcm(bus.connection).add({
    name: serviceApiName(ctx.service, bus.namespace),
    version: COFFER_VERSION,
    description: `Coffer ${ctx.service}`,
    metadata: {
      coffer_service: ctx.service,
      coffer_instance: ctx.instance,
      host: state.host,
      pid: String(state.pid),
      started_at: state.startedAt,
      ...(bus.namespace && { namespace: bus.namespace }),
    },
    // `data` of each endpoint in $SRV.STATS: live, read at each asking.
    statsHandler: async () => health(),
  });
  service.addEndpoint('health', {
    subject: bus.wireSubject(subjects.health(ctx.service)),
    handler: (err, msg) => {
      if (err) return;
      msg.respond(JSON.stringify(health()));
    },
    metadata: { description: 'readiness of the instance that answers: ready once started and unsealed' },
  });
  return {
    stop: async () => {
      if (!bus.connection.isClosed()) await service.stop().catch(() => undefined);
    },
  };
}
