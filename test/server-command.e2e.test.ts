import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { REPO_ROOT } from './support/paths.js';

/** `coffer server` refuses a broken configuration or bad flags clearly, before connecting to anything. */
describe('coffer server with bad input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (...args: string[]) =>
    spawnSync(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), 'server', ...args], { encoding: 'utf8', timeout: 20_000 });

  it('names the file and the key of an unknown key', () => {
    const file = join(dir, 'typo.hcl');
    writeFileSync(file, 'plugin_dir = "/plugins"\n');
    const r = run(`-config=${file}`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /typo\.hcl/);
    assert.match(r.stderr, /plugin_dir/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('reports an HCL syntax error with its line, and never prints a secret', () => {
    const file = join(dir, 'broken.hcl');
    writeFileSync(file, 'storage "postgresql" {\n  connection_url = "postgres://u:hunter2@db/x"\n}\nlistener "tcp" {\n');
    const r = run(`-config=${file}`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /broken\.hcl: line 4/);
    assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
  });

  it('refuses a missing configuration path and unknown services or flags as local errors (exit 1, as Vault)', () => {
    assert.equal(run(`-config=${join(dir, 'absent.hcl')}`).status, 1);
    const unknownService = run(`-config=${dir}`, '-service=mounts');
    assert.equal(unknownService.status, 1);
    assert.match(unknownService.stderr, /unknown service "mounts"/);
    const unknownFlag = run('-bogus');
    assert.equal(unknownFlag.status, 1);
    assert.match(unknownFlag.stderr, /flag provided but not defined: -bogus/);
    const none = run();
    assert.equal(none.status, 1);
    assert.match(none.stderr, /-config/);
    const badLevel = run('-dev', '-log-level=loud');
    assert.equal(badLevel.status, 1);
    assert.match(badLevel.stderr, /unknown log level "loud"; expected one of trace, debug, info, warn, error/);
  });

  it('prints its usage with -h', () => {
    const r = run('-h');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Usage: coffer server/);
    assert.match(r.stdout, /-log-level/);
  });
});
