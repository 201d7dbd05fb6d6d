import { getAddress, type Address } from 'viem'
import { ChainError } from './errors.js'
import { storageNodeRegistryAbi, streamRegistryAbi } from './generated/contracts.js'
import { decodeMetadata, encodeMetadata, type StreamMetadata } from './metadata.js'
import { permissionIndex, type PermissionName, type Permissions } from './permissions.js'
import { readAssignments, readRegisteredNodes, readStreamIndex, type StreamIndex } from './registry/eventIndex.js'
import { watchRegistryEvents } from './registry/events.js'
import {
  holdersOf,
  queryIndex,
  searchIndex,
  type StreamFilter,
  type StreamPage,
  type StreamQuery,
} from './registry/streamQuery.js'
import {
  MAX_PERMISSION_BATCH,
  parseNodeMetadata,
  type PermissionAssignment,
  type RegistryEvent,
  type RunnelRegistryComponents,
  type RunnelRegistryOptions,
  type StorageNodeInfo,
  type Stream,
} from './registry/types.js'
import { writeContract, type RegistryWallet } from './registry/write.js'
import { toChainError } from './revert.js'

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
  async searchStreams(filter: StreamFilter = {}): Promise<Stream[]> {
    return searchIndex(await this.index(), filter, nowSeconds())
  }

  /**
   * One page of a stream search: the filter of {@link searchStreams}, ordered by id or by creation, `pageSize`
   * streams a page. Read from events.
   *
   * @example
   * ```ts
   * let page = await registry.queryStreams({ term: '/sensors', orderBy: 'created', order: 'desc', pageSize: 50 })
   * while (page.nextCursor !== undefined) {
   *   page = await registry.queryStreams({ term: '/sensors', orderBy: 'created', order: 'desc', pageSize: 50, cursor: page.nextCursor })
   * }
   * ```
   * @throws {@link ChainError} `INVALID_ARGUMENT` for a bad page size, order or cursor
   */
  async queryStreams(query: StreamQuery = {}): Promise<StreamPage> {
    return queryIndex(await this.index(), query, nowSeconds())
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
    const result = new Map<Address, Permissions>()
    for (const [user, value] of await this.usersOf(streamId)) {
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

  /**
   * Who may publish to the stream now (lowercase addresses, from events). {@link PUBLIC} among them means anyone may.
   *
   * @example
   * ```ts
   * const publishers = await registry.getStreamPublishers(streamId)
   * const isPublic = publishers.includes(PUBLIC)
   * ```
   * @throws {@link ChainError} `STREAM_NOT_FOUND`
   */
  async getStreamPublishers(streamId: string): Promise<Address[]> {
    return holdersOf(await this.usersOf(streamId), 'publish', nowSeconds())
  }

  /** Who may subscribe to the stream now; like {@link getStreamPublishers}. @throws {@link ChainError} `STREAM_NOT_FOUND` */
  async getStreamSubscribers(streamId: string): Promise<Address[]> {
    return holdersOf(await this.usersOf(streamId), 'subscribe', nowSeconds())
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

  /**
   * Replaces the permissions of many users on many streams in one transaction: all entries apply, or (one refused)
   * none. The account needs grant on every stream named. At most {@link MAX_PERMISSION_BATCH} entries.
   *
   * @example
   * ```ts
   * await registry.setPermissionsBatch([
   *   { streamId, user: alice, permissions: { ...NO_PERMISSIONS, publishExpiration: FOREVER } },
   *   { streamId, user: PUBLIC, permissions: { ...NO_PERMISSIONS, subscribeExpiration: FOREVER } },
   * ])
   * ```
   * @throws {@link ChainError} `INVALID_ARGUMENT` (empty or too large), `PERMISSION_DENIED`, `STREAM_NOT_FOUND`,
   *   `INVALID_PUBLIC_PERMISSION`
   */
  async setPermissionsBatch(assignments: readonly PermissionAssignment[]): Promise<void> {
    if (assignments.length === 0 || assignments.length > MAX_PERMISSION_BATCH) {
      throw new ChainError(
        'INVALID_ARGUMENT',
        `a permission batch has 1..${MAX_PERMISSION_BATCH} entries, got ${assignments.length}`,
      )
    }
    await this.writeStreams('setPermissionsBatch', [
      assignments.map(({ streamId, user, permissions }) => ({ streamId, user, permission: permissions })),
    ])
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

  /**
   * Every registered storage node with its metadata, in order of registration (from events).
   *
   * @example
   * ```ts
   * for (const { address, metadata } of await registry.getAllStorageNodes()) console.log(address, metadata.http)
   * ```
   */
  async getAllStorageNodes(): Promise<StorageNodeInfo[]> {
    const nodes = await readRegisteredNodes(this.components.publicClient, this.components.addresses, this.fromBlock)
    return [...nodes].map(([address, json]) => ({ address, metadata: parseNodeMetadata(json) }))
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
    const assignments = await readAssignments(this.components.publicClient, this.components.addresses, this.fromBlock)
    const candidates = [...assignments].filter(([, id]) => id === streamId).map(([node]) => node)
    const checks = await Promise.all(candidates.map((node) => this.isStorageNodeOf(streamId, node)))
    return candidates.filter((_, i) => checks[i])
  }

  /** Streams a storage node is assigned to (from events, checked on chain). */
  async getStoredStreams(node: Address): Promise<string[]> {
    const wanted = await this.read(() => Promise.resolve(getAddress(node)))
    const assignments = await readAssignments(this.components.publicClient, this.components.addresses, this.fromBlock)
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
    return watchRegistryEvents(
      this.components.publicClient,
      this.components.addresses,
      onEvent,
      onError,
      pollingIntervalMs,
    )
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

  private wallet(): RegistryWallet {
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

  private async writeStreams(functionName: StreamWrite, args: readonly unknown[]): Promise<void> {
    const { publicClient, addresses } = this.components
    await writeContract(publicClient, this.wallet(), addresses.streamRegistry, streamRegistryAbi, functionName, args)
  }

  private async writeStorage(functionName: StorageWrite, args: readonly unknown[]): Promise<void> {
    const { publicClient, addresses } = this.components
    await writeContract(
      publicClient,
      this.wallet(),
      addresses.storageNodeRegistry,
      storageNodeRegistryAbi,
      functionName,
      args,
    )
  }

  private index(): Promise<StreamIndex> {
    return readStreamIndex(this.components.publicClient, this.components.addresses, this.fromBlock)
  }

  /** A stream's users (lowercase) and their permissions, from events. @throws `STREAM_NOT_FOUND` */
  private async usersOf(streamId: string): Promise<ReadonlyMap<string, Permissions>> {
    const { streams, permissions } = await this.index()
    if (!streams.has(streamId)) throw new ChainError('STREAM_NOT_FOUND', `no stream ${streamId}`)
    return permissions.get(streamId) ?? new Map()
  }
}

type StreamWrite =
  | 'createStream'
  | 'updateStreamMetadata'
  | 'deleteStream'
  | 'grantPermission'
  | 'revokePermission'
  | 'setPermissions'
  | 'setPermissionsBatch'
type StorageWrite = 'registerNode' | 'unregisterNode' | 'addStorageNode' | 'removeStorageNode'

function nowSeconds(): bigint {
  return BigInt(Math.floor(Date.now() / 1000))
}
