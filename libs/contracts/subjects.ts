/**
 * Every NATS subject Coffer uses. Request subjects are served by a queue group named after the owning service, so
 * any number of instances share the work; broadcast subjects reach every instance.
 */
export const SERVICE_NAMES = ['gateway', 'catalog', 'mount-manager', 'plugin-runner'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export function isServiceName(value: string): value is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(value);
}

/** The queue group every instance of a service joins for its request subjects. */
export function queueGroup(service: ServiceName): string {
  return `coffer.${service}`;
}

/**
 * The name a service answers NATS's service API under (`$SRV.PING.<name>`, `$SRV.INFO.<name>`, `$SRV.STATS.<name>`):
 * `coffer-<service>`, or `coffer-<namespace>-<service>` so clusters sharing a NATS server are told apart there too.
 */
export function serviceApiName(service: ServiceName, namespace?: string): string {
  return namespace ? `coffer-${namespace}-${service}` : `coffer-${service}`;
}

export const STREAMS = ['plugin-catalog', 'mount-table', 'acl-policies', 'audit-devices'] as const;
export type StreamName = (typeof STREAMS)[number];

export const subjects = {
  /** request → ServiceStatus; answered by one instance of the service. */
  status: (service: ServiceName) => `coffer.${service}.status`,
  /** The service API's one endpoint (`health`): any instance's readiness, for monitors that speak $SRV. */
  health: (service: ServiceName) => `coffer.${service}.health`,
  /** broadcast → StreamAppended; says only that a stream grew: the data is always read from Postgres. */
  streamAppended: (stream: StreamName) => `coffer.events.${stream}`,
  /** broadcast, no payload: a gateway revoked or renewed tokens; every gateway drops the token entries it cached. */
  tokensChanged: 'coffer.gateway.tokens-changed',
  /**
   * broadcast `CensusRequest`: every instance of every service publishes its `InstanceState` to `replyTo`. A
   * request would hear one instance only; this is how `sys/instances` hears them all.
   */
  census: 'coffer.census',
  /** Where one census's answers go: a subject of its own per asking (under `coffer.`, so namespaces apply). */
  censusReply: (id: string) => `coffer.census.reply.${id}`,
} as const;

export const catalogSubjects = {
  /** request `CatalogListRequest` → `CatalogListing` */
  list: 'coffer.catalog.list',
  /** request `CatalogRegisterRequest` → `CatalogEntryView` (what was stored, with the learnt type and version) */
  register: 'coffer.catalog.register',
  /** request `CatalogEntryKey` → `CatalogEntryView | null` */
  read: 'coffer.catalog.read',
  /** request `CatalogEntryKey` → null (absent is fine) */
  deregister: 'coffer.catalog.deregister',
} as const;

