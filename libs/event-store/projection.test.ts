import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { jsonCodec } from './codec.js';
import { EventStore } from './event-store.js';
import { ProjectionKeeper, type Projection } from './projection.js';
import { openTestStore, uniqueName, type TestStore } from './testing.js';

interface Policies {
  /** Every version folded, in order: a version folded twice or skipped shows up here. */
  folded: number[];
  policies: Record<string, string>;
}

function policyProjection(stream: string): Projection<Policies> {
  return {
    stream,
    initial: () => ({ folded: [], policies: {} }),
    fold(state, event) {
      const { name, rules } = event.data as { name: string; rules?: string };
      const policies = { ...state.policies };
      if (event.type === 'PolicyWritten') policies[name] = rules ?? '';
      else delete policies[name];
      return { folded: [...state.folded, event.version], policies };
    },
  };
}

function policyEvents(batch: number) {
  return [
    { type: 'PolicyWritten', data: { name: `p${batch}`, rules: `path "kv/${batch}" {}` } },
    { type: 'PolicyWritten', data: { name: `q${batch}`, rules: 'path "*" {}' } },
    { type: 'PolicyDeleted', data: { name: `p${batch - 1}` } },
  ];
}

describe('ProjectionKeeper', () => {
  let db: TestStore;
  let store: EventStore;
  before(async () => {
    db = await openTestStore();
    // Small pages, so catch-ups and replays cross many page boundaries.
    store = new EventStore(db.dataSource, jsonCodec, { pageSize: 7 });
  });
  after(() => db.drop());

  test('kept live by catch-ups while events are appended, equals a replay from scratch', async () => {
    const stream = uniqueName('acl-policies');
    const live = new ProjectionKeeper(store, policyProjection(stream));
    const catchUps: Promise<number>[] = [];
    for (let batch = 0; batch < 40; batch++) {
      const appending = store.append(stream, batch * 3, policyEvents(batch));
      // Catch-ups overlap each other and the append, as broadcasts and timers would make them.
      catchUps.push(live.catchUp(), live.catchUp());
      await appending;
      catchUps.push(live.catchUp());
    }
    await Promise.all(catchUps);
    assert.equal(await live.catchUp(), 120);

    const replayed = new ProjectionKeeper(store, policyProjection(stream));
    assert.equal(await replayed.replay(), 120);
    assert.deepEqual(live.state, replayed.state);
    assert.equal(live.version, replayed.version);
    assert.deepEqual(live.state.folded, Array.from({ length: 120 }, (_, i) => i + 1));
    assert.equal(Object.keys(live.state.policies).length, 41);
  });

  test('a new stream gives the initial state at version 0', async () => {
    const keeper = new ProjectionKeeper(store, policyProjection(uniqueName('empty')));
    assert.equal(await keeper.replay(), 0);
    assert.deepEqual(keeper.state, { folded: [], policies: {} });
  });

  test('reset() forgets the state, and a catch-up that was reading meanwhile does not fold into it', async () => {
    const stream = uniqueName('sealed');
    for (let batch = 0; batch < 30; batch++) await store.append(stream, batch * 3, policyEvents(batch));
    const keeper = new ProjectionKeeper(store, policyProjection(stream));
    const interrupted = keeper.catchUp();
    await nextTurn(); // the first page is being read
    keeper.reset();
    assert.equal(await interrupted, 0);
    assert.deepEqual(keeper.state, { folded: [], policies: {} });

    assert.equal(await keeper.catchUp(), 90);
    const replayed = new ProjectionKeeper(store, policyProjection(stream));
    await replayed.replay();
    assert.deepEqual(keeper.state, replayed.state);
  });
});
