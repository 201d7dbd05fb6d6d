import type { PermissionName, Permissions, StreamMetadata } from '@runnel/chain'
import { toStreamPartId, type StreamId, type StreamPartId } from '@runnel/protocol'
import type { Address } from 'viem'
import type { HistoryQuery } from './storage/historyRequests.js'
import type { Subscription } from './Subscription.js'
import type { AddToStorageNodeOptions, StreamUser } from './streams/chainVerbs.js'
import type { PublishOptions, PublishedMessage, ReceivedMessage, StreamTarget } from './types.js'

/**
 * The client verbs a {@link Stream} binds to its id: what `RunnelClient` offers (named here, not imported, so the
 * client and the stream don't import each other).
 */
export interface StreamActions {
  publish(target: StreamTarget, content: unknown, options?: PublishOptions): Promise<PublishedMessage>
  subscribe(target: StreamTarget, onMessage?: (message: ReceivedMessage) => void): Promise<Subscription>
  resend(target: StreamTarget, query: HistoryQuery): AsyncGenerator<ReceivedMessage>
  addStreamToStorageNode(streamId: string, node: Address, options?: AddToStorageNodeOptions): Promise<void>
  removeStreamFromStorageNode(streamId: string, node: Address): Promise<void>
  getStorageNodes(streamId: string): Promise<Address[]>
  grantPermissions(streamId: string, user: Address | 'public', ...permissions: PermissionName[]): Promise<void>
  revokePermissions(streamId: string, user: Address | 'public', ...permissions: PermissionName[]): Promise<void>
  setPermissions(streamId: string, user: Address | 'public', permissions: Permissions): Promise<void>
  hasPermission(streamId: string, permission: PermissionName, user?: Address): Promise<boolean>
  getPermissions(streamId: string): Promise<Map<Address, Permissions>>
  getStreamPublishers(streamId: string): Promise<StreamUser[]>
  getStreamSubscribers(streamId: string): Promise<StreamUser[]>
  updateStream(streamId: string, metadata: StreamMetadata): Promise<Stream>
  deleteStream(streamId: string): Promise<void>
}

/**
 * A stream as the client sees it: its id and metadata, and the client's
 * verbs bound to it.
 *
 * @example
 * ```ts
 * const stream = await client.getOrCreateStream('/sensors', { partitions: 3 })
 * await stream.grantPermissions('public', 'subscribe')
 * await stream.publish({ celsius: 21.5 }, { partitionKey: 'greenhouse-1' })
 * ```
 */
export class Stream {
  constructor(
    readonly id: string,
    readonly metadata: StreamMetadata,
    private readonly client: StreamActions,
  ) {}

  /** Number of partitions (1 when the metadata doesn't say). */
  get partitions(): number {
    return this.metadata.partitions ?? 1
  }

  /**
   * Every stream part of the stream, partition 0 first: what to join, subscribe to or read history of one by one.
   *
   * @example
   * ```ts
   * for (const streamPartId of stream.getStreamParts()) console.log(streamPartId) // "0xab…/sensors#0", …
   * ```
   */
  getStreamParts(): StreamPartId[] {
    return Array.from({ length: this.partitions }, (_, partition) => toStreamPartId(this.id as StreamId, partition))
  }

  publish(content: unknown, options?: PublishOptions & { partition?: number }): Promise<PublishedMessage> {
    const { partition, ...rest } = options ?? {}
    return this.client.publish(partition === undefined ? this.id : { id: this.id, partition }, content, rest)
  }

  /** Subscribes to every partition, or to one. */
  subscribe(onMessage?: (message: ReceivedMessage) => void, partition?: number): Promise<Subscription> {
    return this.client.subscribe(partition === undefined ? this.id : { id: this.id, partition }, onMessage)
  }

  /** Stored history of every partition, or of one (see `RunnelClient.resend`). */
  resend(query: HistoryQuery, partition?: number): AsyncGenerator<ReceivedMessage> {
    return this.client.resend(partition === undefined ? this.id : { id: this.id, partition }, query)
  }

  /** Assigns the stream to a storage node (needs edit permission); with `wait`, until the node serves it. */
  addToStorageNode(node: Address, options?: AddToStorageNodeOptions): Promise<void> {
    return this.client.addStreamToStorageNode(this.id, node, options)
  }

  removeFromStorageNode(node: Address): Promise<void> {
    return this.client.removeStreamFromStorageNode(this.id, node)
  }

  getStorageNodes(): Promise<Address[]> {
    return this.client.getStorageNodes(this.id)
  }

  grantPermissions(user: Address | 'public', ...permissions: PermissionName[]): Promise<void> {
    return this.client.grantPermissions(this.id, user, ...permissions)
  }

  revokePermissions(user: Address | 'public', ...permissions: PermissionName[]): Promise<void> {
    return this.client.revokePermissions(this.id, user, ...permissions)
  }

  setPermissions(user: Address | 'public', permissions: Permissions): Promise<void> {
    return this.client.setPermissions(this.id, user, permissions)
  }

  hasPermission(permission: PermissionName, user?: Address): Promise<boolean> {
    return this.client.hasPermission(this.id, permission, user)
  }

  getPermissions(): Promise<Map<Address, Permissions>> {
    return this.client.getPermissions(this.id)
  }

  /** Who may publish now; `'public'` when anyone may. */
  getPublishers(): Promise<StreamUser[]> {
    return this.client.getStreamPublishers(this.id)
  }

  /** Who may subscribe now; `'public'` when anyone may. */
  getSubscribers(): Promise<StreamUser[]> {
    return this.client.getStreamSubscribers(this.id)
  }

  /** Replaces the metadata; returns the updated stream. */
  update(metadata: StreamMetadata): Promise<Stream> {
    return this.client.updateStream(this.id, metadata)
  }

  delete(): Promise<void> {
    return this.client.deleteStream(this.id)
  }
}
