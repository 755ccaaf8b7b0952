/**
 * A plugin author outside the repository, end to end: `coffer plugin new` makes a project in a temporary folder,
 * the packed SDK (`npm pack` in libs/plugin-sdk) is installed into it with npm, the harness tests run and the
 * plugin builds (type-checked) with the package's `coffer-plugin` bin, `coffer plugin test` passes it, and a dev
 * server registers, mounts and serves it. npm installs esbuild (the SDK's dependency) from its cache or registry.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer, type DevServer } from './support/dev-server.js';
import { REPO_ROOT } from './support/paths.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

const coffer = (args: string[], cwd: string, env: Record<string, string> = {}) => run(process.execPath, [join(REPO_ROOT, 'bin/coffer.js'), ...args], cwd, env);
const npm = (args: string[], cwd: string) => run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], cwd);
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what} failed:\n${r.stdout}\n${r.stderr}`);

describe('a plugin project outside the repository, with the packed SDK', () => {
  let work: string;
  let project: string;
  let tarball: string;
  let server: DevServer | undefined;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'coffer-sdk-e2e-'));
    assert.ok(!work.startsWith(REPO_ROOT), 'the project must live outside the repository');
  });
  after(async () => {
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('npm pack makes a tarball of the SDK package, with its types, build step and bin', async () => {
    const packed = await npm(['pack', '--pack-destination', work], join(REPO_ROOT, 'libs/plugin-sdk'));
    ok(packed, 'npm pack');
    const name = readdirSync(work).find((f) => f.endsWith('.tgz'));
    assert.ok(name, packed.stdout);
    tarball = join(work, name);
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'libs/plugin-sdk/package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };
    assert.equal(name, `coffer-plugin-sdk-${manifest.version}.tgz`);
    assert.match(manifest.version, /^\d+\.\d+\.\d+$/);
    assert.ok(manifest.bin['coffer-plugin']);
    for (const file of ['out/index.js', 'out/build.js', 'out/bin/coffer-plugin.js', 'out/types/plugin-sdk/index.d.ts', 'README.md']) {
      assert.match(packed.stdout + packed.stderr, new RegExp(file.replace(/[./]/g, '\\$&')), `the tarball lacks ${file}`);
    }
  });

  it('coffer plugin new scaffolds the project; npm installs the tarball; its tests pass; it builds into one file', async () => {
    const made = await coffer(['plugin', 'new', 'greeter', `-dir=${work}`, `-sdk=${tarball}`], work);
    ok(made, 'coffer plugin new');
    project = join(work, 'greeter');
    for (const file of ['package.json', 'tsconfig.json', 'src/backend.ts', 'src/main.ts', 'src/backend.test.ts', 'README.md']) assert.ok(existsSync(join(project, file)), file);
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.build, 'coffer-plugin build');
    assert.equal(pkg.scripts.test, 'coffer-plugin test');

    ok(await npm(['install'], project), 'npm install');
    const tested = await npm(['test'], project);
    ok(tested, 'npm test');
    assert.match(tested.stdout, /# pass 2\n# fail 0/);

    // A type error stops the build: the package's declarations reach the project.
    const backend = readFileSync(join(project, 'src/backend.ts'), 'utf8');
    writeFileSync(join(project, 'src/backend.ts'), backend.replace('{ value: req.data.value }', '{ value: req.data.nope }'));
    const broken = await npm(['run', 'build'], project);
    assert.notEqual(broken.code, 0);
    assert.match(broken.stdout + broken.stderr, /Property 'nope' does not exist/);
    writeFileSync(join(project, 'src/backend.ts'), backend);

    const built = await npm(['run', 'build'], project);
    ok(built, 'npm run build');
    assert.match(built.stdout, /dist\/greeter {2}sha256 [0-9a-f]{64}/);
    const bundle = readFileSync(join(project, 'dist/greeter'), 'utf8');
    assert.ok(bundle.startsWith('#!/usr/bin/env node\n'));
    assert.doesNotMatch(bundle, /from ["']@coffer\/plugin-sdk["']/, 'the SDK is inside the bundle');
  });

  it('coffer plugin test passes the built plugin', async () => {
    const kit = await coffer(['plugin', 'test', '-type=secret', '-path=items/conformance', 'dist/greeter'], project);
    ok(kit, 'coffer plugin test');
    assert.match(kit.stdout, /\n\d+ passed, 0 failed, 0 skipped\n/);
  });

  it('-type=auth scaffolds an auth method that tests, builds and passes the kit too', async () => {
    ok(await coffer(['plugin', 'new', '-type=auth', `-dir=${work}`, `-sdk=${tarball}`, 'gatekeeper'], work), 'coffer plugin new -type=auth');
    const auth = join(work, 'gatekeeper');
    ok(await npm(['install'], auth), 'npm install');
    ok(await npm(['test'], auth), 'npm test');
    ok(await npm(['run', 'build'], auth), 'npm run build');
    const kit = await coffer(['plugin', 'test', '-type=auth', '-path=users/conformance', '-data={"password":"p","policies":"default"}', 'dist/gatekeeper'], auth);
    ok(kit, 'coffer plugin test');
    assert.match(kit.stdout, /PASS {2}handshake: auth plugin gatekeeper v0\.1\.0/);
  });

  it('coffer plugin new refuses a bad name, a bad type and a folder that is not empty', async () => {
    const bad = await coffer(['plugin', 'new', `-dir=${work}`, 'Bad Name'], work);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /"Bad Name" is not a plugin name/);
    const type = await coffer(['plugin', 'new', '-type=database', `-dir=${work}`, 'x'], work);
    assert.equal(type.code, 1);
    assert.match(type.stderr, /"database" is not a plugin type a plugin project can have/);
    const taken = await coffer(['plugin', 'new', `-dir=${work}`, 'greeter'], work);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /exists and is not empty/);
  });

  it('a dev server registers it from -dev-plugin-dir; it mounts and serves', async () => {
    server = await startDevServer({ args: [`-dev-plugin-dir=${join(project, 'dist')}`] });
    const env = { VAULT_ADDR: server.url, VAULT_TOKEN: server.rootToken };
    const listed = await coffer(['plugin', 'list', 'secret'], project, env);
    ok(listed, 'plugin list');
    assert.match(listed.stdout, /^greeter\b/m);
    ok(await coffer(['secrets', 'enable', '-path=greet', 'greeter'], project, env), 'secrets enable');
    ok(await coffer(['write', 'greet/items/db', 'value=s3cr3t'], project, env), 'write');
    const read = await coffer(['read', '-field=value', 'greet/items/db'], project, env);
    ok(read, 'read');
    assert.equal(read.stdout.trim(), 's3cr3t');
    const list = await coffer(['list', '-format=json', 'greet/items'], project, env);
    ok(list, 'list');
    assert.deepEqual(JSON.parse(list.stdout), ['db']);
  });

  it('catalogued under the version it reports, an unversioned read says which versions exist (HTTP warning and plugin info)', async () => {
    const env = { VAULT_ADDR: server!.url, VAULT_TOKEN: server!.rootToken };
    const r = await fetch(`${server!.url}/v1/sys/plugins/catalog/secret/greeter`, { headers: { 'X-Vault-Token': server!.rootToken } });
    assert.equal(r.status, 404);
    const body = (await r.json()) as { data: unknown; warnings: string[] };
    assert.equal(body.data, null);
    assert.deepEqual(body.warnings, [
      'Plugin "greeter" (secret) has no unversioned catalog entry; it is registered with version v0.1.0. Read one with ?version=v0.1.0 (coffer plugin info -version=v0.1.0 secret greeter)',
    ]);
    const info = await coffer(['plugin', 'info', 'secret', 'greeter'], project, env);
    assert.equal(info.code, 2);
    assert.match(info.stderr, /No value found for plugin "greeter"\n\nPlugin "greeter" \(secret\) has no unversioned catalog entry; it is registered with version v0\.1\.0/);
    const versioned = await coffer(['plugin', 'info', '-version=v0.1.0', '-field=version', 'secret', 'greeter'], project, env);
    ok(versioned, 'plugin info -version');
    assert.equal(versioned.stdout.trim(), 'v0.1.0');
    // A name registered under no version at all is still the bare 404 it was.
    const none = await fetch(`${server!.url}/v1/sys/plugins/catalog/secret/nothing-here`, { headers: { 'X-Vault-Token': server!.rootToken } });
    assert.equal(none.status, 404);
    assert.deepEqual(await none.json(), { errors: [] });
  });
});
