import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CofferError } from '../contracts/errors.js';
import { createLogger } from '../runtime/logger.js';
import { subjectKind, type Bus } from './bus.js';
import { InProcessBus } from './in-process-bus.js';
import { NatsBus } from './nats-bus.js';
import { subjectMatches } from './subject.js';

const NATS_URL = process.env.COFFER_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const silent = createLogger('test', 'silent');

/**
 * One contract, two transports: the dev server's in-process bus must behave as NATS does, so every case runs
 * against both (the NATS one against the real server).
 */
function contract(name: string, open: () => Promise<Bus[]>) {
  describe(`${name} bus`, () => {
    let a: Bus;
    let b: Bus;
    // Subjects are unique per run so concurrent runs on one NATS server never hear each other.
    const p = `coffer.test.${process.pid}.${Date.now().toString(36)}.${name}`;

    before(async () => {
      [a, b] = await open();
    });
    after(async () => {
      await a.close();
      if (b !== a) await b.close();
    });

    it('answers a request with the handler result', async () => {
      const sub = b.subscribe(`${p}.echo`, (data) => ({ echoed: data }), { queue: 'q' });
      await b.flush();
      assert.deepEqual(await a.request(`${p}.echo`, { x: 1 }), { echoed: { x: 1 } });
      sub.unsubscribe();
    });

    it('a subscriber added or removed after traffic on a subject is heard, or not, from then on', async () => {
      const heard: string[] = [];
      const s1 = b.subscribe(`${p}.late`, () => (heard.push('first'), 'first'));
      await b.flush();
      assert.equal(await a.request(`${p}.late`, null), 'first');
      s1.unsubscribe();
      const s2 = b.subscribe(`${p}.late`, () => (heard.push('second'), 'second'));
      await b.flush();
      assert.equal(await a.request(`${p}.late`, null), 'second', 'the subject\'s subscribers are looked up again');
      s2.unsubscribe();
      await b.flush();
      await assert.rejects(a.request(`${p}.late`, null, { timeoutMs: 500 }));
      assert.deepEqual(heard, ['first', 'second']);
    });

    it('spreads requests over a queue group, one member each', async () => {
      const seen: string[] = [];
      const s1 = b.subscribe(`${p}.work`, () => (seen.push('one'), 'one'), { queue: 'workers' });
      const s2 = a.subscribe(`${p}.work`, () => (seen.push('two'), 'two'), { queue: 'workers' });
      await Promise.all([a.flush(), b.flush()]);
      const answers = await Promise.all(Array.from({ length: 40 }, () => a.request<string>(`${p}.work`, null)));
      assert.equal(seen.length, 40, 'each request reached exactly one member');
      if (name === 'in-process') assert.deepEqual(new Set(answers), new Set(['one', 'two']));
      s1.unsubscribe();
      s2.unsubscribe();
    });

    it('broadcasts a publish to every plain subscriber', async () => {
      const heard: string[] = [];
      let resolveAll!: () => void;
      const all = new Promise<void>((r) => (resolveAll = r));
      const hear = (who: string) => () => {
        heard.push(who);
        if (heard.length === 2) resolveAll();
      };
      const s1 = a.subscribe(`${p}.news`, hear('a'));
      const s2 = b.subscribe(`${p}.news`, hear('b'));
      await Promise.all([a.flush(), b.flush()]);
      a.publish(`${p}.news`, { v: 1 });
      await all;
      assert.deepEqual(heard.sort(), ['a', 'b']);
      s1.unsubscribe();
      s2.unsubscribe();
    });

    it('tells request observers the subject, a duration and how each request ended', async () => {
      const seen: [string, string][] = [];
      let durations = 0;
      const stop = a.observeRequests((subject, seconds, outcome) => {
        seen.push([subject, outcome]);
        if (seconds >= 0 && Number.isFinite(seconds)) durations++;
      });
      const ok = b.subscribe(`${p}.observed-ok`, () => 'fine', { queue: 'q' });
      const bad = b.subscribe(`${p}.observed-bad`, () => {
        throw new CofferError('invalid-request', 'no');
      });
      await b.flush();
      await a.request(`${p}.observed-ok`, null);
      await assert.rejects(a.request(`${p}.observed-bad`, null));
      await assert.rejects(a.request(`${p}.observed-nobody`, null, { timeoutMs: 2_000 }));
      stop();
      await a.request(`${p}.observed-ok`, null);
      assert.deepEqual(seen, [
        [`${p}.observed-ok`, 'ok'],
        [`${p}.observed-bad`, 'error'],
        [`${p}.observed-nobody`, 'unavailable'],
      ]);
      assert.equal(durations, 3);
      ok.unsubscribe();
      bad.unsubscribe();
    });

    it('carries a CofferError back with its code and message', async () => {
      const sub = b.subscribe(`${p}.fail`, () => {
        throw new CofferError('invalid-request', 'bad thing');
      });
      await b.flush();
      await assert.rejects(a.request(`${p}.fail`, null), (e: unknown) => {
        assert.ok(e instanceof CofferError);
        assert.equal(e.code, 'invalid-request');
        assert.equal(e.message, 'bad thing');
        return true;
      });
      sub.unsubscribe();
    });

    it('hides the text of unexpected errors', async () => {
      const sub = b.subscribe(`${p}.boom`, () => {
        throw new Error('password=hunter2 leaked from a stack');
      });
      await b.flush();
      await assert.rejects(a.request(`${p}.boom`, null), (e: unknown) => {
        assert.ok(e instanceof CofferError);
        assert.equal(e.code, 'internal');
        assert.doesNotMatch(e.message, /hunter2/);
        return true;
      });
      sub.unsubscribe();
    });

    it('fails fast with unavailable when nobody listens', async () => {
      await assert.rejects(a.request(`${p}.nobody`, null, { timeoutMs: 2_000 }), (e: unknown) => {
        assert.ok(e instanceof CofferError);
        assert.equal(e.code, 'unavailable');
        return true;
      });
    });

    it('times out with unavailable when the handler never answers', async () => {
      const sub = b.subscribe(`${p}.slow`, () => new Promise(() => undefined));
      await b.flush();
      await assert.rejects(a.request(`${p}.slow`, null, { timeoutMs: 200 }), (e: unknown) => {
        assert.ok(e instanceof CofferError);
        assert.equal(e.code, 'unavailable');
        assert.match(e.message, /within 200 ms/);
        return true;
      });
      sub.unsubscribe();
    });

    it('delivers copies: a handler cannot mutate the sender\'s object', async () => {
      const sub = b.subscribe(`${p}.mutate`, (data) => {
        (data as { n: number }).n = 99;
        return data;
      });
      await b.flush();
      const sent = { n: 1 };
      const got = await a.request<{ n: number }>(`${p}.mutate`, sent);
      assert.equal(sent.n, 1);
      assert.equal(got.n, 99);
      sub.unsubscribe();
    });
  });
}

