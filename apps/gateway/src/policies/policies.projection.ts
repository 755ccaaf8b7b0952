import type { EventOf } from '#contracts';
import type { Projection, StoredEvent } from '#event-store';

/** ACL policies by name, as written (HCL text); compiled on use (and cached) by the PolicyService. */
export interface PolicyState {
  policies: Record<string, string>;
}

/** Updates the state it is handed (replay stays linear); no I/O. */
export const policiesProjection: Projection<PolicyState> = {
  stream: 'acl-policies',
  initial: () => ({ policies: {} }),
  fold(state, event: StoredEvent) {
    const e = event as unknown as EventOf<'acl-policies'>;
    switch (e.type) {
      case 'PolicyWritten':
        state.policies[e.data.name] = e.data.policy;
        return state;
      case 'PolicyDeleted':
        delete state.policies[e.data.name];
        return state;
      default:
        return state;
    }
  },
};
