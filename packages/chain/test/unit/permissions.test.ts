import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ChainError, FOREVER, NO_PERMISSIONS, holds, permissionsOf, type PermissionName } from '../../src/index.js'

describe('permissionsOf', () => {
  it('holds exactly the named permissions, publish and subscribe forever', () => {
    assert.deepEqual(permissionsOf([]), NO_PERMISSIONS)
    assert.deepEqual(permissionsOf(['subscribe', 'grant']), {
      ...NO_PERMISSIONS,
      subscribeExpiration: FOREVER,
      canGrant: true,
    })
    const all = permissionsOf(['edit', 'delete', 'publish', 'subscribe', 'grant'])
    for (const name of ['edit', 'delete', 'publish', 'subscribe', 'grant'] as const) {
      assert.equal(holds(all, name, 2n ** 63n), true, name)
    }
  })

  it('refuses an unknown name with INVALID_ARGUMENT naming it', () => {
    assert.throws(
      () => permissionsOf(['publish', 'fly' as PermissionName]),
      (err: unknown) =>
        err instanceof ChainError && err.code === 'INVALID_ARGUMENT' && /unknown permission fly/.test(err.message),
    )
  })
})
