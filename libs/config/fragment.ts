import { ConfigError, ValueProblem } from './errors.js';
import { HclExpression, isRecord, type ConfigFile } from './read.js';
import {
  BLOCKS,
  isIgnored,
  SETTINGS,
  TOP_LEVEL_KEYS,
  type BlockName,
  type BlockType,
  type KeyTable,
  type NatsBusFields,
  type PostgresFields,
  type Settings,
  type TcpListenerFields,
} from './schema.js';
import { didYouMean } from './suggest.js';

/** A block as one source declared it, before defaults and required keys (another source may still fill them). */
export interface DeclaredBlock<T> {
  type: string;
  fields: Partial<T>;
  source: string;
  /** How errors name the block: `listener.tcp`, or `listener.tcp[1]` when the file has several. */
  key: string;
}

/** What one file (or the environment) says, checked key by key. */
export interface Fragment {
  source: string;
  settings: Partial<Settings>;
  storage?: DeclaredBlock<PostgresFields>;
  bus?: DeclaredBlock<NatsBusFields>;
  listeners: DeclaredBlock<TcpListenerFields>[];
}

export function readFragment({ path, body }: ConfigFile): Fragment {
  const { storage, listener, bus, ...settings } = body;
  return {
    source: path,
    settings: readKeys(SETTINGS, settings, path, '', TOP_LEVEL_KEYS),
    storage: onlyOne('storage', readBlocks(path, 'storage', storage, BLOCKS.storage.types)),
    bus: onlyOne('bus', readBlocks(path, 'bus', bus, BLOCKS.bus.types)),
    listeners: readBlocks(path, 'listener', listener, BLOCKS.listener.types),
  };
}

/**
 * Reads the keys of one table from a body. An absent key, `null` and an empty string all mean "not set here", so a
 * later file can leave a key blank without erasing an earlier file's value (Vault's merge skips zero values too).
 */
export function readKeys<T>(
  table: KeyTable<T>,
  body: Record<string, unknown>,
  source: string,
  prefix: string,
  knownHere: readonly string[] = Object.keys(table),
): Partial<T> {
  const fields: Partial<T> = {};
  for (const [key, raw] of Object.entries(body)) {
    const spec = table[key];
    const name = prefix + key;
    if (spec === undefined) throw new ConfigError(source, name, `unknown key "${name}"${didYouMean(key, knownHere)}`);
    if (raw === null || raw === '') continue;
    const secret = !isIgnored(spec) && spec.redact !== undefined;
    const value = readValue(raw, spec.kind, { source, name, secret });
    if (!isIgnored(spec)) fields[spec.field] = value as T[typeof spec.field];
  }
  return fields;
}

export function readValue<T>(raw: unknown, kind: (raw: unknown) => T, at: { source: string; name: string; secret: boolean }): T {
  const shown = at.secret ? '' : ` (got ${show(raw instanceof HclExpression ? raw.text : raw)})`;
  if (raw instanceof HclExpression) {
    throw new ConfigError(
      at.source,
      at.name,
      `"${at.name}" is an HCL expression${shown}; Coffer reads literal values only: quote the value, and write a literal "\${" as "$\${"`,
    );
  }
  try {
    return kind(raw);
  } catch (err) {
    if (!(err instanceof ValueProblem)) throw err;
    throw new ConfigError(at.source, at.name, `"${at.name}" ${err.message}${shown}`);
  }
}

/**
 * HCL gives `listener "tcp" {...}` as `{ listener: { tcp: [ {...} ] } }`; JSON configs write the same block as
 * `{ tcp: {...} }`, `{ tcp: [...] }` or `[ { tcp: {...} } ]`. All become a list of (type, body).
 */
function readBlocks<T>(
  source: string,
  block: BlockName,
  raw: unknown,
  types: Readonly<Record<string, BlockType<T>>>,
): DeclaredBlock<T>[] {
  if (raw === undefined || raw === null) return [];
  const declared = labelledBodies(source, block, raw);
  const typeNames = Object.keys(types);
  const seen = new Map<string, number>();
  return declared.map(({ type, body }) => {
    const blockType = types[type];
    if (blockType === undefined) {
      const supported = typeNames.map((name) => `"${name}"`).join(', ');
      throw new ConfigError(source, block, `unknown "${block}" type "${type}"; Coffer supports ${supported}`);
    }
    const index = seen.get(type) ?? 0;
    seen.set(type, index + 1);
    const several = declared.filter((other) => other.type === type).length > 1;
    const key = several ? `${block}.${type}[${index}]` : `${block}.${type}`;
    return { type, fields: readKeys(blockType.keys, body, source, `${key}.`), source, key };
  });
}

function labelledBodies(source: string, block: BlockName, raw: unknown): { type: string; body: Record<string, unknown> }[] {
  const unlabelled = () =>
    new ConfigError(source, block, `a "${block}" block needs a type, as in ${block} "${exampleType(block)}" { ... }`);
  if (Array.isArray(raw)) return raw.flatMap((item) => labelledBodies(source, block, item));
  if (!isRecord(raw)) throw unlabelled();
  return Object.entries(raw).flatMap(([type, bodies]) => {
    const list = Array.isArray(bodies) ? bodies : [bodies];
    if (!list.every(isRecord)) throw unlabelled(); // `storage { connection_url = ... }`: the keys sit where types go
    return list.map((body) => ({ type, body }));
  });
}

function exampleType(block: BlockName): string {
  return Object.keys(BLOCKS[block].types)[0]!;
}

/** Vault allows one storage block per file; a second one is almost always a paste left in by mistake. */
function onlyOne<T>(block: BlockName, blocks: DeclaredBlock<T>[]): DeclaredBlock<T> | undefined {
  if (blocks.length > 1) throw new ConfigError(blocks[1]!.source, block, `only one "${block}" block is allowed in a file`);
  return blocks[0];
}

function show(raw: unknown): string {
  const text = JSON.stringify(raw) ?? String(raw);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
