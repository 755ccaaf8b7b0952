import os from 'node:os';
import type { Subscription } from '../bus/bus.js';
import { subjects } from '../contracts/subjects.js';
import { COFFER_VERSION } from '../contracts/version.js';
import type { CensusRequest, InstanceState } from '../contracts/messages.js';
import type { ServiceContext } from './service.js';

/** This instance as a census hears it (`sys/instances`). */
export function instanceState(ctx: Pick<ServiceContext, 'service' | 'instance' | 'startedAt' | 'barrier'>): InstanceState {
  return {
    service: ctx.service,
    instance: ctx.instance,
    host: os.hostname(),
    pid: process.pid,
    version: COFFER_VERSION,
    startedAt: ctx.startedAt.toISOString(),
    state: ctx.barrier.ready ? 'unsealed' : 'sealed',
  };
}

/**
 * Every service instance answers every census, whatever its queue groups: a census is a broadcast, each instance
 * publishes its state to the asker's reply subject. A malformed census is ignored (nobody is waiting on it).
 */
export function answerCensus(ctx: Pick<ServiceContext, 'bus' | 'service' | 'instance' | 'startedAt' | 'barrier'>): Subscription {
  return ctx.bus.subscribe(subjects.census, (data) => {
    const replyTo = (data as Partial<CensusRequest> | null)?.replyTo;
    if (typeof replyTo !== 'string' || !replyTo.startsWith(subjects.censusReply(''))) return;
    ctx.bus.publish(replyTo, instanceState(ctx));
  });
}
