import { Controller, Inject } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { catalogSubjects, subjects, type CatalogListRequest, type CatalogListing, type ServiceStatus } from '#contracts';
import { SERVICE_CONTEXT, type ProjectionHost, type ServiceContext } from '#runtime';
import { CATALOG_PROJECTION } from './tokens.js';
import type { CatalogState } from './catalog.projection.js';

@Controller()
export class CatalogController {
  constructor(
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
    @Inject(CATALOG_PROJECTION) private readonly catalog: ProjectionHost<CatalogState>,
  ) {}

  @MessagePattern(subjects.status('catalog'))
  status(): ServiceStatus {
    return {
      service: 'catalog',
      instance: this.ctx.instance,
      pid: process.pid,
      startedAt: this.ctx.startedAt.toISOString(),
      sealed: this.ctx.barrier.sealed,
      projections: {
        'plugin-catalog': {
          version: this.catalog.keeper.version,
          entries: Object.keys(this.catalog.state.entries).length,
        },
      },
    };
  }

  @MessagePattern(catalogSubjects.list)
  list(request: CatalogListRequest | null): CatalogListing {
    const entries = Object.values(this.catalog.state.entries)
      .filter((e) => !request?.type || e.type === request.type)
      .map((e) => ({ type: e.type, name: e.name, version: e.version, sha256: e.sha256, builtin: false }))
      .sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
    return { entries };
  }
}
