/**
 * Micro-benchmark, not a test: `node dist/bench/acl-check.js`. 50 policies x 20 path rules each
 * (half exact, a third `*` globs, the rest `+` patterns, all on overlapping mounts so precedence is exercised),
 * then checks/s over a mix of paths that hit exact rules, globs, `+` patterns and nothing.
 */
import { Acl } from '../apps/gateway/src/acl/acl.js';
import type { AclOperation } from '../apps/gateway/src/acl/capabilities.js';
import { parsePolicy, type Policy } from '../apps/gateway/src/acl/policy.js';

const POLICIES = 50;
const RULES = 20;
const MOUNTS = ['secret', 'kv', 'database', 'pki', 'transit'];
const CAPS = ['read', 'list', 'create', 'update', 'delete'];

function policyText(p: number): string {
  const blocks: string[] = [];
  for (let r = 0; r < RULES; r++) {
    const mount = MOUNTS[(p + r) % MOUNTS.length];
    const team = `team${p % 10}`;
    const path =
      r < 10 ? `${mount}/${team}/app${r}/config` : r < 16 ? `${mount}/${team}/app${r}/*` : `${mount}/+/app${r}/+`;
    blocks.push(`path "${path}" { capabilities = ["${CAPS[r % CAPS.length]}", "${CAPS[(r + p) % CAPS.length]}"] }`);
  }
  return blocks.join('\n');
}

async function main(): Promise<void> {
  const parseStart = performance.now();
  const policies: Policy[] = [];
  for (let p = 0; p < POLICIES; p++) policies.push(await parsePolicy(`p${p}`, policyText(p)));
  const parseMs = performance.now() - parseStart;

  const compileStart = performance.now();
  const acl = new Acl(policies);
  const compileMs = performance.now() - compileStart;

  const paths: Array<[string, AclOperation]> = [];
  for (let i = 0; i < 200; i++) {
    const mount = MOUNTS[i % MOUNTS.length];
    const kind = i % 4;
    const path =
      kind === 0
        ? `${mount}/team${i % 10}/app${i % 10}/config`
        : kind === 1
          ? `${mount}/team${i % 10}/app${10 + (i % 6)}/deep/key${i}`
          : kind === 2
            ? `${mount}/anyone/app${16 + (i % 4)}/leaf`
            : `${mount}/nobody/none/${i}`;
    paths.push([path, CAPS[i % CAPS.length] as AclOperation]);
  }

  let allowed = 0;
  const warm = () => {
    allowed = 0;
    for (const [path, op] of paths) allowed += acl.check(path, op).allowed ? 1 : 0;
  };
  for (let i = 0; i < 2000; i++) warm();

  const rounds = 10_000;
  const start = performance.now();
  for (let i = 0; i < rounds; i++) warm();
  const seconds = (performance.now() - start) / 1000;
  const checks = rounds * paths.length;

  const perSecond = Math.round(checks / seconds).toLocaleString('en');
  const nanos = ((seconds / checks) * 1e9).toFixed(0);
  console.log(`${POLICIES} policies x ${RULES} rules: parse ${parseMs.toFixed(0)} ms (WASM start included)`);
  console.log(`compile ${compileMs.toFixed(2)} ms; ${allowed} of ${paths.length} sample paths allowed`);
  console.log(`${checks} checks in ${seconds.toFixed(2)} s: ${perSecond} checks/s (${nanos} ns/check)`);
}

await main();
