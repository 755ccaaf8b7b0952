import { serviceApiName, type ServiceName } from '#contracts';

export interface RolePermissions {
  publish: string[];
  subscribe: string[];
}

/** The roles that get credentials: one per service. */
export const BUS_ROLES: readonly ServiceName[] = ['gateway', 'catalog', 'mount-manager', 'plugin-runner'];

/** The operator's monitoring user (bus-config's `operator/` folder): asks the service API and nothing else. */
export const OPERATOR_ROLE = 'operator';
export type BusUser = ServiceName | typeof OPERATOR_ROLE;

/** Where a role's replies come back: its subscribe permission covers these and no one else's. */
export function inboxPrefixOf(role: BusUser): string {
  return `_INBOX_${role.replace(/-/g, '_')}`;
}

/**
 * What each role may publish and subscribe, as NATS subject patterns: the subjects of libs/contracts, no more.
 * Replies go out under `allow_responses` (only to the reply subject of a request the role received), so no role
 * needs to publish to anyone's inbox. A request is a publish: "the gateway may request mount-manager commands" is
 * its publish on `coffer.mount-manager.*`, which the runner lacks.
 *
 * The keyring subject (`coffer.barrier.keyring`) is open to the four roles and to no one else; the seal and unseal
 * broadcasts may come from gateways only. With a namespace the subjects are `coffer.<namespace>.…`.
 */
export function rolePermissions(role: ServiceName, namespace?: string): RolePermissions {
  const p = namespace ? `coffer.${namespace}.` : 'coffer.';
  const barrierIn = [`${p}barrier.unsealed`, `${p}barrier.sealed`, `${p}barrier.keyring`];
  const common = {
    // Every role hears stream announcements, the barrier broadcasts, keyring requests (when unsealed, it answers
    // them) and its own requests (status included) and replies.
    // The census (sys/instances) too: every instance answers it on the asker's census reply subject.
    // NATS's service API (libs/runtime/service-api.ts): PING/INFO/STATS to all, to the role's service name, or to
    // one instance; the answers go out under allow_responses. Its `health` endpoint is under `${p}${role}.>`.
    subscribe: [`${p}${role}.>`, `${p}events.*`, ...barrierIn, `${inboxPrefixOf(role)}.>`, `${p}census`, ...serviceApiSubjects(role, namespace)],
    // Every role may ask for the keyring (to join an unsealed cluster).
    publish: [`${p}barrier.keyring`, `${p}census.reply.*`],
  };
  switch (role) {
    case 'gateway':
      return {
        publish: [
          ...common.publish,
          `${p}gateway.tokens-changed`,
          // unseal shares (sealed under the membership key) and resets, to the other gateways
          `${p}gateway.unseal-progress`,
          `${p}census`,
          `${p}events.acl-policies`,
          `${p}barrier.unsealed`,
          `${p}barrier.sealed`,
          `${p}*.status`,
          `${p}catalog.*`,
          `${p}mount-manager.*`,
          `${p}plugin-runner.handle`,
          // a write with its existence check, in one trip (mount-routing.ts)
          `${p}plugin-runner.write`,
          `${p}plugin-runner.exists`,
          // the same three calls to the one runner a mount hashes to (mount affinity, runner-ring.ts)
          `${p}plugin-runner.direct.*.handle`,
          `${p}plugin-runner.direct.*.write`,
          `${p}plugin-runner.direct.*.exists`,
          `${p}plugin-runner.special-paths`,
          `${p}plugin-runner.help`,
          // the last use of a token empties its cubbyhole on every runner (cubbyhole-cleanup.ts)
          `${p}plugin-runner.delete-scopes`,
          // the lease manager (every gateway) asks plugins to renew and revoke their leases
          `${p}plugin-runner.renew`,
          `${p}plugin-runner.revoke`,
          // a token renewal asks the auth plugin whose login issued the token (renewAuth)
          `${p}plugin-runner.renew-auth`,
          `${p}plugin-runner.reload`,
        ],
        subscribe: [...common.subscribe, `${p}plugin-runner.reload`, `${p}plugin-runner.reloaded`, `${p}plugin-runner.presence`, `${p}census.reply.*`],
      };
    case 'catalog':
      return { publish: [...common.publish, `${p}events.plugin-catalog`, `${p}plugin-runner.probe`], subscribe: common.subscribe };
    case 'mount-manager':
      // It probes a plugin before enabling a mount of it (a plugin that cannot start makes no mount).
      return {
        publish: [...common.publish, `${p}events.mount-table`, `${p}plugin-runner.mount-disabled`, `${p}plugin-runner.probe`],
        subscribe: common.subscribe,
      };
    case 'plugin-runner':
      // Its presence (for the gateways' rings) and its storage writes (for the other runners' read caches).
      return {
        publish: [...common.publish, `${p}plugin-runner.reloaded`, `${p}plugin-runner.presence`, `${p}plugin-runner.storage-writes`],
        subscribe: common.subscribe,
      };
  }
}

