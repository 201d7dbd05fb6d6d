import { zeroAddress, type Address } from 'viem'
import { ChainError } from '../errors.js'
import { NO_PERMISSIONS, holds, type PermissionName, type Permissions } from '../permissions.js'
import type { RegistryEvent, Stream } from '../registry/types.js'
import type { RunnelRegistry } from '../RunnelRegistry.js'
import { TtlCache } from './TtlCache.js'

/** The registry calls the cache makes. */
export type ChainStateSource = Pick<
  RunnelRegistry,
  'getUserPermissions' | 'getStream' | 'getStorageNodes' | 'getStorageNode' | 'watchEvents'
>

export interface ChainStateCacheOptions {
  /** How long any answer is trusted without an invalidating event. Default 30 s. */
  readonly ttlMs?: number
  /** Most (stream, user) permission entries kept; the oldest go first. Default 100,000 (~20 MB at most). */
  readonly maxEntries?: number
  /** Most streams whose metadata, and whose storage-node lists, are kept. Default 10,000 each. */
  readonly maxStreams?: number
  /** Most storage nodes whose metadata (history URL) is kept. Default 1,000. */
  readonly maxStorageNodes?: number
}

const DEFAULTS = { ttlMs: 30_000, maxEntries: 100_000, maxStreams: 10_000, maxStorageNodes: 1_000 } as const

/**
 * The one cache of chain state a process keeps: permissions, stream metadata (partition counts, retention),
 * each stream's storage nodes and each storage node's metadata (its history URL). Every answer is trusted for one
 * TTL, and dropped at once when a contract event says it changed (after {@link start}); if watching fails, events
 * may have been missed, so everything is forgotten. Bounded: see {@link ChainStateCacheOptions}.
 *
 * @example
 * ```ts
 * const chainState = new ChainStateCache(registry, { ttlMs: 30_000 })
 * chainState.start()
 * if (await chainState.hasPermission(streamId, publisher, 'publish', message.timestamp)) deliver(message)
 * const partitions = await chainState.partitionCount(streamId)
 * const urls = await chainState.storageNodeUrls(streamId)
 * chainState.stop()
 * ```
 */
export class ChainStateCache {
  /** Look-ups answered from memory, those that went to the chain, and entries dropped by events. */
  readonly stats = { hits: 0, misses: 0, invalidations: 0 }
  private readonly permissions: TtlCache<string, Permissions>
  private readonly streams: TtlCache<string, Stream>
  private readonly storageNodeLists: TtlCache<string, string[]>
  private readonly nodeMetadata: TtlCache<string, Record<string, unknown> | undefined>
  /** The last storage-node list read per stream, kept through invalidations: answers without waiting. */
  private readonly settledLists = new Map<string, string[]>()
  private readonly maxStreams: number
  private unwatch: (() => void) | undefined

  constructor(
    private readonly registry: ChainStateSource,
    options: ChainStateCacheOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    const ttlMs = options.ttlMs ?? DEFAULTS.ttlMs
    this.maxStreams = options.maxStreams ?? DEFAULTS.maxStreams
    const count = (hit: boolean): void => {
      if (hit) this.stats.hits++
      else this.stats.misses++
    }
    this.permissions = new TtlCache(ttlMs, options.maxEntries ?? DEFAULTS.maxEntries, now, count)
    this.streams = new TtlCache(ttlMs, this.maxStreams, now, count)
    this.storageNodeLists = new TtlCache(ttlMs, this.maxStreams, now, count)
    this.nodeMetadata = new TtlCache(ttlMs, options.maxStorageNodes ?? DEFAULTS.maxStorageNodes, now, count)
  }

  /** Starts following contract events so changes invalidate entries at once. Idempotent. */
  start(): void {
    this.unwatch ??= this.registry.watchEvents(
      (event) => this.invalidate(event),
      () => this.clear(),
    )
  }

  /** Stops following events and forgets everything. */
  stop(): void {
    this.unwatch?.()
    this.unwatch = undefined
    this.clear()
  }

  /**
   * Same answer as the contract's hasPermission, from memory when possible. With `atMs`, whether publish/subscribe
   * were held at that time (e.g. a message's timestamp) as far as the current grants say.
   */
  async hasPermission(streamId: string, user: Address, permission: PermissionName, atMs?: number): Promise<boolean> {
    const nowSeconds = BigInt(Math.floor((atMs ?? this.now()) / 1000))
    if (holds(await this.userPermissions(streamId, user), permission, nowSeconds)) return true
    if (permission !== 'publish' && permission !== 'subscribe') return false
    return holds(await this.userPermissions(streamId, zeroAddress), permission, nowSeconds)
  }

