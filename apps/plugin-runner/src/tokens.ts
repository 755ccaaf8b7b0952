export const MOUNT_CALLS = Symbol('coffer.plugin-runner.mount-calls');
export const RUNNER_PROJECTIONS = Symbol('coffer.plugin-runner.projections');
