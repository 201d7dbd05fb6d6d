import { ChainError } from './errors.js'

/** What a user may do with a stream. */
export type PermissionName = 'edit' | 'delete' | 'publish' | 'subscribe' | 'grant'

/** Order matches the contract's PermissionType enum. */
export const PERMISSION_NAMES: readonly PermissionName[] = ['edit', 'delete', 'publish', 'subscribe', 'grant']

/** The contract's "forever" expiration (type(uint64).max). */
export const FOREVER = 2n ** 64n - 1n

/** A user's permissions on one stream. Expirations are Unix seconds; `FOREVER` never expires, 0n is none. */
export interface Permissions {
  readonly canEdit: boolean
  readonly canDelete: boolean
  readonly publishExpiration: bigint
  readonly subscribeExpiration: bigint
  readonly canGrant: boolean
}

export const NO_PERMISSIONS: Permissions = {
  canEdit: false,
  canDelete: false,
  publishExpiration: 0n,
  subscribeExpiration: 0n,
  canGrant: false,
}

export function permissionIndex(permission: PermissionName): number {
  const index = PERMISSION_NAMES.indexOf(permission)
  if (index === -1) {
    throw new ChainError(
      'INVALID_ARGUMENT',
      `unknown permission ${String(permission)}; expected one of ${PERMISSION_NAMES.join(', ')}`,
    )
  }
  return index
}

/** Whether `permissions` include `permission` at time `nowSeconds` (what the contract's hasPermission computes). */
export function holds(permissions: Permissions, permission: PermissionName, nowSeconds: bigint): boolean {
  switch (permission) {
    case 'edit':
      return permissions.canEdit
    case 'delete':
      return permissions.canDelete
    case 'grant':
      return permissions.canGrant
    case 'publish':
      return permissions.publishExpiration > nowSeconds
    case 'subscribe':
      return permissions.subscribeExpiration > nowSeconds
  }
}

/**
 * The {@link Permissions} that hold exactly `names` (publish and subscribe forever), as `grantPermission` of each
 * would leave a user who had none.
 *
 * @example
 * ```ts
 * await registry.setPermissions(streamId, user, permissionsOf(['publish', 'subscribe']))
 * ```
 * @throws {@link ChainError} `INVALID_ARGUMENT` for an unknown name
 */
export function permissionsOf(names: readonly PermissionName[]): Permissions {
  for (const name of names) permissionIndex(name)
  return {
    canEdit: names.includes('edit'),
    canDelete: names.includes('delete'),
    publishExpiration: names.includes('publish') ? FOREVER : 0n,
    subscribeExpiration: names.includes('subscribe') ? FOREVER : 0n,
    canGrant: names.includes('grant'),
  }
}
