import type { AuditDeviceEnabledV1, EventOf } from '#contracts';
import type { Projection, StoredEvent } from '#event-store';

export type AuditDevice = Omit<AuditDeviceEnabledV1, 'v'>;

/** The enabled audit devices by path (ending in `/`), salts included: it exists only while unsealed. */
export interface AuditDevicesState {
  devices: Record<string, AuditDevice>;
}

/** A pure fold of the `audit-devices` stream, the same on every gateway. */
export const auditDevicesProjection: Projection<AuditDevicesState> = {
  stream: 'audit-devices',
  initial: () => ({ devices: {} }),
  fold(state, event: StoredEvent) {
    const e = event as unknown as EventOf<'audit-devices'>;
    switch (e.type) {
      case 'AuditDeviceEnabled': {
        const { v: _v, ...device } = e.data;
        return { devices: { ...state.devices, [device.path]: device } };
      }
      case 'AuditDeviceDisabled': {
        const { [e.data.path]: _gone, ...rest } = state.devices;
        return { devices: rest };
      }
      default:
        return state;
    }
  },
};
