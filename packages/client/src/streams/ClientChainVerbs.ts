import {
  PUBLIC,
  type PermissionName,
  type Permissions,
  type RunnelRegistry,
  type StorageNodeInfo,
  type Stream as StreamRecord,
  type StreamMetadata,
  type StreamQuery,
} from '@runnel/chain'
import type { Address } from 'viem'
import type { ClientParts } from '../setup/wireClient.js'
import type { HistoryQuery } from '../storage/historyRequests.js'
import { Stream, type StreamActions } from '../Stream.js'
import type { Subscription } from '../Subscription.js'
import type { PublishOptions, PublishedMessage, ReceivedMessage, StreamTarget, WaitOptions } from '../types.js'
import {
  assignStorageNode,
  toPermissionAssignments,
  toStreamUsers,
  type AddToStorageNodeOptions,
  type PermissionBatchEntry,
  type StreamUser,
} from './chainVerbs.js'

/**
 * The verbs of {@link RunnelClient} that act on chain: streams, permissions and storage-node assignment. A base class
 * of the client only so that its file stays readable; apps use it through `RunnelClient`.
 */
export abstract class ClientChainVerbs implements StreamActions {
  readonly address: Address

  protected constructor(protected readonly parts: ClientParts) {
    this.address = parts.address
  }

  abstract publish(target: StreamTarget, content: unknown, options?: PublishOptions): Promise<PublishedMessage>
  abstract subscribe(target: StreamTarget, onMessage?: (message: ReceivedMessage) => void): Promise<Subscription>
  abstract resend(target: StreamTarget, query: HistoryQuery, options?: WaitOptions): AsyncGenerator<ReceivedMessage>

  // ---- streams ----

  /**
   * Creates `<your address>/<path>`; an id of your own works too. `options.signal` ends the wait for the transaction
   * (`ClientError` `ABORTED`), as on the other chain writes; a transaction already sent may still be mined.
   */
  async createStream(pathOrId: string, metadata: StreamMetadata = {}, options: WaitOptions = {}): Promise<Stream> {
    return this.wrap(await this.parts.catalog.create(pathOrId, metadata, options.signal))
  }

  /** @throws ChainError `STREAM_NOT_FOUND` */
  async getStream(streamIdOrPath: string): Promise<Stream> {
    return this.wrap(await this.parts.catalog.get(streamIdOrPath))
  }

  async getOrCreateStream(pathOrId: string, metadata: StreamMetadata = {}, options: WaitOptions = {}): Promise<Stream> {
    return this.wrap(await this.parts.catalog.getOrCreate(pathOrId, metadata, options.signal))
  }

  async updateStream(streamId: string, metadata: StreamMetadata, options: WaitOptions = {}): Promise<Stream> {
    return this.wrap(await this.parts.catalog.update(streamId, metadata, options.signal))
  }

  async deleteStream(streamId: string, options: WaitOptions = {}): Promise<void> {
    return this.parts.catalog.delete(streamId, options.signal)
  }

  async searchStreams(filter: Parameters<RunnelRegistry['searchStreams']>[0] = {}): Promise<Stream[]> {
    return (await this.parts.registry.searchStreams(filter)).map((record) => this.wrap(record))
  }

  /**
   * One page of a stream search, ordered by id or by creation (see `RunnelRegistry.queryStreams`).
   * @example `const { streams, nextCursor } = await client.queryStreams({ term: '/sensors', orderBy: 'created' })`
   */
  async queryStreams(query: StreamQuery = {}): Promise<{ streams: Stream[]; nextCursor?: string }> {
    const page = await this.parts.registry.queryStreams(query)
    return { ...page, streams: page.streams.map((record) => this.wrap(record)) }
  }

  // ---- permissions ----

