export { mountTableProjection, findMount, type Mount, type MountTableName, type MountTableState } from './projection.js';
