import { zeroAddress, type Address } from 'viem'
import type { StreamMetadata } from '../metadata.js'
import type { Permissions } from '../permissions.js'

/** Where the two contracts live on a chain. */
export interface ContractAddresses {
  readonly streamRegistry: Address
  readonly storageNodeRegistry: Address
}

export interface Stream {
  readonly id: string
  readonly metadata: StreamMetadata
}

/** "Everyone": grant publish or subscribe to this to make them public. */
export const PUBLIC: Address = zeroAddress

/** A change on chain, as delivered by `RunnelRegistry.watchEvents`. */
export type RegistryEvent =
  | { readonly type: 'streamCreated' | 'streamUpdated'; readonly streamId: string; readonly metadata: string }
  | { readonly type: 'streamDeleted'; readonly streamId: string }
  | {
      readonly type: 'permissionUpdated'
      readonly streamId: string
      readonly user: Address
      readonly permissions: Permissions
    }
  | { readonly type: 'storageNodeAdded' | 'storageNodeRemoved'; readonly streamId: string; readonly node: Address }
  | { readonly type: 'nodeUpdated'; readonly node: Address; readonly metadata: string }
  | { readonly type: 'nodeRemoved'; readonly node: Address }
