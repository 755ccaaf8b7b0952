export { createLogger, nestLogger, setLogLevel, formatReadable, REDACTED_FIELDS, type LogFormat, type LoggerOptions } from './logger.js';
export { retry, type RetryOptions } from './retry.js';
export { type ServiceContext, type RunningService, type ServiceStarter, newInstanceId, serviceStatus } from './service.js';
export { ProjectionHost, announceAppend } from './projection-host.js';
export { SERVICE_CONTEXT, serviceModule, startMicroservice, type ServiceModuleParts } from './nest-service.js';
export { BarrierState, BarrierLink, type BarrierLinkOptions } from './barrier-state.js';
export { KeyringRequester, sealKeyringFor, ExchangeError, type KeyringRequest, type SealedKeyring } from './keyring-exchange.js';
export { startHealthPort, type HealthState } from './health-port.js';
export { answerCensus, instanceState } from './census.js';
