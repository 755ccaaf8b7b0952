import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceName } from '#contracts';
import { Cluster } from './support/cluster.js';
import { OwnNatsServer } from './support/nats-server.js';
import { OwnPostgres } from './support/own-postgres.js';
import { REPO_ROOT } from './support/paths.js';

/**
 * Issue 15's fault suite: the services as processes (two gateways, catalog, mount-manager, two plugin-runners) on a
 * nats-server and a Postgres cluster of this test's own, under a bounded load, while faults are injected one after
 * the other. Per fault it reports requests sent, acknowledged and failed, and the longest stall (no successful
 * answer) after the fault ends, which must stay within 5 s; at the end every acknowledged write is read back.
 * docs/operations.md ("Fault suite") has the figures of a run.
 */

/** Requests in flight at any moment: a fixed-concurrency client, as a pool of application workers would be. */
const CONCURRENCY = 8;
/** After a failed request a worker waits this long, so a dead gateway (refused at once) is not hammered. */
const FAILURE_PAUSE_MS = 100;
/** The issue's bound: after the fault ends, no gap between successful answers is longer than this. */
const STALL_BOUND_MS = 5_000;
/** How long the load runs after the heal: longer than the bound, so a stall past it would be seen. */
const OBSERVE_MS = 5_500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Tally {
  sent: number;
  acknowledged: number;
  failed: number;
  /** Of the failed, those sent after the fault was healed. */
  failedAfterHeal: number;
  /** Why requests failed (status and first error, or the fetch error), with counts: the diagnostics a red run needs. */
  reasons: Map<string, number>;
}

/**
 * Writes numbered values to the mock plugin through both gateways in turn and reads back ones already
 * acknowledged, CONCURRENCY requests at a time. Each request is counted in the phase it was sent in.
 */
class Load {
  private running = false;
  private workers: Promise<void>[] = [];
  private next = 0;
  /** Every write answered 2xx: key -> value. Read back at the end. */
  readonly acknowledged = new Map<string, string>();
  private readonly ackedKeys: string[] = [];
  /** When each successful answer arrived (ms since epoch), across phases. */
  readonly successes: number[] = [];
  /** A read of an acknowledged key that answered 200 with another value, or 404: a loss seen live. */
  readonly wrongReads: string[] = [];
  /**
   * Answers that deny what exists: the mount (`no handler for route`) or its plugin (`plugin not found`). A process
   * unsealing or starting answers `Vault is sealed` until it has replayed them (BarrierState.ready).
   */
  readonly misleading: string[] = [];
  tally: Tally = newTally();
  /** Set at the heal: a request sent from then on that fails counts in failedAfterHeal. */
  healedAt = Infinity;

  constructor(
    private readonly gateways: string[],
    readonly headers: Record<string, string>,
  ) {}

  start(): void {
    this.running = true;
    for (let w = 0; w < CONCURRENCY; w++) this.workers.push(this.worker());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
    this.workers = [];
  }

  /** Starts counting into a fresh tally and returns the one that ends. */
  rotate(): Tally {
    const ended = this.tally;
    this.healedAt = Infinity;
    this.tally = newTally();
    return ended;
  }

  private async worker(): Promise<void> {
    while (this.running) {
      const n = this.next++;
      const base = this.gateways[n % this.gateways.length]!;
      const tally = this.tally;
      const afterHeal = Date.now() >= this.healedAt;
      tally.sent++;
      const read = n % 3 === 2 && this.ackedKeys.length > 0;
      const key = read ? this.ackedKeys[Math.floor(Math.random() * this.ackedKeys.length)]! : `w${n}`;
      const value = read ? this.acknowledged.get(key)! : `v${n}`;
      let ok = false;
      try {
        const res = await fetch(`${base}/v1/m/kv/${key}`, {
          method: read ? 'GET' : 'PUT',
          headers: this.headers,
          body: read ? undefined : JSON.stringify({ value }),
          // Far above any stall the suite allows: only a hung request reaches it, and that is a finding.
          signal: AbortSignal.timeout(45_000),
        });
        const text = await res.text();
        if (res.status === 200) {
          ok = true;
          if (read) {
            const got = (JSON.parse(text) as { data?: { value?: string } }).data?.value;
            if (got !== value) this.wrongReads.push(`${key}: read ${got}, acknowledged ${value}`);
          } else {
            this.acknowledged.set(key, value);
            this.ackedKeys.push(key);
          }
        } else {
          const error = firstError(text);
          // The plugin's 404 says the key is gone; the gateway's "no handler for route" only that it lacks the mount.
          if (/^no handler for route|^plugin not found/.test(error)) this.misleading.push(`${res.status} ${error}`);
          else if (read && res.status === 404) this.wrongReads.push(`${key}: 404 after it was acknowledged`);
          count(tally.reasons, `${afterHeal ? 'after heal: ' : ''}${res.status} ${error}`);
        }
      } catch (err) {
        count(tally.reasons, `${afterHeal ? 'after heal: ' : ''}fetch: ${(err as Error).cause ? String((err as Error & { cause: Error }).cause.message) : (err as Error).message}`);
      }
      if (ok) {
        tally.acknowledged++;
        this.successes.push(Date.now());
      } else {
        tally.failed++;
        if (afterHeal) tally.failedAfterHeal++;
        await sleep(FAILURE_PAUSE_MS);
      }
    }
  }
}

