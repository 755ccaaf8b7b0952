import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiController } from '../apps/gateway/src/api.controller.js';
import { Router } from '../apps/gateway/src/router.js';
import { CatalogController } from '../apps/catalog/src/catalog.controller.js';
import { SealHandlers } from '../apps/gateway/src/seal/seal.handlers.js';

/**
 * Nest injects constructor arguments from `design:paramtypes`, which only tsc emits (esbuild and tsx drop it and
 * Nest then silently injects undefined). If the build ever stops emitting it, this fails before anything else does.
 */
describe('decorator metadata in the build', () => {
  it('is emitted for injectable classes', () => {
    for (const [cls, count] of [
      [ApiController, 3],
      [Router, 16],
      [SealHandlers, 3],
      [CatalogController, 3],
    ] as const) {
      const types = Reflect.getMetadata('design:paramtypes', cls) as unknown[] | undefined;
      assert.ok(Array.isArray(types), `${cls.name} has design:paramtypes`);
      assert.equal(types.length, count, `${cls.name} has ${count} constructor parameters`);
    }
    assert.equal((Reflect.getMetadata('design:paramtypes', Router) as unknown[])[0], SealHandlers);
  });
});
