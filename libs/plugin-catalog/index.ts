export { catalogKey, catalogListing, catalogProjection, selectPlugin, type CatalogEntry, type CatalogState } from './projection.js';
export { builtinEntries, builtinPluginDirectory, builtinVersion, loadBuiltins, type BuiltinManifest } from './builtins.js';
