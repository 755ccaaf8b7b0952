export { catalogKey, catalogProjection, selectPlugin, type CatalogEntry, type CatalogState } from './projection.js';
