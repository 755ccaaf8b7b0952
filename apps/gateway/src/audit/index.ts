export { AuditBroker, type AuditContext } from './broker.js';
export { AuditHandlers } from './audit.handlers.js';
export { actorMetadata } from './actor.js';