  /** Grants `permissions` to `user`, or to everyone with `'public'` (publish and subscribe only). */
  async grantPermissions(streamId: string, user: Address | 'public', ...permissions: PermissionName[]): Promise<void> {
    for (const permission of permissions) {
      await this.parts.registry.grantPermission(
        this.toStreamId(streamId),
        user === 'public' ? PUBLIC : user,
        permission,
      )
    }
  }

  async revokePermissions(streamId: string, user: Address | 'public', ...permissions: PermissionName[]): Promise<void> {
    for (const permission of permissions) {
      await this.parts.registry.revokePermission(
        this.toStreamId(streamId),
        user === 'public' ? PUBLIC : user,
        permission,
      )
    }
  }

  async setPermissions(
    streamId: string,
    user: Address | 'public',
    permissions: Permissions,
    options: WaitOptions = {},
  ): Promise<void> {
    return this.parts.catalog.setPermissions(streamId, user, permissions, options.signal)
  }

  /** Whether `user` (default: this client) holds `permission` now, directly or publicly. */
  async hasPermission(streamId: string, permission: PermissionName, user: Address = this.address): Promise<boolean> {
    return this.parts.registry.hasPermission(this.toStreamId(streamId), user, permission)
  }

  async getPermissions(streamId: string): Promise<Map<Address, Permissions>> {
    return this.parts.registry.getPermissions(this.toStreamId(streamId))
  }

  /**
   * Who may publish to the stream now: addresses, and `'public'` when anyone may.
   * @example `if ((await client.getStreamPublishers(streamId)).includes('public')) console.log('open')`
   */
  async getStreamPublishers(streamId: string): Promise<StreamUser[]> {
    return toStreamUsers(await this.parts.registry.getStreamPublishers(this.toStreamId(streamId)))
  }

  /** Who may subscribe to the stream now: addresses, and `'public'` when anyone may. */
  async getStreamSubscribers(streamId: string): Promise<StreamUser[]> {
    return toStreamUsers(await this.parts.registry.getStreamSubscribers(this.toStreamId(streamId)))
  }

  /**
   * Sets the permissions of many users on many streams in one transaction (1–100 entries): all apply, or none.
   * @example `await client.setPermissionsBatch([{ streamId: '/sensors', user: 'public', permissions: ['subscribe'] }])`
   */
  async setPermissionsBatch(entries: readonly PermissionBatchEntry[]): Promise<void> {
    return this.parts.registry.setPermissionsBatch(toPermissionAssignments(entries, (id) => this.toStreamId(id)))
  }

  // ---- storage nodes ----

  /** The addresses of the storage nodes that store a stream. */
  async getStorageNodes(streamId: string): Promise<Address[]> {
    return this.parts.registry.getStorageNodes(this.toStreamId(streamId))
  }

  /** Every registered storage node and the metadata it registered (e.g. `{ http }`). */
  async getAllStorageNodes(): Promise<StorageNodeInfo[]> {
    return this.parts.registry.getAllStorageNodes()
  }

  /**
   * Assigns a stream to a storage node, which then stores everything published to it (needs edit permission). With
   * `wait`, resolves only once the node serves the stream; `ClientError` `TIMEOUT` after `timeoutMs` (still assigned).
   * @example `await client.addStreamToStorageNode(streamId, node, { wait: true, timeoutMs: 30_000 })`
   */
  async addStreamToStorageNode(streamId: string, node: Address, options: AddToStorageNodeOptions = {}): Promise<void> {
    return assignStorageNode(this.parts.registry, this.parts.chainState, this.toStreamId(streamId), node, options)
  }

  async removeStreamFromStorageNode(streamId: string, node: Address): Promise<void> {
    const id = this.toStreamId(streamId)
    await this.parts.registry.removeStorageNode(id, node)
    this.parts.chainState.forgetStream(id)
  }

  // ---- internals ----

  protected wrap(record: StreamRecord): Stream {
    return new Stream(record.id, record.metadata, this)
  }

  protected toStreamId(streamIdOrPath: string): string {
    return this.parts.streams.toStreamId(streamIdOrPath)
  }
}
