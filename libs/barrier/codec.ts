import { CofferError, sealedError } from '../contracts/errors.js';
import type { EventCodec, EventContext } from '../event-store/codec.js';
import type { Barrier } from './types.js';

/**
 * Where an event's bytes belong, as associated data. NUL separates the parts, so NUL inside a stream or type name
 * is refused: with it two different contexts could spell the same aad.
 */
export function eventAad(context: EventContext): string {
  const { stream, version, type } = context;
  if (typeof stream !== 'string' || stream.includes('\0')) {
    throw new CofferError('internal', 'barrier codec: a stream name must be a string without NUL');
  }
  if (typeof type !== 'string' || type.includes('\0')) {
    throw new CofferError('internal', 'barrier codec: an event type must be a string without NUL');
  }
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new CofferError('internal', 'barrier codec: an event version must be a non-negative integer');
  }
  return `event\0${stream}\0${version}\0${type}`;
}

/**
 * Event data as JSON encrypted by the barrier, bound to its stream, version and type: stored bytes copied to
 * another stream or position, or relabelled, fail to decrypt instead of replaying as something else. `current` is
 * asked on every call because the barrier comes and goes with unseal and seal.
 */
export function barrierCodec(current: () => Barrier | undefined): EventCodec {
  const barrier = (): Barrier => {
    const b = current();
    if (!b) throw sealedError();
    return b;
  };
  return {
    encode(context, data) {
      const b = barrier();
      const json = JSON.stringify(data);
      if (json === undefined) throw new TypeError(`event ${context.type} has no JSON representation for its data`);
      const plaintext = Buffer.from(json, 'utf8');
      try {
        return b.encrypt(plaintext, eventAad(context));
      } finally {
        plaintext.fill(0);
      }
    },
    decode(context, bytes) {
      const plaintext = barrier().decrypt(bytes, eventAad(context));
      try {
        return JSON.parse(plaintext.toString('utf8'));
      } finally {
        plaintext.fill(0);
      }
    },
  };
}
