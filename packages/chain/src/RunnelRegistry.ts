import {
  encodeFunctionData,
  getAddress,
  keccak256,
  zeroAddress,
  type Account,
  type Address,
  type Chain,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { ChainError } from './errors.js'
import { storageNodeRegistryAbi, streamRegistryAbi } from './generated/contracts.js'
import { decodeMetadata, encodeMetadata, type StreamMetadata } from './metadata.js'
import { holds, permissionIndex, type PermissionName, type Permissions } from './permissions.js'
import { toChainError } from './revert.js'
import { sendInTurn } from './sendQueue.js'

/** Where the two contracts live on a chain. */
export interface ContractAddresses {
  readonly streamRegistry: Address
  readonly storageNodeRegistry: Address
}

/** What RunnelRegistry needs: viem clients and the contract addresses. */
export interface RunnelRegistryComponents {
  readonly publicClient: PublicClient
  /** Needed for writes; its account pays and is `msg.sender`. */
  readonly walletClient?: WalletClient<Transport, Chain | undefined, Account>
  readonly addresses: ContractAddresses
}

export interface RunnelRegistryOptions {
  /** First block to read events from (the contracts' deployment block). Default 0. */
  readonly fromBlock?: bigint
}

export interface Stream {
  readonly id: string
  readonly metadata: StreamMetadata
}

/** "Everyone": grant publish or subscribe to this to make them public. */
export const PUBLIC: Address = zeroAddress

/** A change on chain, as delivered by {@link RunnelRegistry.watchEvents}. */
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

/**
 * Typed access to the stream registry and storage-node registry contracts.
 * Reverts become {@link ChainError}s that say what was refused.
 *
 * @example
 * ```ts
 * const registry = new RunnelRegistry({ publicClient, walletClient, addresses })
 * const stream = await registry.createStream('/sensors', { partitions: 3 })
 * await registry.grantPermission(stream.id, PUBLIC, 'subscribe')
 * await registry.hasPermission(stream.id, someone, 'subscribe') // true
 * ```
 */
export class RunnelRegistry {
  private readonly fromBlock: bigint

  constructor(
    private readonly components: RunnelRegistryComponents,
    options: RunnelRegistryOptions = {},
  ) {
    this.fromBlock = options.fromBlock ?? 0n
  }

  /** The address writes are sent from. */
  get account(): Address {
    return this.wallet().account.address
  }

  // ---- streams ----

  /** Creates `<account>/<path>` (a full id of the account's own streams works too). */
  async createStream(pathOrId: string, metadata: StreamMetadata = {}): Promise<Stream> {
    const path = this.pathOf(pathOrId)
    const json = encodeMetadata(metadata)
    await this.writeStreams('createStream', [path, json])
    return { id: `${this.account.toLowerCase()}${path}`, metadata: decodeMetadata(json) }
  }

  /** @throws {@link ChainError} `STREAM_NOT_FOUND` */
  async getStream(streamId: string): Promise<Stream> {
    const json = await this.read(() =>
      this.components.publicClient.readContract({
        address: this.components.addresses.streamRegistry,
        abi: streamRegistryAbi,
        functionName: 'getStreamMetadata',
        args: [streamId],
      }),
    )
    return { id: streamId, metadata: decodeMetadata(json) }
  }

  async streamExists(streamId: string): Promise<boolean> {
    return this.read(() =>
      this.components.publicClient.readContract({
        address: this.components.addresses.streamRegistry,
        abi: streamRegistryAbi,
        functionName: 'exists',
        args: [streamId],
      }),
    )
  }

  async updateStream(streamId: string, metadata: StreamMetadata): Promise<Stream> {
    const json = encodeMetadata(metadata)
    await this.writeStreams('updateStreamMetadata', [streamId, json])
    return { id: streamId, metadata: decodeMetadata(json) }
  }

  async deleteStream(streamId: string): Promise<void> {
    await this.writeStreams('deleteStream', [streamId])
  }

  /**
   * Streams whose id contains `term`, optionally only those where `user` holds
   * `permission` now. Read from events, so it costs no chain state scans.
   */
  async searchStreams(filter: { term?: string; user?: Address; permission?: PermissionName } = {}): Promise<Stream[]> {
    const { streams, permissions } = await this.index()
    const now = BigInt(Math.floor(Date.now() / 1000))
    const user = filter.user?.toLowerCase()
    const found: Stream[] = []
    for (const [id, json] of streams) {
      if (filter.term !== undefined && !id.includes(filter.term)) continue
      if (filter.permission !== undefined) {
        const own = user === undefined ? undefined : permissions.get(id)?.get(user)
        const everyone = permissions.get(id)?.get(zeroAddress)
        const isPublicKind = filter.permission === 'publish' || filter.permission === 'subscribe'
        const allowed =
          (own !== undefined && holds(own, filter.permission, now)) ||
          (isPublicKind && everyone !== undefined && holds(everyone, filter.permission, now))
        if (!allowed) continue
      }
      found.push({ id, metadata: decodeMetadata(json) })
    }
    return found
  }

  // ---- permissions ----

  /** Whether `user` holds `permission` on the stream now, directly or (publish, subscribe) publicly. */
  async hasPermission(streamId: string, user: Address, permission: PermissionName): Promise<boolean> {
    return this.read(() =>
      this.components.publicClient.readContract({
        address: this.components.addresses.streamRegistry,
        abi: streamRegistryAbi,
        functionName: 'hasPermission',
        args: [streamId, user, permissionIndex(permission)],
      }),
    )
  }

  /** The permissions `user` holds itself (use {@link PUBLIC} for everyone's). */
  async getUserPermissions(streamId: string, user: Address): Promise<Permissions> {
    const result = await this.read(() =>
      this.components.publicClient.readContract({
        address: this.components.addresses.streamRegistry,
        abi: streamRegistryAbi,
        functionName: 'getPermissionsForUser',
        args: [streamId, user],
      }),
    )
    return { ...result }
  }

  /** Every user with any permission on the stream, from events. */
  async getPermissions(streamId: string): Promise<Map<Address, Permissions>> {
    const { streams, permissions } = await this.index()
    if (!streams.has(streamId)) throw new ChainError('STREAM_NOT_FOUND', `no stream ${streamId}`)
    const result = new Map<Address, Permissions>()
    for (const [user, value] of permissions.get(streamId) ?? []) {
      if (
        value.canEdit ||
        value.canDelete ||
        value.canGrant ||
        value.publishExpiration > 0n ||
        value.subscribeExpiration > 0n
      ) {
        result.set(user as Address, value)
      }
    }
    return result
  }

  async grantPermission(streamId: string, user: Address, permission: PermissionName): Promise<void> {
    await this.writeStreams('grantPermission', [streamId, user, permissionIndex(permission)])
  }

  async revokePermission(streamId: string, user: Address, permission: PermissionName): Promise<void> {
    await this.writeStreams('revokePermission', [streamId, user, permissionIndex(permission)])
  }

  /** Replaces all of `user`'s permissions, with expirations (Unix seconds). */
  async setPermissions(streamId: string, user: Address, permissions: Permissions): Promise<void> {
    await this.writeStreams('setPermissions', [streamId, user, permissions])
  }

  // ---- storage nodes ----

  /** Registers the account as a storage node (or updates it); `metadata` e.g. `{ http: 'https://…' }`. */
  async registerStorageNode(metadata: Record<string, unknown>): Promise<void> {
    await this.writeStorage('registerNode', [JSON.stringify(metadata)])
  }

  async unregisterStorageNode(): Promise<void> {
    await this.writeStorage('unregisterNode', [])
  }

  /** @throws {@link ChainError} `NODE_NOT_REGISTERED` */
  async getStorageNode(node: Address): Promise<Record<string, unknown>> {
    const json = await this.read(() =>
      this.components.publicClient.readContract({
        address: this.components.addresses.storageNodeRegistry,
        abi: storageNodeRegistryAbi,
        functionName: 'getNodeMetadata',
        args: [node],
      }),
    )
    try {
      return JSON.parse(json) as Record<string, unknown>
    } catch (err) {
      throw new ChainError('RPC_ERROR', `storage node ${node} has metadata that isn't JSON`, { cause: err })
    }
  }

  async addStorageNode(streamId: string, node: Address): Promise<void> {
    await this.writeStorage('addStorageNode', [streamId, node])
  }

  async removeStorageNode(streamId: string, node: Address): Promise<void> {
    await this.writeStorage('removeStorageNode', [streamId, node])
  }

  async isStorageNodeOf(streamId: string, node: Address): Promise<boolean> {
    return this.read(() =>
      this.components.publicClient.readContract({
        address: this.components.addresses.storageNodeRegistry,
        abi: storageNodeRegistryAbi,
        functionName: 'isStorageNodeOf',
        args: [streamId, node],
      }),
    )
  }

  /** Storage nodes assigned to a stream (from events, checked on chain). */
  async getStorageNodes(streamId: string): Promise<Address[]> {
    const assignments = await this.assignments()
    const candidates = [...assignments].filter(([, id]) => id === streamId).map(([node]) => node)
    const checks = await Promise.all(candidates.map((node) => this.isStorageNodeOf(streamId, node)))
    return candidates.filter((_, i) => checks[i])
  }

  /** Streams a storage node is assigned to (from events, checked on chain). */
  async getStoredStreams(node: Address): Promise<string[]> {
    const wanted = await this.read(() => Promise.resolve(getAddress(node)))
    const assignments = await this.assignments()
    const candidates = [...assignments].filter(([address]) => address === wanted).map(([, id]) => id)
    const checks = await Promise.all(candidates.map((id) => this.isStorageNodeOf(id, wanted)))
    return candidates.filter((_, i) => checks[i])
  }

  // ---- events ----

  /**
   * Calls `onEvent` for every change on either contract from now on, in
   * chain order. Polls for new blocks every `pollingIntervalMs` (default
   * 250 ms) and reads their events; works the same over HTTP, WebSocket and
   * in-process providers. Returns a function that stops watching.
   */
  watchEvents(
    onEvent: (event: RegistryEvent) => void,
    onError?: (error: ChainError) => void,
    pollingIntervalMs = 250,
  ): () => void {
    const client = this.components.publicClient
    const { streamRegistry, storageNodeRegistry } = this.components.addresses
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

  // ---- internals ----

  private pathOf(pathOrId: string): string {
    if (pathOrId.startsWith('/')) return pathOrId
    const slash = pathOrId.indexOf('/')
    const owner = slash === -1 ? '' : pathOrId.slice(0, slash)
    if (owner.toLowerCase() !== this.account.toLowerCase()) {
      throw new ChainError(
        'INVALID_ARGUMENT',
        `${pathOrId}: streams are created under their creator's address (${this.account.toLowerCase()}); pass a path like /sensors`,
      )
    }
    return pathOrId.slice(slash)
  }

  private wallet(): WalletClient<Transport, Chain | undefined, Account> {
    const wallet = this.components.walletClient
    if (wallet === undefined) throw new ChainError('NO_ACCOUNT', 'this registry has no wallet client; writes need one')
    return wallet
  }

  private async read<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (err) {
      throw toChainError(err)
    }
  }

  private writeStreams(functionName: StreamWrite, args: readonly unknown[]): Promise<void> {
    return this.write(this.components.addresses.streamRegistry, streamRegistryAbi, functionName, args)
  }

  private writeStorage(functionName: StorageWrite, args: readonly unknown[]): Promise<void> {
    return this.write(this.components.addresses.storageNodeRegistry, storageNodeRegistryAbi, functionName, args)
  }

  /**
   * Simulates first (a revert comes back decoded and costs no gas), then sends in the account's turn (so concurrent
   * writes get consecutive nonces) and waits for the receipt.
   */
  private async write(
    address: Address,
    abi: readonly unknown[],
    functionName: string,
    args: readonly unknown[],
  ): Promise<void> {
    const wallet = this.wallet()
    try {
      const { request } = await this.components.publicClient.simulateContract({
        address,
        abi,
        functionName,
        args,
        account: wallet.account,
      } as never)
      const { publicClient } = this.components
      const account = wallet.account.address
      const data = encodeFunctionData({ abi, functionName, args })
      const hash = await sendInTurn(account, async () => {
        // Asked afresh for every try: a client may cache the count, and a retry needs the count after the collision.
        const nonce = await publicClient.getTransactionCount({ address: account, blockTag: 'pending' })
        const prepared = await wallet.prepareTransactionRequest({
          to: address,
          data,
          gas: (request as { gas?: bigint }).gas,
          nonce,
          account: wallet.account,
        } as never)
        // A wallet (an EIP-1193 provider's JSON-RPC account) signs and sends in one: browser wallets have no
        // eth_signTransaction.
        if (wallet.account.type === 'json-rpc') {
          return wallet.sendTransaction({ ...(prepared as object), chain: null } as never)
        }
        // chain null: the wallet may know no chain object (an app's client knows only an RPC URL); the chain id is asked.
        const signed = await wallet.signTransaction({ ...(prepared as object), chain: null } as never)
        try {
          return await wallet.sendRawTransaction({ serializedTransaction: signed })
        } catch (err) {
          // A send whose answer was lost and was retried by the transport is refused as a taken nonce, though the
          // transaction taking it is this one: then it went out, and sending it again would make the write twice.
          const hash = keccak256(signed)
          if (
            await publicClient.getTransaction({ hash }).then(
              () => true,
              () => false,
            )
          )
            return hash
          throw err
        }
      })
      const receipt = await this.components.publicClient.waitForTransactionReceipt({ hash })
      if (receipt.status !== 'success') throw new ChainError('RPC_ERROR', `transaction ${hash} reverted`)
    } catch (err) {
      throw toChainError(err)
    }
  }

  /** Streams and permissions as the event history leaves them. */
  private async index(): Promise<{
    streams: Map<string, string>
    permissions: Map<string, Map<string, Permissions>>
  }> {
    const logs = await this.read(() =>
      this.components.publicClient.getContractEvents({
        address: this.components.addresses.streamRegistry,
        abi: streamRegistryAbi,
        fromBlock: this.fromBlock,
      }),
    )
    const streams = new Map<string, string>()
    const permissions = new Map<string, Map<string, Permissions>>()
    for (const log of logs) {
      const event = toStreamEvent(log)
      if (event === undefined) continue
      if (event.type === 'streamCreated' || event.type === 'streamUpdated') {
        streams.set(event.streamId, event.metadata)
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

  /** Current (node, stream) assignments from events. */
  private async assignments(): Promise<Set<[Address, string]>> {
    const logs = await this.read(() =>
      this.components.publicClient.getContractEvents({
        address: this.components.addresses.storageNodeRegistry,
        abi: storageNodeRegistryAbi,
        fromBlock: this.fromBlock,
      }),
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
}

type StreamWrite =
  'createStream' | 'updateStreamMetadata' | 'deleteStream' | 'grantPermission' | 'revokePermission' | 'setPermissions'
type StorageWrite = 'registerNode' | 'unregisterNode' | 'addStorageNode' | 'removeStorageNode'

interface DecodedLog {
  readonly eventName?: string
  readonly args?: unknown
}

function toStreamEvent(log: DecodedLog): RegistryEvent | undefined {
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

function toStorageEvent(log: DecodedLog): RegistryEvent | undefined {
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
