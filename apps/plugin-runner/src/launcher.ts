import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { CofferError, sealedError, type PluginProbeRequest, type PluginProbeResult } from '#contracts';
import { builtinPluginDirectory } from '#plugin-catalog';
import { launchPlugin, type PluginProcess, type StorageHandler } from '#plugin-protocol';
import { SERVICE_CONTEXT, type ServiceContext } from '#runtime';

/** Storage for a process that serves no mount (a probe): every call is refused by the host side before it gets here. */
const NO_STORAGE: StorageHandler = {
  get: async () => null,
  put: async () => undefined,
  delete: async () => undefined,
  list: async () => [],
  info: async () => {
    throw new CofferError('invalid-request', 'unknown mount');
  },
};

/**
 * Launches plugin processes for this runner: from the configured plugin directory, with the SHA-256 checked against
 * the catalog at every launch, out of a private cache of exactly the bytes hashed.
 */
@Injectable()
export class PluginLauncher {
  /** Per runner process: the cache holds copies named by hash, so processes of one machine may share it safely. */
  readonly cacheDir = process.env.COFFER_PLUGIN_CACHE_DIR ?? join(tmpdir(), `coffer-plugin-cache-${process.getuid?.() ?? 'user'}`);

  constructor(@Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext) {}

  /**
   * A builtin (`builtin: true`) runs from this build's own bundles (dist/plugins), not from plugin_directory, and is
   * held to the build's file modes rather than the operator's plugin_file_uid/permissions; its SHA-256 is checked all
   * the same.
   */
  launch(spec: PluginProbeRequest & { builtin?: boolean }, storage: StorageHandler = NO_STORAGE): Promise<PluginProcess> {
    return launchPlugin({
      name: spec.name,
      pluginDirectory: spec.builtin ? builtinPluginDirectory() : (this.ctx.config.pluginDirectory ?? ''),
      command: spec.command,
      args: spec.args,
      env: spec.env,
      sha256: spec.sha256,
      cacheDir: this.cacheDir,
      log: this.ctx.log,
      storage,
      filePolicy: spec.builtin ? {} : { uid: this.ctx.config.pluginFileUid, mode: this.ctx.config.pluginFilePermissions },
    });
  }

  /** Starts the plugin, reads its handshake, stops it: how the catalog learns a plugin's type and version. */
  async probe(spec: PluginProbeRequest): Promise<PluginProbeResult> {
    if (this.ctx.barrier.sealed) throw sealedError();
    const plugin = await this.launch(spec);
    try {
      const { type, name, version, multiplex } = plugin.hello;
      return { type, name, version, multiplex };
    } finally {
      await plugin.shutdown().catch(() => plugin.kill());
    }
  }
}
