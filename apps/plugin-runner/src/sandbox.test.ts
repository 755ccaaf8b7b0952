import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseSandbox, exposedSecrets, readableBy, resolvePluginUser, sandboxedCommand, SANDBOXED_EXECUTABLE } from './sandbox.js';

const nobody = { uid: 65534, gid: 65534, name: 'nobody' };
const tools = { bwrap: '/usr/bin/bwrap', setpriv: '/usr/bin/setpriv', prlimit: '/usr/bin/prlimit' };

describe('chooseSandbox', () => {
  it('auto picks the strongest level available', () => {
    assert.deepEqual(chooseSandbox('auto', { isRoot: true, user: nobody, ...tools }), { level: 'bwrap', user: nobody });
    assert.equal(chooseSandbox('auto', { isRoot: true, user: nobody, setpriv: tools.setpriv }).level, 'uid');
    assert.equal(chooseSandbox('auto', { isRoot: false, bwrap: tools.bwrap }).level, 'bwrap');
    const none = chooseSandbox('auto', { isRoot: false });
    assert.equal(none.level, 'none');
    assert.match(none.warning!, /no sandbox/);
  });

  it('an explicit level that cannot be had is an error, never a weaker level', () => {
    assert.throws(() => chooseSandbox('uid', { isRoot: false, setpriv: tools.setpriv, user: nobody }), /needs the plugin-runner to run as root/);
    assert.throws(() => chooseSandbox('bwrap', { isRoot: true, user: nobody, setpriv: tools.setpriv }), /bubblewrap is not installed/);
    assert.match(chooseSandbox('none', { isRoot: true, user: nobody, ...tools }).warning!, /runner's own user/);
  });
});

describe('sandboxedCommand', () => {
  it('bwrap: no network, its own /proc and /tmp, the file bound read-only, limits, then another uid', () => {
    const { command, args } = sandboxedCommand({ level: 'bwrap', user: nobody }, tools, { binds: ['/usr'], links: [{ path: '/bin', target: 'usr/bin' }] }, { memoryMb: 2048, processes: 64 }, '/cache/abc', ['x']);
    assert.equal(command, '/usr/bin/bwrap');
    for (const flag of ['--unshare-net', '--unshare-pid', '--die-with-parent']) assert.ok(args.includes(flag), flag);
    const joined = args.join(' ');
    assert.match(joined, /--ro-bind \/usr \/usr/);
    assert.match(joined, /--proc \/proc/);
    assert.match(joined, /--tmpfs \/tmp/);
    assert.match(joined, new RegExp(`--ro-bind /cache/abc ${SANDBOXED_EXECUTABLE}`));
    assert.match(joined, /-- \/usr\/bin\/prlimit --as=2147483648 --nproc=64 --core=0 -- \/usr\/bin\/setpriv --reuid=65534 --regid=65534 --clear-groups .*--no-new-privs -- \/run\/coffer\/plugin x$/);
  });

  it('uid: limits and setpriv, no bwrap; none: limits only', () => {
    const uid = sandboxedCommand({ level: 'uid', user: nobody }, tools, { binds: [], links: [] }, { memoryMb: 1024, processes: 8 }, '/shared/abc', []);
    assert.equal(uid.command, '/usr/bin/prlimit');
    assert.ok(uid.args.includes('--reuid=65534') && uid.args.at(-1) === '/shared/abc');
    const none = sandboxedCommand({ level: 'none' }, tools, { binds: [], links: [] }, { memoryMb: 1024, processes: 8 }, '/cache/abc', []);
    assert.ok(!none.args.some((a) => a.startsWith('--reuid')));
  });
});

describe('the plugin user and the runner files', () => {
  it('resolves names and numbers, and refuses root', () => {
    const passwd = 'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/usr/sbin/nologin\nplug:x:2000:2001::/:/bin/false\n';
    const groups = 'root:x:0:\nnogroup:x:65534:\nplugins:x:3000:\n';
    assert.deepEqual(resolvePluginUser(undefined, undefined, passwd, groups), nobody);
    assert.deepEqual(resolvePluginUser('plug', 'plugins', passwd, groups), { uid: 2000, gid: 3000, name: 'plug:plugins' });
    assert.deepEqual(resolvePluginUser('4242', undefined, passwd, groups), { uid: 4242, gid: 4242, name: '4242' });
    assert.equal(resolvePluginUser('ghost', undefined, passwd, groups), undefined);
    assert.throws(() => resolvePluginUser('root', undefined, passwd, groups), /must not be root/);
  });

  it('finds every file the plugin user could read, folders walked', () => {
    assert.equal(readableBy({ uid: 0, gid: 0, mode: 0o600 }, nobody), false);
    assert.equal(readableBy({ uid: 0, gid: 0, mode: 0o644 }, nobody), true);
    assert.equal(readableBy({ uid: 0, gid: 65534, mode: 0o640 }, nobody), true);
    assert.equal(readableBy({ uid: 65534, gid: 0, mode: 0o400 }, nobody), true);
    const tree: Record<string, { uid: number; gid: number; mode: number; dir: boolean; children?: string[] }> = {
      '/etc/coffer': { uid: 0, gid: 0, mode: 0o755, dir: true, children: ['a.hcl', 'b.hcl'] },
      '/etc/coffer/a.hcl': { uid: 0, gid: 0, mode: 0o600, dir: false },
      '/etc/coffer/b.hcl': { uid: 0, gid: 0, mode: 0o644, dir: false },
      '/bus/nkey.seed': { uid: 0, gid: 0, mode: 0o600, dir: false },
    };
    const stat = (p: string) => {
      if (!tree[p]) throw new Error('ENOENT');
      return tree[p];
    };
    assert.deepEqual(exposedSecrets(['/etc/coffer', '/bus/nkey.seed', '/missing'], nobody, stat), ['/etc/coffer/b.hcl (mode 644, owner 0:0)']);
  });
});
