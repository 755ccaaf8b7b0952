export const MOUNT_TABLE = Symbol('coffer.mount-manager.mount-table');
