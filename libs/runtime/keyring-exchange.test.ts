import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Keyring } from '../barrier/index.js';
import { InProcessBus } from '../bus/in-process-bus.js';
import { BarrierLink, BarrierState } from './barrier-state.js';
import { ExchangeError, KeyringRequester, openFromMember, sealForMembers, sealKeyringFor } from './keyring-exchange.js';
import { createLogger } from './logger.js';

const silent = createLogger('test', 'silent');

/** True when `haystack` holds `needle` raw, in base64 or in hex. */
function contains(haystack: string, needle: Buffer): boolean {
  return haystack.includes(needle.toString('base64')) || haystack.includes(needle.toString('hex')) || Buffer.from(haystack).includes(needle);
}

describe('keyring exchange', () => {
  it('opens for the requester only, and never shows the keyring', () => {
    const keyring = randomBytes(80);
    const requester = new KeyringRequester();
    const answer = sealKeyringFor(requester.request(), keyring);
    assert.ok(!contains(JSON.stringify(answer), keyring));
    assert.deepEqual(requester.open(answer), keyring);
    assert.throws(() => new KeyringRequester().open(answer), ExchangeError, 'another key pair cannot open it');
  });

  it('with a membership key: a request without the proof is refused, an answer from a non-member does not open', () => {
    const member = randomBytes(32);
    const keyring = randomBytes(80);
    assert.throws(() => sealKeyringFor(new KeyringRequester().request(), keyring, member), /membership proof/);
    assert.throws(() => sealKeyringFor(new KeyringRequester(randomBytes(32)).request(), keyring, member), /membership proof/);
    const requester = new KeyringRequester(member);
    const forged = sealKeyringFor({ ...requester.request(), proof: undefined }, randomBytes(80));
    assert.throws(() => requester.open(forged), ExchangeError);
    assert.deepEqual(requester.open(sealKeyringFor(requester.request(), keyring, member)), keyring);
  });

  it('refuses malformed and small-order public keys', () => {
    assert.throws(() => sealKeyringFor(null, randomBytes(8)), ExchangeError);
    assert.throws(() => sealKeyringFor({ v: 1, publicKey: Buffer.alloc(32).toString('base64') }, randomBytes(8)), ExchangeError);
    assert.throws(() => sealKeyringFor({ v: 1, publicKey: 'AAAA' }, randomBytes(8)), ExchangeError);
  });
});

describe('BarrierLink', () => {
  it('a process started into an unsealed cluster joins it, and a full subscriber sees no keyring bytes', async () => {
    const bus = new InProcessBus();
    const heard: string[] = [];
    // A listener that never answers (an answer would win the request): it only records what crosses.
    bus.subscribe('coffer.>', (data, subject) => (heard.push(`${subject} ${JSON.stringify(data)}`), new Promise(() => undefined)));
    const a = new BarrierState(silent);
    const linkA = new BarrierLink(a, bus, silent);
    await linkA.start();
    const keyring = Keyring.create();
    const secret = keyring.serialize();
    await a.unseal(Keyring.parse(keyring.serialize()));
    linkA.announceUnsealed();

    const b = new BarrierState(silent);
    const linkB = new BarrierLink(b, bus, silent);
    await linkB.start();
    assert.equal(b.sealed, false, 'joined');
    assert.deepEqual(b.keyringBytes(), secret);

    const c = new BarrierState(silent);
    const linkC = new BarrierLink(c, bus, silent, { membershipKey: randomBytes(32) });
    await linkC.start();
    assert.equal(c.sealed, true, 'a process with another membership key gets nothing');

    await new Promise((r) => setTimeout(r, 20));
    assert.ok(heard.some((h) => h.startsWith('coffer.barrier.keyring')), 'the exchange was heard');
    for (const h of heard) assert.ok(!contains(h, secret), `no keyring bytes in ${h.slice(0, 60)}`);
    for (const l of [linkA, linkB, linkC]) l.stop();
    await bus.close();
  });

  it('the unseal broadcast makes sealed processes ask for the keyring', async () => {
    const bus = new InProcessBus();
    const a = new BarrierState(silent);
    const b = new BarrierState(silent);
    const linkA = new BarrierLink(a, bus, silent);
    const linkB = new BarrierLink(b, bus, silent);
    await linkA.start();
    await linkB.start();
    assert.equal(b.sealed, true);
    await a.unseal(Keyring.create());
    linkA.announceUnsealed();
    for (let i = 0; i < 100 && b.sealed; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(b.sealed, false);
    linkA.announceSealed();
    for (let i = 0; i < 100 && !b.sealed; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(b.sealed, true);
    linkA.stop();
    linkB.stop();
    await bus.close();
  });
});

describe('secrets broadcast to members (unseal shares)', () => {
  it('open only under the same membership key, and never show the plaintext', () => {
    const key = randomBytes(32);
    const share = Buffer.from('a share of the root key, 33 bytes.');
    const sealed = sealForMembers(share, key);
    assert.ok(!sealed.includes(share.toString('base64')));
    assert.ok(!Buffer.from(sealed).includes(share));
    assert.deepEqual(openFromMember(sealed, key), share);
    assert.throws(() => openFromMember(sealed, randomBytes(32)), ExchangeError);
    // with a membership key, a plain (or forged) share is refused, not taken
    assert.throws(() => openFromMember(share.toString('base64'), key), ExchangeError);
    assert.throws(() => openFromMember(sealed.slice(0, -4) + 'AAAA', key), ExchangeError);
  });

  it('travel as base64 when the cluster has no membership key', () => {
    const share = randomBytes(33);
    assert.equal(sealForMembers(share), share.toString('base64'));
    assert.deepEqual(openFromMember(share.toString('base64')), share);
    assert.throws(() => openFromMember(sealForMembers(share, randomBytes(32))), ExchangeError);
  });
});