contract('in-process', async () => {
  const bus = new InProcessBus();
  return [bus, bus];
});

contract('nats', async () => [
  await NatsBus.connect({ url: NATS_URL, name: 'bus-test-a', log: silent }),
  await NatsBus.connect({ url: NATS_URL, name: 'bus-test-b', log: silent }),
]);

// The contract again, on a namespace: everything a cluster does must work the same inside one.
contract('nats-namespaced', async () => {
  const namespace = `t${process.pid}${Date.now().toString(36)}`;
  return [
    await NatsBus.connect({ url: NATS_URL, name: 'bus-test-ns-a', namespace, log: silent }),
    await NatsBus.connect({ url: NATS_URL, name: 'bus-test-ns-b', namespace, log: silent }),
  ];
});

describe('NATS namespaces', () => {
  it('keep clusters on one NATS server apart, and handlers see the subjects as the contracts spell them', async () => {
    const tag = `${process.pid}${Date.now().toString(36)}`;
    const blue = await NatsBus.connect({ url: NATS_URL, name: 'ns-blue', namespace: `blue${tag}`, log: silent });
    const green = await NatsBus.connect({ url: NATS_URL, name: 'ns-green', namespace: `green${tag}`, log: silent });
    const plain = await NatsBus.connect({ url: NATS_URL, name: 'ns-plain', log: silent });
    try {
      const subject = `coffer.ns-test-${tag}.status`;
      const seen: string[] = [];
      const answer = (who: string) => (_: unknown, s: string) => (seen.push(`${who}:${s}`), who);
      const subs = [blue.subscribe(subject, answer('blue')), green.subscribe(subject, answer('green'))];
      await Promise.all([blue.flush(), green.flush()]);
      assert.equal(await blue.request(subject, null), 'blue');
      assert.equal(await green.request(subject, null), 'green');
      await assert.rejects(plain.request(subject, null, { timeoutMs: 500 }), 'a process without the namespace hears nobody');
      assert.deepEqual(seen.sort(), [`blue:${subject}`, `green:${subject}`]);
      for (const sub of subs) sub.unsubscribe();
    } finally {
      await Promise.all([blue.close(), green.close(), plain.close()]);
    }
  });
});

describe('subjectKind', () => {
  it('is <service>.<verb> of a contracts subject, with nothing further', () => {
    assert.equal(subjectKind('coffer.plugin-runner.handle'), 'plugin-runner.handle');
    assert.equal(subjectKind('coffer.census.reply.abc123'), 'census.reply');
    assert.equal(subjectKind('$SRV.PING'), 'other');
  });
});

describe('subject matching', () => {
  it('follows NATS wildcards', () => {
    assert.ok(subjectMatches('coffer.events.*', 'coffer.events.mount-table'));
    assert.ok(!subjectMatches('coffer.events.*', 'coffer.events.a.b'));
    assert.ok(subjectMatches('coffer.>', 'coffer.events.a.b'));
    assert.ok(!subjectMatches('coffer.>', 'coffer'));
    assert.ok(!subjectMatches('coffer.a', 'coffer.b'));
  });
});
