import type { AclOperation } from '../acl/index.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { MountRouting } from '../mounts/mount-routing.js';
import type { Operation } from '../vault-http.js';
import { permissionDenied, unsupportedOperation } from './edge-errors.js';
import type { Exchange, Stage } from './exchange.js';

/**
 * Stage 4, authorize: the final operation first (Vault's existence check turns an update of something absent into a
 * create, which the ACL judges separately), then the caller's ACL on the path and the request data, with sudo where
 * the route needs it. A path nobody serves is still checked, so a token that may not touch it learns nothing; a
 * verb the route does not serve is a 405 before the ACL, as Vault's router answers it.
 *
 * A write to a mount does not wait for the existence check: the ACL judges it as a create and as an update here, in
 * memory, and the request goes to the runner once with both verdicts (`x.write`); the runner has the plugin check
 * and write in one call and refuses with the same 403 when the check picks an operation the ACL denied. Refused as
 * both, it never leaves the gateway. While an audit device is enabled the check still comes first, on its own trip:
 * the request entry, written before anything runs, records the final operation, as Vault's does.
 */
export class AuthorizeStage implements Stage {
  readonly name = 'authorize';

  constructor(
    private readonly auth: Pick<Authenticator, 'authorize' | 'allows'>,
    private readonly mounts: Pick<MountRouting, 'operationFor' | 'normalize'>,
    /** Whether an audit device is enabled now: the request entry then needs the final operation before it runs. */
    private readonly audited: () => boolean = () => false,
  ) {}

  async run(x: Exchange): Promise<void> {
    const { req, caller, target } = x;
    if (x.edge.help) {
      this.auth.authorize(caller!, req, 'help', false);
      return;
    }
    let sudo = false;
    // The ACL judges the path the handler will act on: names normalized as the handler normalizes them.
    let judged = req.path;
    if (target?.kind === 'own') {
      const { route, params } = target;
      if (req.operation === 'update' && route.exists && !route.exists(params)) req.operation = 'create';
      if (!route.operations[req.operation]) throw unsupportedOperation(route.plain === true);
      sudo = route.sudo === true || (Array.isArray(route.sudo) && route.sudo.includes(req.operation));
      if (route.normalize) judged = route.normalize(params);
    } else if (target?.kind === 'mount') {
      const normalized = await this.mounts.normalize(target.mounted);
      if (normalized.relative !== target.mounted.relative) {
        // The plugin then sees the folded path too: what it acts on is what the ACL allowed.
        req.path = req.path.slice(0, req.path.length - target.mounted.relative.length) + normalized.relative;
        target.mounted = normalized;
        judged = req.path;
      }
      if (req.operation === 'update' && !this.audited()) {
        const judgedReq = judged === req.path ? req : { ...req, path: judged };
        const write = {
          create: !caller || this.auth.allows(caller, judgedReq, 'create', false),
          update: !caller || this.auth.allows(caller, judgedReq, 'update', false),
        };
        if (!write.create && !write.update) throw permissionDenied();
        x.write = write;
        return;
      }
      // What exists can depend on who asks (a cubbyhole is per token), so the check carries the caller's accessor.
      req.operation = await this.mounts.operationFor(target.mounted, req, caller?.token.accessor ?? '');
    }
    if (caller) this.auth.authorize(caller, judged === req.path ? req : { ...req, path: judged }, aclOperation(req.operation), sudo);
  }
}

function aclOperation(operation: Operation): AclOperation {
  return operation === 'head' ? 'read' : operation;
}
