import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants, existsSync, lstatSync, promises as fsp, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { CofferConfig, PluginSandboxSetting } from '#config';
import { CofferError } from '#contracts';
import { CACHE_PACKAGE_JSON, type PluginSandbox } from '#plugin-protocol';

/**
 * The plugin sandbox: what a plugin process runs as and what it can see. Plugins are third-party code, so the
 * runner's secrets (its environment, command line, config and bus credentials) must be out of their reach:
 *
 *   bwrap  bubblewrap: no network, a private /tmp and /proc, only the system's read-only folders, the plugin's
 *          own file; and, when the runner is root, another uid with no capabilities (setpriv --no-new-privs).
 *   uid    another unprivileged uid and gid (the runner must be root): the kernel keeps it from the runner's
 *          /proc/<pid>/environ and from files private to the runner's user. Network and filesystem stay open.
 *   none   the runner's own user: nothing is kept from the plugin but what it is not told. Warned about at start.
 *
 * Every level applies memory (address space) and process-count limits (prlimit). `auto` picks the strongest level
 * that works here. The decisions are pure functions; probing the platform is kept apart.
 */

export type SandboxLevel = 'bwrap' | 'uid' | 'none';

export interface PluginUser {
  uid: number;
  gid: number;
  /** As configured or looked up, for the log. */
  name: string;
}

/** What the platform offers, found by probeSandbox. */
export interface SandboxFacts {
  isRoot: boolean;
  /** A trial run of bubblewrap with the flags the sandbox uses succeeded. */
  bwrap?: string;
  setpriv?: string;
  prlimit?: string;
  /** The user plugins run as, when one is configured or defaulted (root only). */
  user?: PluginUser;
}

export interface SandboxPlan {
  level: SandboxLevel;
  /** Set when plugins run as another user. */
  user?: PluginUser;
  /** What the log should say about the choice. */
  warning?: string;
}

export interface SandboxLimits {
  memoryMb: number;
  processes: number;
}

/** Decides the level from the setting and the facts; throws when an explicit level cannot be had (never weaker). */
export function chooseSandbox(setting: PluginSandboxSetting, facts: SandboxFacts): SandboxPlan {
  const dropUser = facts.isRoot && facts.user && facts.setpriv ? facts.user : undefined;
  switch (setting) {
    case 'none':
      return { level: 'none', warning: 'plugin_sandbox = "none": plugins run as the runner\'s own user and can read its environment, command line and files' };
    case 'uid':
      if (!facts.isRoot) throw new CofferError('invalid-request', 'plugin_sandbox = "uid" needs the plugin-runner to run as root (to start plugins as another user)');
      if (!facts.user) throw new CofferError('invalid-request', 'plugin_sandbox = "uid": plugin_run_as_user names no user of this system');
      if (!facts.setpriv) throw new CofferError('invalid-request', 'plugin_sandbox = "uid" needs setpriv (Debian: util-linux)');
      return { level: 'uid', user: facts.user };
    case 'bwrap':
      if (!facts.bwrap) throw new CofferError('invalid-request', 'plugin_sandbox = "bwrap", but bubblewrap is not installed or cannot create namespaces here (see docs/operations.md)');
      return { level: 'bwrap', user: dropUser };
    case 'auto':
      if (facts.bwrap) return { level: 'bwrap', user: dropUser };
      if (dropUser) return { level: 'uid', user: dropUser, warning: 'bubblewrap is not usable here: plugins run as another user but keep network and filesystem access' };
      return { level: 'none', warning: 'no sandbox is available (not root, no usable bubblewrap): plugins run as the runner\'s own user' };
  }
}

/** What the sandbox shows of the filesystem: the system's folders, read-only. Links (merged /usr) stay links. */
export interface SystemView {
  binds: string[];
  links: { path: string; target: string }[];
}

/** Where the plugin's file is inside bubblewrap. */
export const SANDBOXED_EXECUTABLE = '/run/coffer/plugin';

/**
 * The command that runs `executable` under the plan: [bwrap …] prlimit … [setpriv …] executable args. Pure: the
 * same inputs always give the same argv, so it is tested as data.
 */
