import { parseDurationSeconds } from '#duration';
import { UsageError } from './command.js';

/** Vault's DurationVar (parseutil.ParseDurationSecond), truncated to seconds: "30m", "1h30m", "2d" or seconds. */
export function incrementSeconds(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 0;
  let seconds: number;
  try {
    seconds = parseDurationSeconds(raw);
  } catch (err) {
    throw new UsageError(`invalid value ${JSON.stringify(raw)} for flag -increment: ${(err as Error).message}`);
  }
  if (seconds < 0) throw new UsageError(`invalid value ${JSON.stringify(raw)} for flag -increment: negative duration`);
  return seconds;
}
