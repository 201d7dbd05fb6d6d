import { getAddress, type Address, type PublicClient } from 'viem'
import { storageNodeRegistryAbi, streamRegistryAbi } from '../generated/contracts.js'
import type { Permissions } from '../permissions.js'
import { toChainError } from '../revert.js'
import { toStorageEvent, toStreamEvent } from './events.js'
import type { ContractAddresses } from './types.js'

/** Where in the chain's history an event happened: orders streams by creation. */
export interface ChainPosition {
  readonly block: bigint
  readonly logIndex: number
}

export interface IndexedStream {
  /** The metadata JSON as last set. */
  readonly metadata: string
  /** Where the stream was (last) created. */
  readonly created: ChainPosition
}

/** Streams and permissions as the stream registry's event history leaves them. */
export interface StreamIndex {
  /** By stream id, in creation order. */
  readonly streams: Map<string, IndexedStream>
  /** Stream id → lowercase user address → permissions (all-false entries included). */
  readonly permissions: Map<string, Map<string, Permissions>>
}

async function read<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    throw toChainError(err)
  }
}

export async function readStreamIndex(
  client: PublicClient,
  addresses: ContractAddresses,
  fromBlock: bigint,
): Promise<StreamIndex> {
  const logs = await read(() =>
    client.getContractEvents({ address: addresses.streamRegistry, abi: streamRegistryAbi, fromBlock }),
  )
  const streams = new Map<string, IndexedStream>()
  const permissions = new Map<string, Map<string, Permissions>>()
  for (const log of logs) {
    const event = toStreamEvent(log)
    if (event === undefined) continue
    if (event.type === 'streamCreated') {
      streams.set(event.streamId, {
        metadata: event.metadata,
        created: { block: log.blockNumber ?? 0n, logIndex: log.logIndex ?? 0 },
      })
    } else if (event.type === 'streamUpdated') {
      // A stream created before `fromBlock` is first seen at an update: it counts as created there.
      const created = streams.get(event.streamId)?.created ?? {
        block: log.blockNumber ?? 0n,
        logIndex: log.logIndex ?? 0,
      }
      streams.set(event.streamId, { metadata: event.metadata, created })
    } else if (event.type === 'streamDeleted') {
      streams.delete(event.streamId)
      permissions.delete(event.streamId)
    } else if (event.type === 'permissionUpdated') {
      let users = permissions.get(event.streamId)
      if (users === undefined) permissions.set(event.streamId, (users = new Map<string, Permissions>()))
      users.set(event.user.toLowerCase(), event.permissions)
    }
  }
  return { streams, permissions }
}

/** Current (node, stream) assignments from events (checksummed node addresses). */
export async function readAssignments(
  client: PublicClient,
  addresses: ContractAddresses,
  fromBlock: bigint,
): Promise<Set<[Address, string]>> {
  const logs = await read(() =>
    client.getContractEvents({ address: addresses.storageNodeRegistry, abi: storageNodeRegistryAbi, fromBlock }),
  )
  const current = new Map<string, [Address, string]>()
  for (const log of logs) {
    const event = toStorageEvent(log)
    if (event?.type === 'storageNodeAdded')
      current.set(`${event.node}\n${event.streamId}`, [event.node, event.streamId])
    if (event?.type === 'storageNodeRemoved') current.delete(`${event.node}\n${event.streamId}`)
  }
  return new Set(current.values())
}

/** Registered storage nodes and their metadata JSON, from events, in order of first registration. */
export async function readRegisteredNodes(
  client: PublicClient,
  addresses: ContractAddresses,
  fromBlock: bigint,
): Promise<Map<Address, string>> {
  const logs = await read(() =>
    client.getContractEvents({ address: addresses.storageNodeRegistry, abi: storageNodeRegistryAbi, fromBlock }),
  )
  const nodes = new Map<Address, string>()
  for (const log of logs) {
    const event = toStorageEvent(log)
    if (event?.type === 'nodeUpdated') nodes.set(getAddress(event.node), event.metadata)
    if (event?.type === 'nodeRemoved') nodes.delete(getAddress(event.node))
  }
  return nodes
}
