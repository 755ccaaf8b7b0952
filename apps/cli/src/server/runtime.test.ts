import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { InProcessBus } from '#bus';
import { Keyring } from '#barrier';
import { readTunables, type CofferConfig } from '#config';
import { BarrierLink, BarrierState, createLogger, type ServiceContext } from '#runtime';
import { startServices } from './runtime.js';

const silent = createLogger('test', 'silent');

/**
 * A process started into an unsealed cluster must not take requests while still sealed: it joins (fetches the
 * keyring from a member) before any service starts, so a service subscribes to its request subjects unsealed. The
 * starters here stand in for the real ones and record what the barrier was when they would have subscribed.
 */
describe('startServices', () => {
  const parts = (bus: InProcessBus, starters: NonNullable<Parameters<typeof startServices>[1]['starters']>) => ({
    config: {} as CofferConfig,
    tunables: readTunables({}),
    bus,
    // The fake starters never query: the store is not touched.
    dataSource: { driver: { schema: 'public' } } as unknown as DataSource,
    storageType: 'postgresql' as const,
    log: silent,
    starters,
  });
  const recording = (seen: string[]) => async (ctx: ServiceContext) => {
    seen.push(`${ctx.service} started ${ctx.barrier.sealed ? 'sealed' : 'unsealed'}`);
    ctx.barrier.onUnseal(() => void seen.push(`${ctx.service} unseal hook`));
    return { service: ctx.service, close: async () => undefined };
  };

  it('into an unsealed cluster: every service starts already unsealed', async () => {
    const bus = new InProcessBus();
    const member = new BarrierState(silent);
    const memberLink = new BarrierLink(member, bus, silent);
    await memberLink.start();
    await member.unseal(Keyring.create());

    const seen: string[] = [];
    const running = await startServices(['plugin-runner', 'gateway'], parts(bus, { 'plugin-runner': recording(seen), gateway: recording(seen) }));
    // Joined last (the old order), both would have started sealed and taken requests before the keyring came.
    assert.deepEqual(seen, ['plugin-runner started unsealed', 'gateway started unsealed']);
    assert.equal(running.barrier.sealed, false);
    await running.close();
    memberLink.stop();
    await bus.close();
  });

  it('into a sealed cluster: services start sealed and their hooks run when the cluster unseals', async () => {
    const bus = new InProcessBus();
    const seen: string[] = [];
    const running = await startServices(['plugin-runner'], parts(bus, { 'plugin-runner': recording(seen) }));
    assert.deepEqual(seen, ['plugin-runner started sealed']);

    const member = new BarrierState(silent);
    const memberLink = new BarrierLink(member, bus, silent);
    await memberLink.start();
    await member.unseal(Keyring.create());
    await memberLink.announceUnsealed();
    for (let i = 0; i < 200 && running.barrier.sealed; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(running.barrier.sealed, false);
    assert.deepEqual(seen, ['plugin-runner started sealed', 'plugin-runner unseal hook']);
    await running.close();
    memberLink.stop();
    await bus.close();
  });
});