/** What an instance of `role` hears of the service API. */
export function serviceApiSubjects(role: ServiceName, namespace?: string): string[] {
  const name = serviceApiName(role, namespace);
  return ['$SRV.PING', '$SRV.INFO', '$SRV.STATS', `$SRV.*.${name}`, `$SRV.*.${name}.*`];
}

/**
 * The operator's monitoring user: may ask the service API (`nats micro ping/info/stats`) and the services' `health`
 * endpoints, and hear the answers in its own inbox. Nothing of Coffer's own subjects: no census, no status, no keys.
 */
export function operatorPermissions(namespace?: string): RolePermissions {
  const p = namespace ? `coffer.${namespace}.` : 'coffer.';
  return { publish: ['$SRV.>', `${p}*.health`], subscribe: [`${inboxPrefixOf(OPERATOR_ROLE)}.>`] };
}

export interface NatsServerConfigInput {
  listen: string;
  tls: { certFile: string; keyFile: string };
  users: { role: BusUser; nkey: string }[];
  namespace?: string;
}

/**
 * nats-server's config: TLS required on the client port, every user an nkey (public key only; the seed stays with
 * the service) with its role's permissions. A client that presents no credential, or an unknown one, is refused.
 */
/** Messages a responder may send to one reply subject, and for how long (over a 30 s call at 500 ms beats: ~60). */
const MAX_RESPONSES = 10_000;
const RESPONSES_EXPIRE = '15m';

export function natsServerConfig(input: NatsServerConfigInput): string {
  const q = (s: string) => JSON.stringify(s);
  const list = (xs: string[]) => `[${xs.map(q).join(', ')}]`;
  const users = input.users.map(({ role, nkey }) => {
    const perms = role === OPERATOR_ROLE ? operatorPermissions(input.namespace) : rolePermissions(role, input.namespace);
    return (
      `    # ${role}\n` +
      `    {\n      nkey: ${q(nkey)}\n      permissions: {\n` +
      `        publish: { allow: ${list(perms.publish)} }\n` +
      `        subscribe: { allow: ${list(perms.subscribe)} }\n` +
      // A liveness reply is several messages to one reply subject (ack, a heartbeat every liveness/4, the answer:
      // libs/bus/liveness.ts), so one response per request would cut every call after its ack. Still only to the
      // reply subject of a request the role received, for as long as a plugin call may take.
      `        allow_responses: { max: ${MAX_RESPONSES}, expires: "${RESPONSES_EXPIRE}" }\n      }\n    }`
    );
  });
  return (
    `# Generated by \`coffer operator bus-config\`. Each Coffer service role connects with its own nkey and may use\n` +
    `# only its own subjects (docs/security.md, "Cluster trust"). Add users here only with the same care.\n` +
    `listen: ${q(input.listen)}\n` +
    `tls {\n  cert_file: ${q(input.tls.certFile)}\n  key_file: ${q(input.tls.keyFile)}\n  timeout: 5\n}\n` +
    `authorization {\n  users: [\n${users.join('\n')}\n  ]\n}\n`
  );
}
