import { zeroAddress, type Address, type PublicClient } from 'viem'
import type { StreamMetadata } from '../metadata.js'
import type { Permissions } from '../permissions.js'
import type { RegistryWallet } from './write.js'

/** Where the two contracts live on a chain. */
export interface ContractAddresses {
  readonly streamRegistry: Address
  readonly storageNodeRegistry: Address
}

/** Where the token and the incentive contracts are. */
export interface IncentiveAddresses {
  readonly token: Address
  readonly sponsorships: Address
  readonly operatorFactory: Address
  readonly voteKick: Address
}

/** Where the marketplace and the Data Union factory are. */
export interface MarketAddresses {
  readonly marketplace: Address
  readonly dataUnionFactory: Address
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

/** What RunnelRegistry needs: viem clients and the contract addresses. */
export interface RunnelRegistryComponents {
  readonly publicClient: PublicClient
  /** Needed for writes; its account pays and is `msg.sender`. */
  readonly walletClient?: RegistryWallet
  readonly addresses: ContractAddresses
}

export interface RunnelRegistryOptions {
  /** First block to read events from (the contracts' deployment block). Default 0. */
  readonly fromBlock?: bigint
}

/** One entry of `RunnelRegistry.setPermissionsBatch`: replaces all of `user`'s permissions on `streamId`. */
export interface PermissionAssignment {
  readonly streamId: string
  readonly user: Address
  readonly permissions: Permissions
}

/** Most entries of one `RunnelRegistry.setPermissionsBatch` (the contract's MAX_BATCH): bounds its gas. */
export const MAX_PERMISSION_BATCH = 100

/** A registered storage node, as listed by `RunnelRegistry.getAllStorageNodes`. */
export interface StorageNodeInfo {
  readonly address: Address
  /** What the node registered, e.g. `{ http: 'https://…' }`; `{}` if it registered something that isn't JSON. */
  readonly metadata: Record<string, unknown>
}

/** Registered node metadata as an object; `{}` when it is not a JSON object (the contract only checks its length). */
export function parseNodeMetadata(json: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(json)
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {}
  } catch {
    return {}
  }
}
