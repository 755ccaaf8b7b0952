import { openAsBlob } from 'node:fs';
import { readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * PGlite is ONE database session: the dev server's pool must have one connection (`poolSize: 1`). Several
 * connections would interleave their statements, transactions included, on that single session.
 */
export interface EmbeddedStore {
  /** A `postgres://` URL on a loopback port, for `createDataSource`. */
  readonly url: string;
  close(): Promise<void>;
}

/** The slice of a pino logger the embedded store writes to. */
export interface EmbeddedStoreLogger {
  warn(fields: object, message: string): void;
}

export interface EmbeddedStoreOptions {
  /** Where the database persists across restarts; in memory, gone on close, when absent. */
  dataDir?: string;
  /**
   * A seed file (see `writeSeed`) a NEW database starts as a copy of, instead of running initdb: the in-memory
   * database, or a dataDir that does not exist yet or is empty. Default: `dev-seed.tar` beside the compiled code
   * (`dist/dev-seed.tar`, made by `scripts/build-dev-seed.mjs`). `false`: always initdb. A seed that is missing or
   * cannot be loaded is skipped with a warning: the store then starts as without one, only slower.
   */
  seed?: string | false;
  /** Where that warning goes; a Node process warning when absent. */
  logger?: EmbeddedStoreLogger;
}

/** The file name of the seed the build writes next to the compiled code, at the root of `dist/`. */
export const DEV_SEED_FILE = 'dev-seed.tar';

/**
 * Postgres for `coffer server -dev` without a Postgres: PGlite (Postgres compiled to WebAssembly) in this process,
 * served on a loopback port so the services use the same `pg` driver and SQL as in production.
 *
 * A new database either runs initdb (about 2.5 s on an idle machine, 4 to 20 s on a busy one) or, much faster, is
 * loaded from a seed: a copy of a new database's data directory, Coffer's migrations already applied, that the build
 * made (see `writeSeed`). Reopening a dataDir takes about 0.6 s.
 */
export async function startEmbeddedStore(options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
  return serve(await openDatabase(options));
}

/**
 * Makes a seed: starts a new in-memory database (initdb, never from another seed), lets `prepare` set it up through
 * the store's URL (Coffer's build runs the migrations), and saves its data directory to `file` as a tar, replacing
 * the file atomically: a store starting meanwhile reads the old seed or the new one, never half of one.
 *
 * Uncompressed on purpose: gzip makes the file 9 times smaller (about 4.5 MB instead of 40 MB) but inflating it
 * costs more at every start than reading the larger file does.
 */
export async function writeSeed(file: string, prepare: (url: string) => Promise<void>): Promise<{ bytes: number }> {
  const db = await PGlite.create();
  try {
    const store = await serve(db, { closeDatabase: false });
    try {
      await prepare(store.url);
    } finally {
      await store.close();
    }
    // Everything on disk and in a checkpoint: a store loading the seed then has no WAL to replay.
    await db.exec('CHECKPOINT');
    const tar = new Uint8Array(await (await db.dumpDataDir('none')).arrayBuffer());
    const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
    try {
      await writeFile(temporary, tar);
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return { bytes: tar.byteLength };
  } finally {
    await db.close();
  }
}

/**
 * The default seed: `dev-seed.tar` at the root of `dist/`. This module compiles to
 * `dist/apps/cli/src/dev/embedded-store.js`, four folders down, but the seed is looked for in each folder from this
 * module's up to the package's root (the first with a package.json), so that it is still found if the compiled code
 * moves (a bundle, another layout). Undefined when there is none.
 */
export async function defaultSeedFile(): Promise<string | undefined> {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, DEV_SEED_FILE);
    if (await isFile(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir || (await isFile(join(dir, 'package.json')))) return undefined;
    dir = parent;
  }
}

async function openDatabase({ dataDir, seed, logger }: EmbeddedStoreOptions): Promise<PGlite> {
  const warn = (fields: object, message: string) =>
    logger ? logger.warn(fields, message) : process.emitWarning(`${message} ${JSON.stringify(fields)}`);
  const fresh = () => PGlite.create(dataDir === undefined ? {} : { dataDir });
  if (seed === false) return fresh();

  // Only a new database starts from the seed: an existing dataDir is reopened as it is, and one that cannot be
  // created (its parent missing) fails as it would without a seed.
  const target = dataDir === undefined ? 'memory' : await directoryState(dataDir);
  if (target === 'other') return fresh();

  const file = seed ?? (await defaultSeedFile());
  if (file === undefined) {
    warn(
      { seed: DEV_SEED_FILE },
      'no dev store seed was built (node scripts/build-dev-seed.mjs); creating the database with initdb, which is slower',
    );
    return fresh();
  }
  let loadDataDir: Blob;
  try {
    loadDataDir = await readSeed(file);
  } catch (error) {
    warn({ seed: file, err: describe(error) }, 'cannot read the dev store seed; creating the database with initdb');
    return fresh();
  }
  try {
    return await PGlite.create(dataDir === undefined ? { loadDataDir } : { dataDir, loadDataDir });
  } catch (error) {
    warn({ seed: file, err: describe(error) }, 'cannot load the dev store seed; creating the database with initdb');
    // What the failed load wrote to the dataDir would look like a database to the next start: put it back as it was.
    if (dataDir !== undefined && target !== 'memory') await restore(dataDir, target);
    return fresh();
  }
}

/** The seed as a file-backed Blob (read once, by PGlite), after a quick check that it is a tar, or a gzipped one. */
async function readSeed(file: string): Promise<Blob> {
  const blob = await openAsBlob(file);
  const head = new Uint8Array(await blob.slice(0, 262).arrayBuffer());
  if (head[0] === 0x1f && head[1] === 0x8b) return blob.slice(0, blob.size, 'application/x-gzip');
  const ustar = new TextDecoder().decode(head.subarray(257, 262));
  if (ustar !== 'ustar' || blob.size % 512 !== 0) throw new Error('not a tar file, or a truncated one');
  return blob.slice(0, blob.size, 'application/x-tar');
}

/** absent: PGlite can create it (its parent exists); other: in use, or PGlite will report why it cannot use it. */
type DirectoryState = 'absent' | 'empty' | 'other';

async function directoryState(dir: string): Promise<DirectoryState> {
  try {
    return (await readdir(dir)).length === 0 ? 'empty' : 'other';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return 'other';
    return (await isDirectory(dirname(resolve(dir)))) ? 'absent' : 'other';
  }
}

/** Takes a dataDir that was absent or empty before a failed load back to that state. */
async function restore(dir: string, before: DirectoryState): Promise<void> {
  if (before === 'absent') await rm(dir, { recursive: true, force: true });
  else if (before === 'empty') {
    for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
  }
}

async function serve(db: PGlite, { closeDatabase = true } = {}): Promise<EmbeddedStore> {
  const server = new PGLiteSocketServer({
    db,
    // Port 0: the OS picks a free port, so a dev server never collides with a real Postgres or another dev server.
    host: '127.0.0.1',
    port: 0,
    // Not 1: when the pool replaces its one connection, the new socket arrives before the server has noticed the old
    // one close, and a limit of 1 turns it away ("Connection terminated unexpectedly" on the next query).
    maxConnections: 2,
  });
  try {
    await server.start();
  } catch (error) {
    if (closeDatabase) await db.close();
    throw error;
  }
  coalesceWrites(server);
  forgetPreparedStatements(server, db);
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    async close() {
      await server.stop();
      if (closeDatabase) await db.close();
    },
  };
}

