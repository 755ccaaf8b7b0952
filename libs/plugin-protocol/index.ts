export * from './messages.js';
export * from './plugin-side.js';
