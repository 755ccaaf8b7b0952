import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessBus } from '#bus';
import { runnerSubjects } from '#contracts';
import { RunnerRing, ownerOf } from './runner-ring.js';

const mounts = Array.from({ length: 10_000 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
const runners = Array.from({ length: 10 }, (_, i) => `plugin-runner-${i.toString(16).padStart(8, '0')}`);

describe('mount affinity: rendezvous hashing over the live runners', () => {
  it('shares 10,000 mounts among 10 runners evenly', () => {
    const counts = new Map<string, number>();
    for (const m of mounts) {
      const o = ownerOf(m, runners)!;
      counts.set(o, (counts.get(o) ?? 0) + 1);
    }
    assert.equal(counts.size, 10);
    for (const [runner, n] of counts) assert.ok(n > 850 && n < 1150, `${runner} serves ${n} of 10,000`);
  });

  it('moves only the mounts of a runner that leaves, and only those of a runner that comes back', () => {
    const before = new Map(mounts.map((m) => [m, ownerOf(m, runners)!]));
    const gone = runners[3];
    const after = new Map(mounts.map((m) => [m, ownerOf(m, runners.filter((r) => r !== gone))!]));
    let moved = 0;
    for (const m of mounts) {
      if (before.get(m) !== after.get(m)) {
        moved++;
        assert.equal(before.get(m), gone, 'a mount moves only if its runner left');
      }
    }
    assert.ok(moved > 850 && moved < 1150, `about 1/10 of the mounts moved: ${moved}`);
    for (const m of mounts) assert.equal(ownerOf(m, runners), before.get(m), 'the same runners give the same owner, in any order');
    assert.equal(ownerOf(mounts[0], []), undefined);
  });

  it('hears presence, forgets a runner that leaves, goes silent or is suspected, and takes it back when it speaks', async () => {
    const bus = new InProcessBus();
    let now = 0;
    const ring = new RunnerRing(bus, 1_000, () => now);
    try {
      assert.equal(ring.owner(mounts[0]), undefined, 'no runner known: the queue group');
      bus.publish(runnerSubjects.presence, { instance: 'plugin-runner-a', state: 'serving' });
      bus.publish(runnerSubjects.presence, { instance: 'plugin-runner-b', state: 'serving' });
      bus.publish(runnerSubjects.presence, { instance: 'bad.subject.token', state: 'serving' });
      bus.publish(runnerSubjects.presence, { instance: 'plugin-runner-c', state: 'dancing' });
      await bus.flush();
      await bus.flush();
      assert.deepEqual(ring.runners, ['plugin-runner-a', 'plugin-runner-b']);
      const owner = ring.owner(mounts[0])!;
      assert.equal(owner, ownerOf(mounts[0], ['plugin-runner-a', 'plugin-runner-b']));
      const other = owner === 'plugin-runner-a' ? 'plugin-runner-b' : 'plugin-runner-a';

      ring.suspect(owner);
      assert.equal(ring.owner(mounts[0]), other, 'a suspected runner\'s mounts go to the next');
      bus.publish(runnerSubjects.presence, { instance: owner, state: 'serving' });
      await bus.flush();
      await bus.flush();
      assert.equal(ring.owner(mounts[0]), owner, 'heard again: it serves its mounts again');

      bus.publish(runnerSubjects.presence, { instance: owner, state: 'leaving' });
      await bus.flush();
      await bus.flush();
      assert.equal(ring.owner(mounts[0]), other);

      // Three periods without a word: gone (the sweep runs on its own timer; `expire` is what it calls).
      now = 3_500;
      (ring as unknown as { expire(): void }).expire();
      assert.deepEqual(ring.runners, []);
      assert.equal(ring.owner(mounts[0]), undefined);
    } finally {
      ring.close();
      await bus.close();
    }
  });
});