/**
 * PGlite hands back each protocol message of a reply on its own, and the socket server writes each one to the
 * socket: four or more writes per query, each a system call (profiles of the dev server under a write load showed
 * them as a third of its CPU). Corked for the rest of the turn, they leave as one. The socket server keeps its
 * net.Server in a field it does not document: without it, nothing changes but the speed.
 */
function coalesceWrites(server: PGLiteSocketServer): void {
  const net = (server as unknown as { server?: import('node:net').Server | null }).server;
  net?.on('connection', (socket) => {
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    let corked = false;
    (socket as { write: unknown }).write = (...args: unknown[]) => {
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(() => {
          corked = false;
          socket.uncork();
        });
      }
      return write(...args);
    };
  });
}

/**
 * Every socket shares PGlite's one session, so a new connection finds the prepared statements of the one before
 * it, which a real Postgres gives nobody. node-postgres tracks what it prepared per connection: when the pool
 * replaces its connection (TypeORM releases a client with an error after a failed transaction), the new one
 * prepares a named statement again and would get "prepared statement already exists". So each connection starts
 * with none, as on Postgres. Queued before anything the new socket sends (it has sent nothing yet).
 */
function forgetPreparedStatements(server: PGLiteSocketServer, db: PGlite): void {
  const net = (server as unknown as { server?: import('node:net').Server | null }).server;
  // Fails only inside an aborted transaction a dead connection left behind; nothing to forget is then worse.
  net?.on('connection', () => void db.exec('DEALLOCATE ALL').catch(() => undefined));
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