export function sandboxedCommand(
  plan: SandboxPlan,
  tools: { bwrap?: string; setpriv?: string; prlimit?: string },
  view: SystemView,
  limits: SandboxLimits,
  executable: string,
  args: string[],
): { command: string; args: string[] } {
  const inner = plan.level === 'bwrap' ? SANDBOXED_EXECUTABLE : executable;
  let argv = [inner, ...args];
  if (plan.user && plan.level !== 'none') {
    argv = [tools.setpriv!, `--reuid=${plan.user.uid}`, `--regid=${plan.user.gid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--', ...argv];
  }
  if (tools.prlimit) {
    argv = [tools.prlimit, `--as=${limits.memoryMb * 1024 * 1024}`, `--nproc=${limits.processes}`, '--core=0', '--', ...argv];
  }
  if (plan.level === 'bwrap') {
    argv = [tools.bwrap!, ...bwrapArgs(view, executable), '--', ...argv];
  }
  return { command: argv[0], args: argv.slice(1) };
}

function bwrapArgs(view: SystemView, executable: string): string[] {
  const a = ['--unshare-net', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--die-with-parent', '--new-session'];
  // Folders bwrap makes for mount points are private to its user (root) unless told: the plugin's user must pass.
  const parents = [...new Set([...view.binds, ...view.links.map((l) => l.path)].map((p) => dirname(p)).filter((d) => d !== '/'))].sort();
  for (const dir of parents) a.push('--perms', '0755', '--dir', dir);
  for (const path of view.binds) a.push('--ro-bind', path, path);
  for (const link of view.links) a.push('--symlink', link.target, link.path);
  a.push('--proc', '/proc', '--dev', '/dev', '--perms', '01777', '--tmpfs', '/tmp', '--perms', '0755', '--dir', '/run', '--perms', '0755', '--dir', '/run/coffer', '--ro-bind', executable, SANDBOXED_EXECUTABLE);
  // Its own empty folder as the only place to write, and no package.json above the file (Node's default applies).
  a.push('--chdir', '/tmp', '--setenv', 'HOME', '/tmp', '--setenv', 'TMPDIR', '/tmp');
  return a;
}

/** The system folders a plugin may need (dynamic loader, libraries, node, certificates), as they are on this host. */
export function systemView(nodeBinary: string = process.execPath): SystemView {
  const view: SystemView = { binds: [], links: [] };
  const candidates = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc/ld.so.cache', '/etc/ssl', '/etc/ca-certificates', '/etc/alternatives', '/etc/localtime', '/etc/resolv.conf', '/etc/hosts', '/etc/nsswitch.conf', '/etc/passwd', '/etc/group'];
  // node installed outside /usr (nvm, /opt, /usr/local is inside /usr): its prefix too, read-only.
  const prefix = dirname(dirname(nodeBinary));
  if (!prefix.startsWith('/usr/') && prefix !== '/usr' && prefix !== '/') candidates.push(prefix);
  for (const path of candidates) {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) view.links.push({ path, target: readlinkSafe(path) });
    else view.binds.push(path);
  }
  return view;
}

function readlinkSafe(path: string): string {
  try {
    return execFileSync('readlink', [path]).toString().trim();
  } catch {
    return path;
  }
}

/** Looks a user (name or number) and group up in /etc/passwd and /etc/group. */
export function resolvePluginUser(user: string | undefined, group: string | undefined, passwd: string, groups: string): PluginUser | undefined {
  const name = user ?? 'nobody';
  const entry = passwd
    .split('\n')
    .map((line) => line.split(':'))
    .find((f) => f.length >= 4 && (f[0] === name || (/^\d+$/.test(name) && f[2] === name)));
  let uid: number;
  let gid: number;
  if (entry) {
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  } else if (/^\d+$/.test(name)) {
    uid = Number(name);
    gid = uid;
  } else {
    return undefined;
  }
  if (group !== undefined) {
    const g = groups
      .split('\n')
      .map((line) => line.split(':'))
      .find((f) => f.length >= 3 && (f[0] === group || (/^\d+$/.test(group) && f[2] === group)));
    if (g) gid = Number(g[2]);
    else if (/^\d+$/.test(group)) gid = Number(group);
    else return undefined;
  }
  if (uid === 0 || gid === 0) throw new CofferError('invalid-request', 'plugin_run_as_user / plugin_run_as_group must not be root');
  return { uid, gid, name: group ? `${name}:${group}` : name };
}

/** True when `user` may read the file (by owner, group or other bits; root-only ACLs are not considered). */
export function readableBy(st: { uid: number; gid: number; mode: number }, user: PluginUser): boolean {
  if (st.uid === user.uid) return (st.mode & 0o400) !== 0;
  if (st.gid === user.gid) return (st.mode & 0o040) !== 0;
  return (st.mode & 0o004) !== 0;
}

/**
 * The runner's secrets must be out of the plugin user's reach: every credential file, and the config files when
 * they hold a secret. Returns why not, or nothing. A folder counts with every file in it.
 */
export function exposedSecrets(paths: string[], user: PluginUser, stat: (p: string) => { uid: number; gid: number; mode: number; dir: boolean; children?: string[] }): string[] {
  const problems: string[] = [];
  const visit = (path: string) => {
    let st;
    try {
      st = stat(path);
    } catch {
      return;
    }
    if (st.dir) for (const child of st.children ?? []) visit(join(path, child));
    else if (readableBy(st, user)) problems.push(`${path} (mode ${(st.mode & 0o777).toString(8)}, owner ${st.uid}:${st.gid})`);
  };
  for (const p of paths) visit(p);
  return problems;
}

export function statForCheck(path: string): { uid: number; gid: number; mode: number; dir: boolean; children?: string[] } {
  const st = statSync(path);
  return { uid: st.uid, gid: st.gid, mode: st.mode, dir: st.isDirectory(), children: st.isDirectory() ? readdirSync(path) : undefined };
}

function which(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin']) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  return undefined;
}

/** Finds the tools and tries bubblewrap once with the sandbox's own flags (containers often forbid namespaces). */
export function probeSandbox(options: { user?: string; group?: string; wantBwrap: boolean }): SandboxFacts {
  const isRoot = process.getuid?.() === 0;
  const facts: SandboxFacts = { isRoot, setpriv: which('setpriv'), prlimit: which('prlimit') };
  if (isRoot || options.user !== undefined) {
    const read = (p: string) => {
      try {
        return readFileSync(p, 'utf8');
      } catch {
        return '';
      }
    };
    facts.user = resolvePluginUser(options.user, options.group, read('/etc/passwd'), read('/etc/group'));
  }
  const bwrap = options.wantBwrap ? which('bwrap') : undefined;
  if (bwrap) {
    const view = systemView();
    const trial = sandboxedCommand({ level: 'bwrap' }, { bwrap }, view, { memoryMb: 0, processes: 0 }, '/usr/bin/true', []);
    // The trial binds /usr/bin/true as the "plugin": the real flags, the real namespaces.
    try {
      execFileSync(trial.command, trial.args, { stdio: 'ignore', timeout: 10_000 });
      facts.bwrap = bwrap;
    } catch {
      // not usable here: auto falls back, an explicit "bwrap" fails with the reason
    }
  }
  return facts;
}

/**
 * A plugin running as another user cannot execute the runner's private cache (0700). Its checked copy is put in a
 * second cache, owned by root and the plugin's group (folder 0710, file 0550): the plugin user can run it by its
 * hash-named path, and no one but root can change it. A file already there is reused only if its hash matches.
 */
export async function shareWithPluginGroup(executable: string, sha256: string, sharedDir: string, gid: number): Promise<string> {
  await fsp.mkdir(sharedDir, { recursive: true, mode: 0o710 });
  const dirStat = await fsp.lstat(sharedDir);
  if (!dirStat.isDirectory() || dirStat.uid !== process.getuid?.()) throw new CofferError('internal', 'the shared plugin cache is not a folder owned by the runner');
  if (dirStat.gid !== gid) await fsp.chown(sharedDir, dirStat.uid, gid);
  if ((dirStat.mode & 0o777) !== 0o710) await fsp.chmod(sharedDir, 0o710);
  const pkg = join(sharedDir, 'package.json');
  if (!existsSync(pkg)) await writeShared(pkg, Buffer.from(CACHE_PACKAGE_JSON), gid, 0o440);
  const target = join(sharedDir, sha256);
  try {
    const h = await fsp.open(target, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const st = await h.stat();
      const bytes = await h.readFile();
      if (st.isFile() && st.uid === process.getuid?.() && createHash('sha256').update(bytes).digest('hex') === sha256) {
        if (st.gid !== gid) await h.chown(st.uid, gid);
        if ((st.mode & 0o777) !== 0o550) await h.chmod(0o550);
        return target;
      }
    } finally {
      await h.close();
    }
  } catch {
    // absent or unusable: written afresh below
  }
  await writeShared(target, await fsp.readFile(executable), gid, 0o550);
  return target;
}

async function writeShared(target: string, bytes: Buffer, gid: number, mode: number): Promise<void> {
  const temp = `${target}.${process.pid}.${randomBytes(6).toString('hex')}`;
  const h = await fsp.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await h.writeFile(bytes);
    await h.chown(process.getuid?.() ?? 0, gid);
    await h.chmod(mode);
  } finally {
    await h.close();
  }
  await fsp.rename(temp, target);
}

/** The sandbox of one runner: the plan, applied to every launch. */
export class RunnerSandbox implements PluginSandbox {
  private readonly view: SystemView;

  constructor(
    readonly plan: SandboxPlan,
    private readonly facts: SandboxFacts,
    private readonly limits: SandboxLimits,
    private readonly sharedDir: string,
  ) {
    this.view = plan.level === 'bwrap' ? systemView() : { binds: [], links: [] };
  }

  async wrap(executable: string, sha256: string, args: string[]): Promise<{ command: string; args: string[] }> {
    const file = this.plan.user ? await shareWithPluginGroup(executable, sha256, this.sharedDir, this.plan.user.gid) : executable;
    return sandboxedCommand(this.plan, this.facts, this.view, this.limits, file, args);
  }
}

/** The secret values of the merged config (database and bus passwords, bus token): what a config file must not show. */
export function configSecrets(config: CofferConfig): string[] {
  const out: string[] = [];
  try {
    if (config.storage) {
      const password = decodeURIComponent(new URL(config.storage.connectionUrl).password);
      if (password) out.push(password);
    }
  } catch {
    // an unparseable URL: nothing to look for
  }
  for (const v of [config.bus?.password, config.bus?.token]) if (v) out.push(v);
  return out;
}

/** The config files (folders walked) that the plugin user could read and that hold one of `secrets`. */
export function configFilesShowing(paths: string[], secrets: string[], user: PluginUser): string[] {
  if (secrets.length === 0) return [];
  const found: string[] = [];
  for (const exposed of exposedSecrets(paths, user, statForCheck)) {
    const path = exposed.replace(/ \(mode .*$/, '');
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    if (secrets.some((secret) => text.includes(secret))) found.push(exposed);
  }
  return found;
}

/**
 * Sets up the runner's sandbox from its config: probes, decides, refuses to start when the plugin user could read
 * the runner's credentials, and logs which level is in force.
 */
export function startSandbox(config: CofferConfig, log: Logger, cacheDir: string): RunnerSandbox {
  const setting = config.pluginSandbox ?? 'auto';
  const facts = probeSandbox({ user: config.pluginRunAsUser, group: config.pluginRunAsGroup, wantBwrap: setting === 'auto' || setting === 'bwrap' });
  const plan = chooseSandbox(setting, facts);
  if (plan.user) {
    // Credential files always; config files when they spell out a password or token (one from the environment is
    // kept from the plugin by the uid itself).
    const credentials = [config.bus?.nkeySeedFile, config.bus?.membershipKeyFile, config.bus?.tlsKeyFile, ...config.listeners.map((l) => l.tlsKeyFile)];
    const exposed = [
      ...exposedSecrets(credentials.filter((p): p is string => !!p), plan.user, statForCheck),
      ...configFilesShowing(config.sources, configSecrets(config), plan.user),
    ];
    if (exposed.length) {
      throw new CofferError(
        'invalid-request',
        `refusing to start: plugins run as ${plan.user.name} (uid ${plan.user.uid}), who could read the runner's credentials: ${exposed.join(', ')}. ` +
          'Make them private to the service user (chmod 600, owned by it).',
      );
    }
  }
  const fields = { sandbox: plan.level, setting, runAs: plan.user ? `${plan.user.name} (${plan.user.uid}:${plan.user.gid})` : 'the runner\'s user', limits: { memoryMb: config.pluginMaxMemoryMb ?? 2048, processes: config.pluginMaxProcesses ?? 1024 } };
  if (plan.warning) log.warn(fields, `plugin sandbox: ${plan.level}: ${plan.warning}`);
  else log.info(fields, `plugin sandbox: ${plan.level}`);
  return new RunnerSandbox(plan, facts, fields.limits, `${cacheDir}-shared`);
}
