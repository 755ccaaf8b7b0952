import { defineCommand, Failure, sanitizePath } from '../client/command.js';
import { structured } from '../client/format.js';

const SEALED = `Error: Coffer is sealed.

The "path-help" command requires Coffer to be unsealed so that the mount
points of the secret engines are known.`;

export const pathHelpCommand = defineCommand({
  synopsis: 'coffer path-help [options] PATH',
  help: `  Retrieves API help for paths. Every path of Coffer has built-in help: the
  system paths, the token store, and each mounted plugin's paths (the plugin
  writes its own help).

  Get help for the thing mounted at my-secrets-plugin/ (its list of paths):

      $ coffer path-help my-secrets-plugin/

  Get help for one of its paths (its parameters):

      $ coffer path-help my-secrets-plugin/kv/foo

  Get help for a system path:

      $ coffer path-help sys/mounts

  With -format=json the help object is printed as the server answers it.`,
  output: true,
  args: 1,
  run: async (ctx) => {
    const path = sanitizePath(ctx.args[0]);
    const res = await ctx.remote('Error retrieving help', () => ctx.client.request('GET', path, { query: { help: '1' } })).catch((err: unknown) => {
      // Vault's own test: the mounts are unknown while sealed, which deserves more than the API error.
      throw err instanceof Failure && err.message.includes('Vault is sealed') ? new Failure(SEALED, 2) : err;
    });
    const body = res.body as { help?: unknown } | undefined;
    if (ctx.format !== 'table') {
      ctx.out(await structured(body ?? {}, ctx.format));
      return 0;
    }
    ctx.out(`${typeof body?.help === 'string' ? body.help : ''}\n`);
    return 0;
  },
});