export const runnerSubjects = {
  /** request `PluginProbeRequest` → `PluginProbeResult`: launch the plugin (hash checked), read its hello, stop it. */
  probe: 'coffer.plugin-runner.probe',
  /** request `MountCall` → `MountResponse | null`: one request to the mount's plugin, on some runner. */
  handle: 'coffer.plugin-runner.handle',
  /**
   * request `MountWrite` → `MountWriteReply`: a write whose existence check the runner has the plugin run in the
   * same call as the write, enforcing the gateway's verdicts for create and update (one trip per write).
   */
  write: 'coffer.plugin-runner.write',
  /** request `MountCall` → `{ checkFound, exists }`: the existence check that decides create vs update. */
  exists: 'coffer.plugin-runner.exists',
  /** request `{ mount: string }` (uuid) → `{ unauthenticated: string[] }` */
  specialPaths: 'coffer.plugin-runner.special-paths',
  /** broadcast `{ mount: string }`: a mount was disabled; runners call the plugin's cleanup and forget it. */
  mountDisabled: 'coffer.plugin-runner.mount-disabled',
  /** request `{ mount: string, path: string }` → `{ help: string }`: the plugin's help text for a path of the mount. */
  help: 'coffer.plugin-runner.help',
  /**
   * request `StorageScopesDelete` → `{ deleted: number }`: delete a mount's keys under the given prefixes. The
   * gateway sends it for every cubbyhole mount when tokens are revoked, with the revoked tokens' scopes.
   */
  deleteScopes: 'coffer.plugin-runner.delete-scopes',
  /** broadcast `PluginReloadRequest`: restart the processes of a plugin or of some mounts. */
  reload: 'coffer.plugin-runner.reload',
  /** request `LeaseCall` → `{ ttl?, internal?, warnings? }`: the mount's plugin renews a lease it issued (protocol 3). */
  renew: 'coffer.plugin-runner.renew',
  /** request `LeaseCall` → `{}`: the mount's plugin revokes a lease it issued (protocol 3). */
  revoke: 'coffer.plugin-runner.revoke',
  /**
   * request `AuthRenewCall` → `AuthRenewAnswer`: an auth mount's plugin judges the renewal of a token its login
   * issued (protocol 3 `renewAuth`); an error reply is its refusal.
   */
  renewAuth: 'coffer.plugin-runner.renew-auth',
  /** broadcast `PluginReloadReport`: a runner started or finished a reload that carried a `reloadId`. */
  reloaded: 'coffer.plugin-runner.reloaded',
  /**
   * broadcast `RunnerPresence`, from every runner every `COFFER_RUNNER_PRESENCE_MS` and once as it leaves: the live
   * runners, over which each gateway hashes each mount to the one runner that serves it (mount affinity).
   */
  presence: 'coffer.plugin-runner.presence',
  /**
   * broadcast `StorageWriteNotice`: a runner starts, or has committed, a write of a mount's plugin storage; every
   * other runner drops what it cached of that mount (apps/plugin-runner/src/read-cache.ts).
   */
  storageWrites: 'coffer.plugin-runner.storage-writes',
} as const;

/** The mount calls a gateway sends to the one runner its mount hashes to (`directSubject`). */
export const DIRECT_VERBS = ['handle', 'write', 'exists'] as const;
export type DirectVerb = (typeof DIRECT_VERBS)[number];

/**
 * `coffer.plugin-runner.direct.<instance>.<verb>`: one runner's own subject for a mount call, outside the queue
 * group, as `runnerSubjects.handle` / `write` / `exists` take it. Instance ids are `<service>-<8 hex>`: one token.
 */
export function directSubject(instance: string, verb: DirectVerb): string {
  return `coffer.plugin-runner.direct.${instance}.${verb}`;
}

export const mountSubjects = {
  /** request `MountEnableRequest` → `MountView` */
  enable: 'coffer.mount-manager.enable',
  /** request `MountRef` → null (absent is fine) */
  disable: 'coffer.mount-manager.disable',
  /** request `MountTuneRequest` → null */
  tune: 'coffer.mount-manager.tune',
  /** request `MountRemountRequest` → `{ migrationId }` */
  remount: 'coffer.mount-manager.remount',
  /** request → null: mount what every server has (`cubbyhole/`) if its plugin is in the catalog and it is missing. */
  ensureRequired: 'coffer.mount-manager.ensure-required',
  /** request `{ migrationId }` → `RemountStatus` */
  remountStatus: 'coffer.mount-manager.remount-status',
} as const;

export const barrierSubjects = {
  /** broadcast `UnsealedNotice` (no keyring): the cluster is unsealed; every sealed process asks for the keyring. */
  unsealed: 'coffer.barrier.unsealed',
  /** broadcast: seal now; every process forgets the keyring and stops its plugins. */
  sealed: 'coffer.barrier.sealed',
  /**
   * request `KeyringRequest` (an ephemeral X25519 public key) → `SealedKeyring` (the keyring sealed to it); answered
   * only by unsealed processes, so a late starter can join an unsealed cluster. Never the keyring in clear.
   */
  keyring: 'coffer.barrier.keyring',
} as const;
