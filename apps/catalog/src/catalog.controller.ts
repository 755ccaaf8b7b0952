import { Controller, Inject } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import {
  CofferError, sealedError,
  catalogSubjects,
  subjects,
  type CatalogEntryKey,
  type CatalogEntryView,
  type CatalogListRequest,
  type CatalogListing,
  type CatalogRegisterRequest,
  type ServiceStatus,
} from '#contracts';
import { CatalogCommands } from './catalog.commands.js';
import { SERVICE_CONTEXT, serviceStatus, type ProjectionHost, type ServiceContext } from '#runtime';
import { CATALOG_PROJECTION } from './tokens.js';
import { catalogListing, type CatalogState } from '#plugin-catalog';

@Controller()
export class CatalogController {
  constructor(
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
    @Inject(CATALOG_PROJECTION) private readonly catalog: ProjectionHost<CatalogState>,
    private readonly commands: CatalogCommands,
  ) {}

  @MessagePattern(subjects.status('catalog'))
  status(): ServiceStatus {
    return serviceStatus(this.ctx, {
      'plugin-catalog': {
        version: this.catalog.keeper.version,
        entries: Object.keys(this.catalog.state.entries).length,
      },
    });
  }

  @MessagePattern(catalogSubjects.list)
  list(request: CatalogListRequest | null): CatalogListing {
    if (this.ctx.barrier.sealed) throw sealedError();
    // A builtin is listed even where a registration of its name shadows it for mounts, as Vault lists both.
    const entries = catalogListing(this.catalog.state)
      .filter((e) => !request?.type || e.type === request.type)
      .map((e) => ({ type: e.type, name: e.name, version: e.version, sha256: e.sha256, builtin: e.builtin === true }));
    return { entries };
  }

  @MessagePattern(catalogSubjects.register)
  register(request: CatalogRegisterRequest): Promise<CatalogEntryView> {
    return this.commands.register(request ?? ({} as CatalogRegisterRequest));
  }

  @MessagePattern(catalogSubjects.read)
  read(key: CatalogEntryKey): CatalogEntryView | null {
    return this.commands.read(key);
  }

  @MessagePattern(catalogSubjects.deregister)
  deregister(key: CatalogEntryKey): Promise<null> {
    return this.commands.deregister(key);
  }
}
