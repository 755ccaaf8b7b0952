/** What an event's bytes belong to. An encrypting codec binds it as associated data, so bytes cannot be moved. */
export interface EventContext {
  readonly stream: string;
  readonly version: number;
  readonly type: string;
}

/** Turns event data into the bytes stored in `coffer_events.data` and back. */
export interface EventCodec {
  encode(context: EventContext, data: unknown): Buffer;
  decode(context: EventContext, bytes: Buffer): unknown;
}

/** Plain JSON: until the barrier supplies its encrypting codec, and in tests. */
export const jsonCodec: EventCodec = {
  encode(context, data) {
    const json = JSON.stringify(data);
    if (json === undefined) throw new TypeError(`event ${context.type} has no JSON representation for its data`);
    return Buffer.from(json, 'utf8');
  },
  decode(_context, bytes) {
    return JSON.parse(bytes.toString('utf8'));
  },
};
