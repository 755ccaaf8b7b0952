import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { CofferError, type EventActor, type EventOf } from '#contracts';
import { ProjectionHost, SERVICE_CONTEXT, type ServiceContext } from '#runtime';
import {
  Acl,
  DEFAULT_POLICY_NAME,
  DEFAULT_POLICY_TEXT,
  ROOT_POLICY,
  ROOT_POLICY_NAME,
  RESPONSE_WRAPPING_POLICY_NAME,
  RESPONSE_WRAPPING_POLICY_TEXT,
  assertPolicyDeletable,
  assertPolicyWritable,
  parsePolicy,
  type Policy,
} from '../acl/index.js';
import { policiesProjection, type PolicyState } from './policies.projection.js';

/**
 * ACL policies: written as events on the `acl-policies` stream, read from its projection, compiled once per text.
 * `default` exists until someone overwrites it; `root` is built in and can be neither written nor deleted.
 */
@Injectable()
export class PolicyService implements OnModuleDestroy {
  readonly host: ProjectionHost<PolicyState>;
  /** Compiled policies by hash of (name, text): a rewrite compiles anew, an unchanged policy never twice. */
  private readonly compiled = new Map<string, Policy>();
  /** ACLs by the sorted policy names and the stream version they were built at. */
  private readonly acls = new Map<string, Acl>();

  constructor(@Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext) {
    this.host = ProjectionHost.of(ctx, policiesProjection);
  }

  start(): Promise<void> {
    return this.host.start();
  }

  onModuleDestroy(): void {
    this.host.stop();
  }

  names(): string[] {
    const names = new Set([DEFAULT_POLICY_NAME, ...Object.keys(this.host.state.policies)]);
    return [...names].sort();
  }

  text(name: string): string | undefined {
    // Immutable, so never in the stream: the text is built in.
    if (name === RESPONSE_WRAPPING_POLICY_NAME) return RESPONSE_WRAPPING_POLICY_TEXT;
    if (name === DEFAULT_POLICY_NAME) return this.host.state.policies[name] ?? DEFAULT_POLICY_TEXT;
    return this.host.state.policies[name];
  }

  async write(name: string, text: unknown, actor?: EventActor): Promise<void> {
    const normalized = assertPolicyWritable(name);
    if (typeof text !== 'string' || text.trim() === '') throw new CofferError('invalid-request', "'policy' parameter not supplied or empty");
    await parsePolicy(normalized, text);
    await this.append({ type: 'PolicyWritten', data: { v: 1, name: normalized, policy: text } }, actor);
  }

  async delete(name: string, actor?: EventActor): Promise<void> {
    const normalized = assertPolicyDeletable(name);
    if (this.host.state.policies[normalized] === undefined) return;
    await this.append({ type: 'PolicyDeleted', data: { v: 1, name: normalized } }, actor);
  }

  /** The ACL of a set of policy names; names with no policy behind them grant nothing, as in Vault. */
  async acl(names: readonly string[]): Promise<Acl> {
    const key = `${this.host.keeper.version}:${[...names].sort().join(',')}`;
    const cached = this.acls.get(key);
    if (cached) return cached;
    const policies: Policy[] = [];
    for (const name of names) {
      if (name === ROOT_POLICY_NAME) {
        policies.push(ROOT_POLICY as Policy);
        continue;
      }
      const text = this.text(name);
      if (text !== undefined) policies.push(await this.compile(name, text));
    }
    const acl = new Acl(policies);
    if (this.acls.size > 1_000) this.acls.clear();
    this.acls.set(key, acl);
    return acl;
  }

  private async compile(name: string, text: string): Promise<Policy> {
    const hash = createHash('sha256').update(name).update('\0').update(text).digest('hex');
    let policy = this.compiled.get(hash);
    if (!policy) {
      policy = await parsePolicy(name, text);
      this.compiled.set(hash, policy);
    }
    return policy;
  }

  private async append(event: EventOf<'acl-policies'>, actor: EventActor | undefined): Promise<void> {
    await this.host.decideAndAppend(this.ctx.events, () => [{ ...event, metadata: { ...actor } }]);
  }

}
