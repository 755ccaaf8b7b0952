export * from './errors.js';
export * from './operations.js';
export * from './subjects.js';
export * from './messages.js';
export * from './events.js';
export * from './version.js';
