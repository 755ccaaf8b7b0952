export * from './bus.js';
export { InProcessBus } from './in-process-bus.js';
export { NatsBus, type NatsBusOptions } from './nats-bus.js';
export { subjectMatches } from './subject.js';
export { BusTransport, BusModule, BUS, RpcErrorFilter } from './nest.js';
export { ResponderLost, LIVENESS_HEADER, PROGRESS_HEADER } from './liveness.js';
