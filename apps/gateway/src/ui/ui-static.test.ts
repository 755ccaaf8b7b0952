import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerUi, UI_CSP } from './ui-static.js';

const quiet = { warn: () => undefined, info: () => undefined };

describe('the web UI static handler', () => {
  let dir: string;
  let app: FastifyInstance;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coffer-ui-static-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="/ui/assets/app.js"></script>');
    writeFileSync(join(dir, 'assets/app.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'not outside');
    writeFileSync(join(dir, '..', 'coffer-ui-outside.txt'), 'outside');
    app = Fastify();
    registerUi(app, quiet, dir);
    await app.ready();
  });

  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(dir, '..', 'coffer-ui-outside.txt'), { force: true });
  });

  it('serves index.html at /ui/ and at any app route, never cached, with the security headers', async () => {
    for (const url of ['/ui/', '/ui/secrets', '/ui/kv?mount=secret/&path=a/b']) {
      const r = await app.inject({ url });
      assert.equal(r.statusCode, 200, url);
      assert.match(r.body, /^<!doctype html>/);
      assert.equal(r.headers['content-security-policy'], UI_CSP);
      assert.equal(r.headers['x-frame-options'], 'DENY');
      assert.equal(r.headers['cache-control'], 'no-store');
    }
    assert.doesNotMatch(UI_CSP, /unsafe/);
  });

  it('serves hashed assets for good, and a missing one as 404 instead of the app', async () => {
    const js = await app.inject({ url: '/ui/assets/app.js' });
    assert.equal(js.statusCode, 200);
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.match(String(js.headers['cache-control']), /immutable/);
    assert.equal((await app.inject({ url: '/ui/assets/gone.js' })).statusCode, 404);
  });

  it('never reaches outside its folder, however the path is spelled', async () => {
    for (const url of ['/ui/../coffer-ui-outside.txt', '/ui/..%2fcoffer-ui-outside.txt', '/ui/%2e%2e/coffer-ui-outside.txt', '/ui/assets/..%2f..%2fcoffer-ui-outside.txt']) {
      const r = await app.inject({ url });
      assert.doesNotMatch(r.body, /^outside$/, url);
    }
    assert.equal((await app.inject({ url: '/ui/%E0%A4%A' })).statusCode, 400);
  });

  it('redirects / and /ui to /ui/', async () => {
    for (const url of ['/', '/ui']) {
      const r = await app.inject({ url });
      assert.equal(r.statusCode, 307);
      assert.equal(r.headers.location, '/ui/');
    }
  });

  it('answers 503 with a Vault error when the UI was not built', async () => {
    const empty = Fastify();
    registerUi(empty, quiet, join(dir, 'missing'));
    const r = await empty.inject({ url: '/ui/' });
    assert.equal(r.statusCode, 503);
    assert.deepEqual(JSON.parse(r.body), { errors: ['the web UI is not built; run npm run build'] });
    await empty.close();
  });
});
