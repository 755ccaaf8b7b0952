import type { ProjectionHost } from '#runtime';
import type { Mount, MountTableState } from '#mount-table';
import { selectPlugin, type CatalogEntry, type CatalogState } from '#plugin-catalog';

/** What the runner needs to know about mounts and plugins: the two lookups, and a way to catch up when they miss. */
export interface RunnerDirectory {
  /** A mount of either table by uuid. */
  mount(uuid: string): Mount | undefined;
  /** The catalog entry a mount runs: its pinned version, else the unversioned entry, else the newest. */
  plugin(mount: Mount): CatalogEntry | undefined;
  /** Reads what the projections have not folded yet; never throws. */
  catchUp(): Promise<void>;
}

/** The directory over this runner's projections of the mount table and the catalog. */
export class ProjectionDirectory implements RunnerDirectory {
  private index = new Map<string, Mount>();
  private indexedState?: MountTableState;
  private indexedVersion = -1;

  constructor(
    private readonly mounts: ProjectionHost<MountTableState>,
    private readonly catalog: ProjectionHost<CatalogState>,
  ) {}

  mount(uuid: string): Mount | undefined {
    const state = this.mounts.state;
    const version = this.mounts.keeper.version;
    // The fold updates its state in place and reset() swaps it, so both identity and version say when to reindex.
    if (state !== this.indexedState || version !== this.indexedVersion) {
      this.index = new Map([...Object.values(state.secret), ...Object.values(state.auth)].map((m) => [m.uuid, m]));
      this.indexedState = state;
      this.indexedVersion = version;
    }
    return this.index.get(uuid);
  }

  /** Every mount of both tables (the periodic scheduler's round). */
  all(): Mount[] {
    const state = this.mounts.state;
    return [...Object.values(state.secret), ...Object.values(state.auth)];
  }

  plugin(mount: Mount): CatalogEntry | undefined {
    return selectPlugin(this.catalog.state, mount.table, mount.pluginName, mount.config.pluginVersion);
  }

  async catchUp(): Promise<void> {
    await Promise.all([this.mounts.catchUp(), this.catalog.catchUp()]);
  }
}