  /** The permissions `user` itself holds; none for a stream that doesn't exist. `fresh` reads the chain anew. */
  userPermissions(streamId: string, user: Address, fresh = false): Promise<Permissions> {
    const key = permissionKey(streamId, user)
    return (
      (fresh ? undefined : this.permissions.lookup(key)) ??
      this.permissions.load(key, () =>
        this.registry.getUserPermissions(streamId, user).catch((err: unknown) => {
          if (err instanceof ChainError && err.code === 'STREAM_NOT_FOUND') return NO_PERMISSIONS
          throw err
        }),
      )
    )
  }

  /**
   * Reads `user`'s and the public permissions on a stream from the chain again, keeping them for the TTL: for a
   * refusal that a grant or purchase of a moment ago, not yet seen through the event feed, may have made stale.
   */
  async refreshPermissions(streamId: string, user: Address): Promise<void> {
    await Promise.all([this.userPermissions(streamId, user, true), this.userPermissions(streamId, zeroAddress, true)])
  }

  /** The stream and its metadata. @throws {@link ChainError} `STREAM_NOT_FOUND` (not cached) */
  getStream(streamId: string): Promise<Stream> {
    return this.streams.get(streamId, () => this.registry.getStream(streamId))
  }

  /** The stream's partition count (metadata `partitions`, default 1). */
  async partitionCount(streamId: string): Promise<number> {
    return (await this.getStream(streamId)).metadata.partitions ?? 1
  }

  /** The addresses (lowercase) of a stream's storage nodes; `fresh` reads the chain anew. */
  storageNodes(streamId: string, fresh = false): Promise<string[]> {
    return this.storageNodeLists.get(
      streamId,
      async () => {
        const nodes = (await this.registry.getStorageNodes(streamId)).map((node) => node.toLowerCase())
        this.settle(streamId, nodes)
        return nodes
      },
      fresh,
    )
  }

  /** The last storage-node list read for a stream, without waiting; undefined before the first answer. */
  knownStorageNodes(streamId: string): readonly string[] | undefined {
    return this.settledLists.get(streamId)
  }

  /** A storage node's registered metadata; undefined if it isn't registered. */
  storageNodeMetadata(node: string): Promise<Record<string, unknown> | undefined> {
    return this.nodeMetadata.get(node.toLowerCase(), () =>
      this.registry.getStorageNode(node as Address).catch((err: unknown) => {
        if (err instanceof ChainError && err.code === 'NODE_NOT_REGISTERED') return undefined
        throw err
      }),
    )
  }

  /**
   * The history URLs (metadata `http`) of a stream's storage nodes, those in `exclude` (lowercase addresses) left
   * out. An empty answer doesn't stay cached: a node assigned a moment ago is found at the next look even before its
   * event arrives.
   */
  async storageNodeUrls(streamId: string, exclude: readonly string[] = []): Promise<string[]> {
    const nodes = (await this.storageNodes(streamId)).filter((node) => !exclude.includes(node))
    const found = await Promise.all(
      nodes.map(async (node) => {
        const metadata = await this.storageNodeMetadata(node).catch(() => undefined)
        return typeof metadata?.http === 'string' ? metadata.http : undefined
      }),
    )
    const urls = found.filter((url): url is string => url !== undefined)
    if (urls.length === 0) this.storageNodeLists.delete(streamId)
    return urls
  }

  /** Forgets what is known of a stream, e.g. after this process changed it. */
  forgetStream(streamId: string): void {
    const prefix = `${streamId}\n`
    this.stats.invalidations +=
      this.permissions.deleteWhere((key) => key.startsWith(prefix)) +
      Number(this.streams.delete(streamId)) +
      Number(this.storageNodeLists.delete(streamId))
  }

  /** Forgets what an event changed. */
  invalidate(event: RegistryEvent): void {
    switch (event.type) {
      case 'permissionUpdated':
        if (this.permissions.delete(permissionKey(event.streamId, event.user))) this.stats.invalidations++
        break
      case 'streamCreated':
      case 'streamDeleted':
        this.forgetStream(event.streamId)
        break
      case 'streamUpdated':
        if (this.streams.delete(event.streamId)) this.stats.invalidations++
        break
      case 'storageNodeAdded':
      case 'storageNodeRemoved':
        if (this.storageNodeLists.delete(event.streamId)) this.stats.invalidations++
        break
      case 'nodeUpdated':
      case 'nodeRemoved':
        // A node's registration is part of isStorageNodeOf: every list may have changed. Rare.
        if (this.nodeMetadata.delete(event.node.toLowerCase())) this.stats.invalidations++
        this.stats.invalidations += this.storageNodeLists.deleteWhere(() => true)
        break
    }
  }

  private settle(streamId: string, nodes: string[]): void {
    this.settledLists.delete(streamId)
    if (this.settledLists.size >= this.maxStreams) this.settledLists.delete(this.settledLists.keys().next().value!)
    this.settledLists.set(streamId, nodes)
  }

  private clear(): void {
    this.permissions.clear()
    this.streams.clear()
    this.storageNodeLists.clear()
    this.nodeMetadata.clear()
  }
}

function permissionKey(streamId: string, user: string): string {
  return `${streamId}\n${user.toLowerCase()}`
}
