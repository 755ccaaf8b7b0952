import { readFileSync } from 'node:fs';
import { defineCommand, defineGroup, Failure, outputData, UsageError } from '../client/command.js';
import { structured } from '../client/format.js';

const write = defineCommand({
  synopsis: 'coffer policy write [options] NAME PATH',
  help: `  Uploads a policy with name NAME from the contents of a local file PATH or
  stdin. If PATH is "-", the policy is read from stdin. Otherwise, it is
  loaded from the file at the given path on the local disk.

  Upload a policy named "my-policy" from "/tmp/policy.hcl" on the local disk:

      $ coffer policy write my-policy /tmp/policy.hcl

  Upload a policy from stdin:

      $ cat my-policy.hcl | coffer policy write my-policy -`,
  args: 2,
  run: async (ctx) => {
    const name = ctx.args[0].trim().toLowerCase();
    const path = ctx.args[1].trim();
    let rules: string;
    try {
      rules = readFileSync(path === '-' ? 0 : path, 'utf8');
    } catch (err) {
      throw new UsageError(`Error opening policy file: ${(err as Error).message}`);
    }
    await ctx.remote('Error uploading policy', () => ctx.client.write(`sys/policies/acl/${name}`, { policy: rules }));
    ctx.out(`Success! Uploaded policy: ${name}\n`);
    return 0;
  },
});

const read = defineCommand({
  synopsis: 'coffer policy read [options] NAME',
  help: `  Prints the contents and metadata of the Coffer policy named NAME. If the
  policy does not exist, an error is returned.

  Read the policy named "my-policy":

      $ coffer policy read my-policy`,
  output: true,
  args: 1,
  run: async (ctx) => {
    const name = ctx.args[0].trim().toLowerCase();
    const secret = await ctx.remote(`Error reading policy named ${name}`, () => ctx.client.read(`sys/policies/acl/${name}`));
    if (!secret?.data) throw new Failure(`No policy named: ${name}`, 2);
    if (ctx.format !== 'table') {
      ctx.out(await structured({ policy: secret.data.policy }, ctx.format));
      return 0;
    }
    const text = String(secret.data.policy ?? '');
    ctx.out(text.endsWith('\n') ? text : `${text}\n`);
    return 0;
  },
});

const list = defineCommand({
  synopsis: 'coffer policy list [options]',
  help: `  Lists the names of the policies that are installed on the Coffer server.

  List the available policies:

      $ coffer policy list`,
  output: true,
  args: 0,
  run: async (ctx) => {
    const secret = await ctx.remote('Error listing policies', () => ctx.client.list('sys/policies/acl'));
    const keys = ((secret?.data?.keys ?? []) as unknown[]).map(String);
    return outputData(ctx, keys, () => keys.map((k) => `${k}\n`).join(''));
  },
});

const del = defineCommand({
  synopsis: 'coffer policy delete [options] NAME',
  help: `  Deletes the policy named NAME in the Coffer server. Once the policy is deleted,
  all tokens associated with the policy are affected immediately.

  Delete the policy named "my-policy":

      $ coffer policy delete my-policy

  Note that it is not possible to delete the "default" or "root" policies.`,
  args: 1,
  run: async (ctx) => {
    const name = ctx.args[0].trim().toLowerCase();
    await ctx.remote(`Error deleting ${name}`, () => ctx.client.delete(`sys/policies/acl/${name}`));
    ctx.out(`Success! Deleted policy: ${name}\n`);
    return 0;
  },
});

export const policyCommand = defineGroup('policy', 'This command groups subcommands for interacting with policies.', {
  write: { summary: 'Uploads a named policy from a file', run: write },
  read: { summary: 'Prints the contents of a policy', run: read },
  list: { summary: 'Lists the installed policies', run: list },
  delete: { summary: 'Deletes a policy by name', run: del },
});
