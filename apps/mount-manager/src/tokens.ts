/** `ProjectionHost<MountManagerState>`: the mount-table stream as this service folds it. */
export const MOUNT_TABLE = Symbol('coffer.mount-manager.mount-table');
/** `ProjectionHost<CatalogState>`: the plugin catalog, to resolve what a mount runs. */
export const CATALOG = Symbol('coffer.mount-manager.catalog');
