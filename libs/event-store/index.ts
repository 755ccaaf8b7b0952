export { jsonCodec, type EventCodec, type EventContext } from './codec.js';
export {
  connectWithRetry,
  createDataSource,
  runMigrations,
  type DataSourceSettings,
  type RetryPolicy,
} from './data-source.js';
export {
  EventStore,
  type Appended,
  type EventMetadata,
  type EventStoreOptions,
  type GlobalReadOptions,
  type NewEvent,
  type PageReadOptions,
  type StoredEvent,
  type StreamReadOptions,
} from './event-store.js';
export type { StoreLogger } from './logger.js';
export { migrations } from './migrations/index.js';
export { ProjectionKeeper, type Projection } from './projection.js';
export { qualifiedTable } from './sql.js';
