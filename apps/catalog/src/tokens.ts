export const CATALOG_PROJECTION = Symbol('coffer.catalog.projection');
