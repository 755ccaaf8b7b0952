export { AuditBroker, type AuditContext } from './broker.js';
export { AuditHandlers } from './audit.handlers.js';
export { actorOf } from './actor.js';
