import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CofferError } from '#contracts';
import { decideEnable } from './options.js';
import type { AuditDevicesState } from './projection.js';

const empty: AuditDevicesState = { devices: {} };
const dir = mkdtempSync(join(tmpdir(), 'coffer-audit-options-'));
const plugins = join(dir, 'plugins');
mkdirSync(plugins);
const host = { pluginDirectory: plugins };

function refuses(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CofferError);
    assert.equal(err.code, 'invalid-request');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

const file = (options: Record<string, string>) => ({ type: 'file', options });

describe('audit device rules', () => {
  it('enables a file device with a fresh salt each time', () => {
    const a = decideEnable(empty, 'file', file({ file_path: join(dir, 'audit.log') }), host);
    const b = decideEnable(empty, 'file', file({ file_path: join(dir, 'audit.log') }), host);
    assert.equal(a.path, 'file/');
    assert.equal(a.type, 'file');
    assert.match(a.salt, /^[0-9a-f-]{36}$/);
    assert.notEqual(a.salt, b.salt);
  });

  it("refuses an unknown type, a used or overlapping path, a missing file_path, in Vault's words", () => {
    refuses(() => decideEnable(empty, 'x', { type: 'kafka' }, host), 'unknown backend type: "kafka"');
    const state: AuditDevicesState = { devices: { 'file/': decideEnable(empty, 'file', file({ file_path: 'stdout' }), host) } };
    refuses(() => decideEnable(state, 'file', file({ file_path: 'stdout' }), host), 'path already in use');
    refuses(() => decideEnable(state, 'file/sub', file({ file_path: 'stdout' }), host), 'path already in use');
    refuses(() => decideEnable(empty, 'f', file({}), host), 'file_path is required');
    refuses(() => decideEnable(empty, 'f', file({ file_path: 'stdout', format: 'xml' }), host), 'unknown format type "xml"');
    refuses(() => decideEnable(empty, 'f', file({ file_path: 'stdout', hmac_accessor: 'maybe' }), host), /unable to parse 'hmac_accessor'/);
  });

  // CVE-2025-6000: an audit file written as a plugin executable.
  it('refuses a file inside the plugin directory, also through a symlink or ..', () => {
    refuses(() => decideEnable(empty, 'f', file({ file_path: join(plugins, 'evil') }), host), /inside the plugin directory/);
    refuses(() => decideEnable(empty, 'f', file({ file_path: `${dir}/other/../plugins/evil` }), host), /inside the plugin directory/);
    const link = join(dir, 'link');
    symlinkSync(plugins, link);
    refuses(() => decideEnable(empty, 'f', file({ file_path: join(link, 'evil') }), host), /inside the plugin directory/);
    refuses(() => decideEnable(empty, 'f', file({ file_path: plugins }), host), /inside the plugin directory/);
  });

  it('refuses an executable (or setuid, setgid, sticky) file mode', () => {
    for (const mode of ['0755', '0700', '0744', '0601', '4600', '0777']) {
      refuses(() => decideEnable(empty, 'f', file({ file_path: join(dir, 'a.log'), mode }), host), /may not be executable/);
    }
    refuses(() => decideEnable(empty, 'f', file({ file_path: join(dir, 'a.log'), mode: 'rwx' }), host), /not an octal file mode/);
    assert.equal(decideEnable(empty, 'f', file({ file_path: join(dir, 'a.log'), mode: '0640' }), host).options.mode, '0640');
  });

  it('refuses a prefix that would start a script or a binary', () => {
    refuses(() => decideEnable(empty, 'f', file({ file_path: join(dir, 'a.log'), prefix: '#!/bin/sh\n' }), host), /printable ASCII/);
    refuses(() => decideEnable(empty, 'f', file({ file_path: join(dir, 'a.log'), prefix: '#!/bin/sh' }), host), /may not start with "#!"/);
    refuses(() => decideEnable(empty, 'f', file({ file_path: join(dir, 'a.log'), prefix: '\x7fELF' }), host), /printable ASCII/);
    assert.equal(decideEnable(empty, 'f', file({ file_path: join(dir, 'a.log'), prefix: 'coffer: ' }), host).options.prefix, 'coffer: ');
  });

  it('checks socket and syslog options', () => {
    assert.equal(decideEnable(empty, 's', { type: 'socket', options: { address: '127.0.0.1:9090' } }, host).type, 'socket');
    refuses(() => decideEnable(empty, 's', { type: 'socket', options: {} }, host), 'address is required');
    refuses(() => decideEnable(empty, 's', { type: 'socket', options: { address: 'x:1', socket_type: 'sctp' } }, host), /unknown socket_type/);
    refuses(() => decideEnable(empty, 's', { type: 'socket', options: { address: 'nohost' } }, host), /must be host:port/);
    assert.equal(decideEnable(empty, 'u', { type: 'socket', options: { address: '/run/x.sock', socket_type: 'unix' } }, host).type, 'socket');
    assert.equal(decideEnable(empty, 'sl', { type: 'syslog', options: { facility: 'local0', tag: 'coffer' } }, host).type, 'syslog');
    refuses(() => decideEnable(empty, 'sl', { type: 'syslog', options: { facility: 'nope' } }, host), /unknown syslog facility/);
  });
});