function newTally(): Tally {
  return { sent: 0, acknowledged: 0, failed: 0, failedAfterHeal: 0, reasons: new Map() };
}

function count(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function firstError(text: string): string {
  try {
    return String((JSON.parse(text) as { errors?: string[] }).errors?.[0] ?? text.slice(0, 80));
  } catch {
    return text.slice(0, 80);
  }
}

/** The longest time in [from, to] with no successful answer, the gap from `from` to the first one included. */
function longestGap(successes: number[], from: number, to: number): number {
  let last = from;
  let longest = 0;
  for (const t of successes) {
    if (t < from) continue;
    if (t > to) break;
    longest = Math.max(longest, t - last);
    last = t;
  }
  return Math.max(longest, to - last);
}

interface FaultResult {
  fault: string;
  tally: Tally;
  healMs: number;
  stallMs: number;
}

describe('the fault suite: services as processes under load, each fault in turn', () => {
  let nats: OwnNatsServer;
  let postgres: OwnPostgres;
  let cluster: Cluster;
  let keys: string[];
  let load: Load;
  const results: FaultResult[] = [];

  const services: { service: ServiceName; name: string }[] = [
    { service: 'catalog', name: 'catalog' },
    { service: 'mount-manager', name: 'mount-manager' },
    { service: 'plugin-runner', name: 'plugin-runner' },
    { service: 'plugin-runner', name: 'plugin-runner-2' },
    { service: 'gateway', name: 'gateway' },
    { service: 'gateway', name: 'gateway-b' },
  ];
  const restart = (names: string[]) =>
    Promise.all(services.filter((s) => names.includes(s.name)).map((s) => cluster.start(s.service, s.name)));
  const kill = (names: string[]) => Promise.all(names.map((n) => cluster.kill(n)));

  /**
   * One fault: a second of steady load, the fault, a moment for it to bite, the heal; then the load runs on for
   * OBSERVE_MS (and until a success, at most 30 s more) and the longest stall after the heal is measured.
   */
  async function fault(name: string, inject: () => Promise<unknown>, heal: () => Promise<unknown>): Promise<FaultResult> {
    load.rotate();
    await sleep(1_000);
    await inject();
    await sleep(1_500);
    const healStart = Date.now();
    await heal();
    const healed = Date.now();
    load.healedAt = healed;
    await sleep(OBSERVE_MS);
    const deadline = Date.now() + 30_000;
    while (!load.successes.some((t) => t >= healed) && Date.now() < deadline) await sleep(100);
    const end = Date.now();
    const result: FaultResult = { fault: name, tally: load.rotate(), healMs: healed - healStart, stallMs: longestGap(load.successes, healed, end) };
    results.push(result);
    // The figures settle in the table printed at the end (requests in flight now are counted when they answer).
    const reasons = [...result.tally.reasons].map(([r, c]) => `${c}× ${r}`).join('; ');
    console.log(`# ${name}: heal took ${result.healMs} ms, longest stall after it ${result.stallMs} ms; failures: ${reasons || 'none'}`);
    return result;
  }

  before(async () => {
    [nats, postgres] = await Promise.all([OwnNatsServer.start(), OwnPostgres.start()]);
    cluster = await Cluster.create({ natsUrl: nats.url, adminDatabaseUrl: postgres.url(), logLevel: 'info' });
    // Two at a time, in dependency order: the gateways last, once what they ask is listening.
    for (let i = 0; i < services.length; i += 2) await restart(services.slice(i, i + 2).map((s) => s.name));
    const init = await cluster.initAndUnseal();
    keys = init.keys;
    const root = { 'x-vault-token': init.rootToken };
    copyFileSync(join(REPO_ROOT, 'dist/plugins/mock-plugin'), join(cluster.dir, 'mock'));
    chmodSync(join(cluster.dir, 'mock'), 0o755);
    const sha = createHash('sha256').update(readFileSync(join(cluster.dir, 'mock'))).digest('hex');
    const call = (method: string, path: string, body: unknown) =>
      fetch(`${cluster.url}/v1/${path}`, { method, headers: root, body: JSON.stringify(body) });
    assert.equal((await call('PUT', 'sys/plugins/catalog/secret/mock', { sha_256: sha, command: 'mock' })).status, 204);
    assert.equal((await call('POST', 'sys/mounts/m', { type: 'mock' })).status, 204);
    // Both runners launch the plugin before the first fault, so the first figures are not a cold start's.
    for (let i = 0; i < 6; i++) assert.equal((await call('PUT', `m/kv/warm${i}`, { value: 'w' })).status, 200);
    load = new Load([cluster.url, cluster.urlOf('gateway-b')], root);
    load.start();
  });

  after(async () => {
    await load?.stop();
    if (results.length) {
      console.log('# | fault | requests sent | acknowledged (2xx) | failed | of them sent after the heal | heal took | longest stall after the heal |');
      for (const r of results) {
        const t = r.tally;
        console.log(`# | ${r.fault} | ${t.sent} | ${t.acknowledged} | ${t.failed} | ${t.failedAfterHeal} | ${r.healMs} ms | ${r.stallMs} ms |`);
      }
    }
    await cluster?.stop();
    await nats?.stop();
    await postgres?.destroy();
  });

  const bounded = (r: FaultResult) =>
    assert.ok(r.stallMs <= STALL_BOUND_MS, `${r.fault}: no successful answer for ${r.stallMs} ms after the heal (bound ${STALL_BOUND_MS} ms)`);

  /**
   * A restarted process serves correctly from the moment it says it started: it joined the cluster before
   * subscribing (apps/cli/src/server/runtime.ts), so nothing sent after the heal fails. Not asked of the NATS and
   * Postgres faults, where clients reconnect on their own schedule after the server is back.
   */
  const servesAtOnce = (r: FaultResult) =>
    assert.equal(r.tally.failedAfterHeal, 0, `${r.fault}: failed after the heal: ${[...r.tally.reasons].map(([k, c]) => `${c}× ${k}`).join('; ')}`);

  it('a plugin-runner killed (SIGKILL), then started again', async () => {
    const r = await fault('runner killed', () => kill(['plugin-runner-2']), () => restart(['plugin-runner-2']));
    bounded(r);
    servesAtOnce(r);
  });

  it('a gateway killed, then started again', async () => {
    const r = await fault('gateway killed', () => kill(['gateway-b']), () => restart(['gateway-b']));
    bounded(r);
    servesAtOnce(r);
  });

  it('nats-server killed, then started again', async () => {
    bounded(await fault('NATS killed', () => nats.stop(), () => nats.restart()));
  });

  it('Postgres stopped, then started again', async () => {
    bounded(await fault('Postgres stopped', () => postgres.stop('fast'), () => postgres.restart()));
  });

  it('catalog and mount-manager killed, then started again', async () => {
    const r = await fault('catalog + mount-manager killed', () => kill(['catalog', 'mount-manager']), () => restart(['catalog', 'mount-manager']));
    bounded(r);
    servesAtOnce(r);
  });

  it('every process killed at once (services, NATS, Postgres), then all started again and unsealed', async () => {
    const all = services.map((s) => s.name);
    const r = await fault(
      'every process killed',
      () => Promise.all([kill(all), nats.stop(), postgres.stop('kill')]),
      async () => {
        await Promise.all([nats.restart(), postgres.restart()]);
        await restart(all);
        await cluster.unseal(keys);
      },
    );
    bounded(r);
  });

  it('lost no acknowledged write', async () => {
    await load.stop();
    assert.deepEqual(load.wrongReads, [], 'every read of an acknowledged key returned its value');
    assert.deepEqual(load.misleading, [], 'no answer said the mount or its plugin did not exist');
    const entries = [...load.acknowledged];
    assert.ok(entries.length > 0);
    const lost: string[] = [];
    const gateways = [cluster.url, cluster.urlOf('gateway-b')];
    let i = 0;
    const reader = async () => {
      while (i < entries.length) {
        const [key, value] = entries[i]!;
        const base = gateways[i++ % 2]!;
        // A read failing for a moment is not a loss: only an answer that says the value is gone or other is.
        for (let attempt = 0; ; attempt++) {
          const res = await fetch(`${base}/v1/m/kv/${key}`, { headers: load.headers });
          if (res.status === 200) {
            const got = ((await res.json()) as { data: { value: string } }).data.value;
            if (got !== value) lost.push(`${key}: ${got} instead of ${value}`);
            break;
          }
          if (res.status === 404) {
            lost.push(`${key}: 404`);
            break;
          }
          await res.text();
          if (attempt >= 5) throw new Error(`${key}: read back failed with ${res.status}`);
          await sleep(500);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, reader));
    console.log(`# fault suite: ${entries.length} acknowledged writes read back, ${lost.length} lost`);
    assert.deepEqual(lost, []);
  });
});
