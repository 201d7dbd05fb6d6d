import {
  PUBLIC,
  permissionsOf,
  type ChainStateCache,
  type PermissionAssignment,
  type PermissionName,
  type Permissions,
  type RunnelRegistry,
} from '@runnel/chain'
import type { Address } from 'viem'
import { ClientError } from '../errors.js'
import { waitUntilStorageNodeServes } from '../storage/storageReadiness.js'

/** A user as the client names it: an address, or `'public'` for everyone. */
export type StreamUser = Address | 'public'

/** One entry of `RunnelClient.setPermissionsBatch`. */
export interface PermissionBatchEntry {
  /** A stream id, or a `/path` of the client's own. */
  readonly streamId: string
  readonly user: StreamUser
  /** Exactly these permissions afterwards: names (publish and subscribe forever), or all of them with expirations. */
  readonly permissions: readonly PermissionName[] | Permissions
}

/** Options of `RunnelClient.addStreamToStorageNode`. */
export interface AddToStorageNodeOptions {
  /** Resolve only once the node serves the stream (answers history requests for it). Default false. */
  readonly wait?: boolean
  /** With `wait`: give up after this long (`TIMEOUT`). Default 30 s. */
  readonly timeoutMs?: number
  /** Checked before the assignment is sent, and ends the wait. */
  readonly signal?: AbortSignal
}

export function toRegistryUser(user: StreamUser): Address {
  return user === 'public' ? PUBLIC : user
}

/** Holders as the client names them: the zero address is `'public'`. */
export function toStreamUsers(addresses: readonly Address[]): StreamUser[] {
  return addresses.map((address) => (address === PUBLIC ? 'public' : address))
}

export function toPermissionAssignments(
  entries: readonly PermissionBatchEntry[],
  toStreamId: (streamIdOrPath: string) => string,
): PermissionAssignment[] {
  return entries.map(({ streamId, user, permissions }) => ({
    streamId: toStreamId(streamId),
    user: toRegistryUser(user),
    permissions: Array.isArray(permissions)
      ? permissionsOf(permissions as readonly PermissionName[])
      : (permissions as Permissions),
  }))
}

/**
 * Assigns the stream to the node and, with `wait`, waits until the node serves it: the URL it registered answers
 * history requests for the stream.
 */
export async function assignStorageNode(
  registry: Pick<RunnelRegistry, 'addStorageNode'>,
  chainState: Pick<ChainStateCache, 'forgetStream' | 'storageNodeMetadata'>,
  streamId: string,
  node: Address,
  options: AddToStorageNodeOptions,
): Promise<void> {
  options.signal?.throwIfAborted()
  await registry.addStorageNode(streamId, node)
  chainState.forgetStream(streamId)
  if (options.wait !== true) return
  const url = (await chainState.storageNodeMetadata(node))?.http
  if (typeof url !== 'string') {
    throw new ClientError('STORAGE_UNAVAILABLE', `storage node ${node} registered no http URL: it can't be asked`)
  }
  await waitUntilStorageNodeServes(url, streamId, { timeoutMs: options.timeoutMs, signal: options.signal })
}
