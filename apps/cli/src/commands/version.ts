import { COFFER_VERSION, BUILD_DATE } from '#contracts';

export async function versionCommand(): Promise<number> {
  process.stdout.write(`Coffer v${COFFER_VERSION} (built ${BUILD_DATE})\n`);
  return 0;
}
