import { chmodSync, writeFileSync } from 'node:fs';
import { tokenHelperPath, type Secret } from '../client/api.js';
import { defineCommand, defineGroup, outputSecret, UsageError } from '../client/command.js';
import { parseArgsData } from './kv.js';
import { incrementSeconds } from '../client/increment.js';

function keyValues(raw: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of raw) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid metadata "${kv}": format must be key=value`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

const create = defineCommand({
  synopsis: 'coffer token create [options]',
  help: `  Creates a new token that can be used for authentication. This token will be
  created as a child of the currently authenticated token.

  Create a token attached to specific policies:

      $ coffer token create -policy=my-policy -policy=other-policy

  Create an orphaned token:

      $ coffer token create -orphan

  Create a periodic token:

      $ coffer token create -period=30m`,
  flags: {
    policy: { kind: 'strings', usage: 'Name of a policy to associate with this token (repeatable).' },
    ttl: { kind: 'string', usage: 'Initial TTL to associate with the token, e.g. "30m".' },
    'explicit-max-ttl': { kind: 'string', usage: 'Explicit maximum lifetime for the token.' },
    period: { kind: 'string', usage: 'If specified, every renewal will use the given period.' },
    'display-name': { kind: 'string', usage: 'Name to associate with this token.' },
    orphan: { kind: 'bool', usage: 'Create the token with no parent.', default: false },
    'no-default-policy': { kind: 'bool', usage: 'Detach the "default" policy from the token.', default: false },
    renewable: { kind: 'bool', usage: 'Allow the token to be renewed up to its maximum TTL.', default: true },
    'use-limit': { kind: 'string', usage: 'Number of times this token can be used.' },
    metadata: { kind: 'strings', usage: 'Arbitrary key=value metadata to associate with the token (repeatable).' },
    id: { kind: 'string', usage: 'Value for the token (root only).' },
  },
  output: true,
  field: true,
  args: 0,
  run: async (ctx) => {
    const f = ctx.flags;
    const body: Record<string, unknown> = { renewable: f.renewable };
    const policies = (f.policy as string[]).flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean);
    if (policies.length) body.policies = policies;
    if (f.ttl) body.ttl = f.ttl;
    if (f['explicit-max-ttl']) body.explicit_max_ttl = f['explicit-max-ttl'];
    if (f.period) body.period = f.period;
    if (f['display-name']) body.display_name = f['display-name'];
    if (f.orphan) body.no_parent = true;
    if (f['no-default-policy']) body.no_default_policy = true;
    if (f['use-limit']) body.num_uses = Number(f['use-limit']);
    if (f.id) body.id = f.id;
    const meta = keyValues(f.metadata as string[]);
    if (Object.keys(meta).length) body.meta = meta;
    const secret = await ctx.remote('Error creating token', () => ctx.client.write('auth/token/create', body, 'POST'));
    return outputSecret(ctx, secret ?? {});
  },
});

const lookup = defineCommand({
  synopsis: 'coffer token lookup [options] [TOKEN | ACCESSOR]',
  help: `  Displays information about a token or accessor. If a TOKEN is not provided,
  the locally authenticated token is used.

  Get information about the locally authenticated token:

      $ coffer token lookup

  Get information about a particular token:

      $ coffer token lookup 96ddf4bc-d217-f3ba-f9bd-017055595017

  Get information about a token via its accessor:

      $ coffer token lookup -accessor 9793c9b3-e04a-46f3-e7b8-748d7da248da`,
  flags: { accessor: { kind: 'bool', usage: 'Treat the argument as an accessor instead of a token.', default: false } },
  output: true,
  field: true,
  args: [0, 1],
  run: async (ctx) => {
    const arg = ctx.args[0];
    if (ctx.flags.accessor && !arg) throw new UsageError('Not enough arguments (expected 1, got 0)');
    const secret = await ctx.remote('Error looking up token', () =>
      ctx.flags.accessor
        ? ctx.client.write('auth/token/lookup-accessor', { accessor: arg }, 'POST')
        : arg
          ? ctx.client.write('auth/token/lookup', { token: arg }, 'POST')
          : ctx.client.read('auth/token/lookup-self'),
    );
    return outputSecret(ctx, secret ?? {});
  },
});

const revoke = defineCommand({
  synopsis: 'coffer token revoke [options] [TOKEN | ACCESSOR]',
  help: `  Revokes authentication tokens and their children. If a TOKEN is not provided,
  the -self flag must be specified to revoke the locally authenticated token.

  Revoke a token and all the token's children:

      $ coffer token revoke 96ddf4bc-d217-f3ba-f9bd-017055595017

  Revoke a token leaving the token's children:

      $ coffer token revoke -mode=orphan 96ddf4bc-d217-f3ba-f9bd-017055595017

  Revoke the locally authenticated token:

      $ coffer token revoke -self`,
  flags: {
    accessor: { kind: 'bool', usage: 'Treat the argument as an accessor instead of a token.', default: false },
    self: { kind: 'bool', usage: 'Perform the revocation on the currently authenticated token.', default: false },
    mode: { kind: 'string', usage: 'Type of revocation to perform: "" (token and children) or "orphan" (token only).' },
  },
  args: [0, 1],
  run: async (ctx) => {
    const arg = ctx.args[0];
    if (ctx.flags.self && arg) throw new UsageError('Too many arguments (expected 0, got 1)');
    if (!ctx.flags.self && !arg) throw new UsageError('Not enough arguments (expected 1, got 0)');
    if (ctx.flags.mode && ctx.flags.mode !== 'orphan') throw new UsageError(`Invalid -mode "${String(ctx.flags.mode)}": expected "" or "orphan"`);
    await ctx.remote('Error revoking token', () =>
      ctx.flags.self
        ? ctx.client.write('auth/token/revoke-self', {}, 'POST')
        : ctx.flags.accessor
          ? ctx.client.write('auth/token/revoke-accessor', { accessor: arg }, 'POST')
          : ctx.client.write(ctx.flags.mode === 'orphan' ? 'auth/token/revoke-orphan' : 'auth/token/revoke', { token: arg }, 'POST'),
    );
    ctx.out('Success! Revoked token (if it existed)\n');
    return 0;
  },
});

const renew = defineCommand({
  synopsis: 'coffer token renew [options] [TOKEN]',
  help: `  Renews a token's lease, extending the amount of time it can be used. If a
  TOKEN is not provided, the locally authenticated token is used. A token
  accessor can be used as well. Lease renewal will fail if the token is not
  renewable, the token has already been revoked, or if the token has already
  reached its maximum TTL.

  Renew a token (this uses the /auth/token/renew endpoint and permission):

      $ coffer token renew 96ddf4bc-d217-f3ba-f9bd-017055595017

  Renew the currently authenticated token (this uses the /auth/token/renew-self
  endpoint and permission):

      $ coffer token renew

  Renew a token requesting a specific increment value:

      $ coffer token renew -increment=30m 96ddf4bc-d217-f3ba-f9bd-017055595017`,
  flags: {
    accessor: { kind: 'bool', usage: 'Treat the argument as an accessor instead of a token. The output will then NOT include the token.', default: false },
    increment: {
      kind: 'string',
      usage: 'Request a specific increment for renewal, e.g. "30s" or "5m" (or seconds). It may not be honored, for instance for periodic tokens. If not supplied, Coffer uses the default TTL.',
    },
    'fail-if-not-fulfilled': { kind: 'bool', usage: 'Fail if the requested TTL increment cannot be fully fulfilled.', default: false },
  },
  output: true,
  args: [0, 1],
  run: async (ctx) => {
    const token = ctx.args[0]?.trim() ?? '';
    const increment = incrementSeconds(ctx.flags.increment as string | undefined);
    const body: Record<string, unknown> = increment ? { increment } : {};
    const secret = await ctx.remote('Error renewing token', () =>
      token === ''
        ? ctx.client.write('auth/token/renew-self', body, 'POST')
        : ctx.flags.accessor
          ? ctx.client.write('auth/token/renew-accessor', { ...body, accessor: token }, 'POST')
          : ctx.client.write('auth/token/renew', { ...body, token }, 'POST'),
    );
    const granted = Number((secret?.auth as Record<string, unknown> | undefined)?.lease_duration ?? 0);
    if (ctx.flags['fail-if-not-fulfilled'] && granted < increment) {
      process.stderr.write('Token renewal completed with capped duration, failing the command because of --fail-if-not-fulfilled\n');
      return 1;
    }
    return outputSecret(ctx, secret ?? {});
  },
});


export const tokenCommand = defineGroup('token', 'This command groups subcommands for interacting with tokens.', {
  create: { summary: 'Create a new token', run: create },
  lookup: { summary: 'Display information about a token', run: lookup },
  renew: { summary: 'Renew a token lease', run: renew },
  revoke: { summary: 'Revoke a token and its children', run: revoke },
});

const LOGIN_SUCCESS = `Success! You are now authenticated. The token information displayed below
is already stored in the token helper. You do NOT need to run "coffer login"
again. Future Coffer requests will automatically use this token.
`;

export const loginCommand = defineCommand({
  synopsis: 'coffer login [options] [AUTH K=V...]',
  help: `  Authenticates users or machines to Coffer using the provided arguments. A
  successful authentication results in a Coffer token, which is stored in the
  token helper (~/.coffer-token). By default, this uses the "token" method.

  Authenticate using a token:

      $ coffer login 96ddf4bc-d217-f3ba-f9bd-017055595017

  Authenticate using the userpass auth method:

      $ coffer login -method=userpass username=my-username password=my-password

  Print only the token:

      $ coffer login -method=userpass -token-only username=me password=secret`,
  flags: {
    method: { kind: 'string', usage: 'Type of authentication to use: "token" or "userpass".', default: 'token' },
    path: { kind: 'string', usage: 'Mount path of the auth method. Defaults to the method name.' },
    'no-store': { kind: 'bool', usage: 'Do not persist the token to the token helper.', default: false },
    'no-print': { kind: 'bool', usage: 'Do not display the token.', default: false },
    'token-only': { kind: 'bool', usage: 'Output only the token with no verification (implies -no-store).', default: false },
  },
  output: true,
  field: true,
  run: async (ctx) => {
    const method = String(ctx.flags.method || 'token');
    let secret: Secret;
    if (method === 'token') {
      if (ctx.args.length > 1) throw new UsageError(`Too many arguments (expected 1, got ${ctx.args.length})`);
      let token = ctx.args[0];
      if (token?.startsWith('token=')) token = token.slice('token='.length);
      if (token === undefined || token === '-') {
        const { readSecret } = await import('../client/prompt.js');
        token = await readSecret('Token (will be hidden): ', 'a token');
      }
      if (!token) throw new UsageError('Missing token');
      ctx.client.token = token;
      const self = await ctx.remote('Error authenticating', () => ctx.client.read('auth/token/lookup-self'));
      const d = (self?.data ?? {}) as Record<string, unknown>;
      secret = {
        ...self,
        data: null,
        auth: {
          client_token: token,
          accessor: d.accessor ?? '',
          policies: d.policies ?? [],
          token_policies: d.policies ?? [],
          identity_policies: d.identity_policies ?? [],
          metadata: d.meta ?? null,
          lease_duration: Number(d.ttl ?? 0),
          renewable: !!d.renewable,
        },
      };
    } else if (method === 'userpass' || method === 'ldap') {
      const data = parseArgsData(ctx.args);
      const username = data.username;
      if (typeof username !== 'string' || !username) throw new UsageError('Missing "username"');
      delete data.username;
      const mount = String(ctx.flags.path || method).replace(/^\/+|\/+$/g, '');
      ctx.client.token = undefined;
      const res = await ctx.remote('Error authenticating', () => ctx.client.write(`auth/${mount}/login/${encodeURIComponent(username)}`, data));
      if (!res?.auth) throw new UsageError('Error authenticating: no auth information in the response');
      secret = res;
    } else {
      throw new UsageError(`Unknown auth method: ${method}. Use "coffer auth list" to see the enabled methods; supported here: token, userpass, ldap`);
    }
    const token = String((secret.auth as Record<string, unknown>).client_token ?? '');
    if (ctx.flags['token-only']) {
      ctx.out(process.stdout.isTTY ? `${token}\n` : token);
      return 0;
    }
    if (!ctx.flags['no-store']) {
      const file = tokenHelperPath();
      writeFileSync(file, token, { mode: 0o600 });
      chmodSync(file, 0o600);
    }
    if (ctx.flags['no-print']) return 0;
    if (ctx.format === 'table' && !ctx.field) ctx.out(ctx.flags['no-store'] ? 'Success! You are now authenticated. The token information displayed below\nis not stored in the token helper.\n\n' : `${LOGIN_SUCCESS}\n`);
    return outputSecret(ctx, secret);
  },
});
