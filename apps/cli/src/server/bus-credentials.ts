import { readFileSync, statSync } from 'node:fs';
import type { NatsBusConfig } from '#config';

export interface BusCredentials {
  nkeySeed?: Uint8Array;
  membershipKey?: Buffer;
}

/**
 * Reads the bus credential files the config names. Each must be private to the service's user (no group or other
 * bits): a credential that another local user, a plugin's user included, could read is no credential, so the
 * server refuses to start and says which file and why.
 */
export function readBusCredentials(bus: NatsBusConfig): BusCredentials {
  const out: BusCredentials = {};
  if (bus.nkeySeedFile) {
    const seed = readPrivate(bus.nkeySeedFile, 'nkey_seed_file').toString('utf8').trim();
    if (!/^SU[A-Z2-7]{50,}$/.test(seed)) throw new Error(`nkey_seed_file ${bus.nkeySeedFile} does not hold a NATS user seed (SU...)`);
    out.nkeySeed = new TextEncoder().encode(seed);
  }
  if (bus.membershipKeyFile) {
    const key = Buffer.from(readPrivate(bus.membershipKeyFile, 'membership_key_file').toString('utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`membership_key_file ${bus.membershipKeyFile} must hold 32 bytes in base64`);
    out.membershipKey = key;
  }
  return out;
}

function readPrivate(path: string, key: string): Buffer {
  const st = statSync(path);
  if ((st.mode & 0o077) !== 0) {
    throw new Error(`${key} ${path} has permissions ${(st.mode & 0o777).toString(8)}: it must be readable by its owner only (chmod 600)`);
  }
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new Error(`${key} ${path} is owned by uid ${st.uid}, not by this server's user (${process.getuid()})`);
  }
  return readFileSync(path);
}
