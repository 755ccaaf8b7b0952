import { Injectable } from '@nestjs/common';
import { CofferError } from '#contracts';
import type { VaultRequest, VaultResponse } from '../vault-http.js';
import { actorOf } from '../audit/actor.js';
import { PolicyService } from './policy.service.js';

/** `sys/policies/acl/*` and the older `sys/policy/*`, in Vault's shapes. */
@Injectable()
export class PolicyHandlers {
  constructor(private readonly policies: PolicyService) {}

  list(): VaultResponse {
    return { kind: 'envelope', data: { keys: this.policies.names() } };
  }

  /** `GET sys/policy`: Vault lists `root` there too and repeats data at the top level. */
  listLegacy(): VaultResponse {
    const names = [...this.policies.names(), 'root'].sort();
    return { kind: 'envelope', data: { keys: names, policies: names }, topLevel: true };
  }

  read(name: string, legacy: boolean): VaultResponse {
    const text = this.policies.text(name.toLowerCase());
    if (text === undefined) throw new CofferError('not-found', '');
    return legacy
      ? { kind: 'envelope', data: { name: name.toLowerCase(), rules: text }, topLevel: true }
      : { kind: 'envelope', data: { name: name.toLowerCase(), policy: text } };
  }

  async write(req: VaultRequest, name: string, legacy: boolean): Promise<VaultResponse> {
    const text = legacy ? (req.data.rules ?? req.data.policy) : req.data.policy;
    await this.policies.write(name, text, actorOf(req));
    return { kind: 'empty' };
  }

  async delete(req: VaultRequest, name: string): Promise<VaultResponse> {
    await this.policies.delete(name, actorOf(req));
    return { kind: 'empty' };
  }
}
