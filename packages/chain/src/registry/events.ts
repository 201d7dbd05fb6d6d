import type { Address, PublicClient } from 'viem'
import type { ChainError } from '../errors.js'
import { storageNodeRegistryAbi, streamRegistryAbi } from '../generated/contracts.js'
import { toChainError } from '../revert.js'
import type { ContractAddresses, RegistryEvent } from './types.js'

/** A log as viem decodes it against one of the two ABIs. */
export interface DecodedLog {
  readonly eventName?: string
  readonly args?: unknown
}

export function toStreamEvent(log: DecodedLog): RegistryEvent | undefined {
  const args = (log.args ?? {}) as Record<string, unknown>
  const streamId = String(args.streamId)
  switch (log.eventName) {
    case 'StreamCreated':
      return { type: 'streamCreated', streamId, metadata: String(args.metadata) }
    case 'StreamUpdated':
      return { type: 'streamUpdated', streamId, metadata: String(args.metadata) }
    case 'StreamDeleted':
      return { type: 'streamDeleted', streamId }
    case 'PermissionUpdated':
      return {
        type: 'permissionUpdated',
        streamId,
        user: args.user as Address,
        permissions: {
          canEdit: args.canEdit as boolean,
          canDelete: args.canDelete as boolean,
          publishExpiration: args.publishExpiration as bigint,
          subscribeExpiration: args.subscribeExpiration as bigint,
          canGrant: args.canGrant as boolean,
        },
      }
    default:
      return undefined
  }
}

export function toStorageEvent(log: DecodedLog): RegistryEvent | undefined {
  const args = (log.args ?? {}) as Record<string, unknown>
  switch (log.eventName) {
    case 'StorageNodeAdded':
      return { type: 'storageNodeAdded', streamId: String(args.streamId), node: args.node as Address }
    case 'StorageNodeRemoved':
      return { type: 'storageNodeRemoved', streamId: String(args.streamId), node: args.node as Address }
    case 'NodeUpdated':
      return { type: 'nodeUpdated', node: args.node as Address, metadata: String(args.metadata) }
    case 'NodeRemoved':
      return { type: 'nodeRemoved', node: args.node as Address }
    default:
      return undefined
  }
}

/**
 * Calls `onEvent` for every change on either contract from now on, in chain order, polling for new blocks every
 * `pollingIntervalMs`. Returns a function that stops watching.
 */
export function watchRegistryEvents(
  client: PublicClient,
  addresses: ContractAddresses,
  onEvent: (event: RegistryEvent) => void,
  onError: ((error: ChainError) => void) | undefined,
  pollingIntervalMs: number,
): () => void {
  const { streamRegistry, storageNodeRegistry } = addresses
  let stopped = false
  let lastBlock: bigint | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  const poll = async (): Promise<void> => {
    try {
      const head = await client.getBlockNumber({ cacheTime: 0 })
      if (lastBlock === undefined) {
        lastBlock = head
      } else if (head > lastBlock) {
        const range = { fromBlock: lastBlock + 1n, toBlock: head }
        const [streamLogs, storageLogs] = await Promise.all([
          client.getContractEvents({ address: streamRegistry, abi: streamRegistryAbi, ...range }),
          client.getContractEvents({ address: storageNodeRegistry, abi: storageNodeRegistryAbi, ...range }),
        ])
        lastBlock = head
        const logs = [...streamLogs, ...storageLogs].sort((a, b) =>
          a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1,
        )
        for (const log of logs) {
          if (stopped) return
          const event =
            log.address.toLowerCase() === streamRegistry.toLowerCase() ? toStreamEvent(log) : toStorageEvent(log)
          if (event !== undefined) onEvent(event)
        }
      }
    } catch (err) {
      if (!stopped) onError?.(toChainError(err))
    }
    if (!stopped) timer = setTimeout(() => void poll(), pollingIntervalMs)
  }
  void poll()
  return () => {
    stopped = true
    clearTimeout(timer)
  }
}
