import { defineCommand, defineGroup, outputSecret, UsageError } from '../client/command.js';
import { incrementSeconds } from '../client/increment.js';


/** Vault's lease commands check their one ID themselves, with their own words ("Missing ID!"). */
function leaseIdOf(args: string[], tooMany: string): string {
  if (args.length === 0) throw new UsageError('Missing ID!');
  if (args.length > 1) throw new UsageError(`Too many arguments (expected ${tooMany}, got ${args.length})`);
  return args[0].trim();
}

const lookup = defineCommand({
  synopsis: 'coffer lease lookup ID',
  help: `  Lookup the lease information of a secret.

  Every secret in Coffer has a lease associated with it. Users can look up
  information on the lease by referencing the lease ID.

  Lookup lease of a secret:

      $ coffer lease lookup database/creds/readonly/2f6a614c...`,
  output: true,
  run: async (ctx) => {
    const leaseId = leaseIdOf(ctx.args, '1');
    const secret = await ctx.remote(`error looking up lease id ${leaseId}`, () => ctx.client.write('sys/leases/lookup', { lease_id: leaseId }));
    return outputSecret(ctx, secret ?? {});
  },
});

const renew = defineCommand({
  synopsis: 'coffer lease renew [options] ID',
  help: `  Renews the lease on a secret, extending the time that it can be used before
  it is revoked by Coffer.

  Every secret in Coffer has a lease associated with it. If the owner of the
  secret wants to use it longer than the lease, then it must be renewed.
  Renewing the lease does not change the contents of the secret. The ID is the
  full path lease ID.

  Renew a secret:

      $ coffer lease renew database/creds/readonly/2f6a614c...

  Lease renewal will fail if the secret is not renewable, the secret has already
  been revoked, or if the secret has already reached its maximum TTL.`,
  flags: {
    increment: { kind: 'string', usage: 'Request a specific increment in seconds (or a duration such as "30m"). Coffer is not required to honor this request.' },
  },
  output: true,
  run: async (ctx) => {
    const increment = incrementSeconds(ctx.flags.increment as string | undefined);
    const leaseId = leaseIdOf(ctx.args, '1-2');
    const secret = await ctx.remote(`Error renewing ${leaseId}`, () => ctx.client.write('sys/leases/renew', { lease_id: leaseId, increment }));
    return outputSecret(ctx, secret ?? {});
  },
});

const revoke = defineCommand({
  synopsis: 'coffer lease revoke [options] ID',
  help: `  Revokes secrets by their lease ID. This command can revoke a single secret
  or multiple secrets based on a path-matched prefix.

  The default behavior when not using -force is to revoke asynchronously; Coffer
  will queue the revocation and keep trying if it fails (including across
  restarts). The -sync flag can be used to force a synchronous operation, but
  it is then up to the caller to retry on failure. Force mode always operates
  synchronously.

  Revoke a single lease:

      $ coffer lease revoke database/creds/readonly/2f6a614c...

  Revoke all leases for a role:

      $ coffer lease revoke -prefix aws/creds/deploy

  Force delete leases from Coffer even if secret engine revocation fails:

      $ coffer lease revoke -force -prefix consul/creds`,
  flags: {
    force: {
      kind: 'bool',
      aliases: ['f'],
      usage:
        'Delete the lease from Coffer even if the secret engine revocation fails. This is meant for recovery situations where the secret in the target secret engine was manually removed. If this flag is specified, -prefix is also required. This is aliased as "-f".',
      default: false,
    },
    prefix: { kind: 'bool', usage: 'Treat the ID as a prefix instead of an exact lease ID. This can revoke multiple leases simultaneously.', default: false },
    sync: { kind: 'bool', usage: 'Force a synchronous operation; on failure it is up to the client to retry.', default: false },
  },
  run: async (ctx) => {
    if (ctx.args.length < 1) throw new UsageError(`Not enough arguments (expected 1, got ${ctx.args.length})`);
    if (ctx.args.length > 1) throw new UsageError(`Too many arguments (expected 1, got ${ctx.args.length})`);
    const { force, prefix, sync } = ctx.flags as { force: boolean; prefix: boolean; sync: boolean };
    if (force && !prefix) throw new UsageError('Specifying -force requires also specifying -prefix');
    const leaseId = ctx.args[0].trim();
    // As Vault's api.RevokeWithOptions: the id in the path, `sync` in the body except for revoke-force.
    const path = `sys/leases/${force ? 'revoke-force' : prefix ? 'revoke-prefix' : 'revoke'}/${leaseId}`;
    if (force) process.stderr.write('Warning! Force-removing leases can cause Coffer to become out of sync with\nsecret engines!\n');
    const what = force ? `Error force revoking leases with prefix ${leaseId}` : prefix ? `Error revoking leases with prefix ${leaseId}` : `Error revoking lease ${leaseId}`;
    await ctx.remote(what, () => ctx.client.write(path, force ? {} : { sync }));
    if (force) ctx.out(`Success! Force revoked any leases with prefix: ${leaseId}\n`);
    else if (sync) ctx.out(prefix ? `Success! Revoked any leases with prefix: ${leaseId}\n` : `Success! Revoked lease: ${leaseId}\n`);
    else ctx.out('All revocation operations queued successfully!\n');
    return 0;
  },
});

export const leaseCommand = defineGroup('lease', 'This command groups subcommands for interacting with leases. Users can revoke or\n  renew leases.', {
  lookup: { summary: 'Lookup the lease of a secret', run: lookup },
  renew: { summary: 'Renews the lease of a secret', run: renew },
  revoke: { summary: 'Revokes leases and secrets', run: revoke },
});
