import {
  ContentType,
  EncryptionType,
  MessageId,
  MessageType,
  encodeJsonContent,
  signStreamMessage,
  splitStreamPartId,
  systemClock,
  toStreamPartId,
  type Clock,
  type EncryptedGroupKey,
  type MessageSigner,
  type StreamId,
  type StreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import { raceAbort, throwIfAborted } from '../abort.js'
import { ClientError } from '../errors.js'
import { randomChainId, toPublished } from '../messages.js'
import type { StreamResolver } from '../streams/StreamResolver.js'
import { DEFAULT_ACK_TIMEOUT_MS, type PublishOptions, type PublishedMessage, type StreamTarget } from '../types.js'
import { MessageChains } from './MessageChains.js'
import type { PublishLog } from './PublishLog.js'
import { checkPublishTimestamp } from './timestamps.js'

/** What the publisher works with. */
export interface PublisherComponents {
  readonly signer: MessageSigner
  /** Starts the client (its node) if it hasn't been. */
  readonly start: () => Promise<void>
  readonly streams: Pick<StreamResolver, 'toStreamId' | 'choosePartition'>
  /** This client's publish permission now (cached). */
  readonly mayPublish: (streamId: string) => Promise<boolean>
  /** Whether anyone may subscribe: such streams are published in the clear unless `encrypt` says otherwise. */
  readonly isPublic: (streamId: string) => Promise<boolean>
  /** The stream's storage nodes (lowercase addresses), for `ack: 'stored'`. */
  readonly storageNodes: (streamId: string) => Promise<readonly string[]>
  /** Encrypts content with the stream's current key (the encryption layer). */
  readonly seal: (
    streamPartId: StreamPartId,
    content: Uint8Array,
  ) => Promise<{ content: Uint8Array; groupKeyId: string; newGroupKey: EncryptedGroupKey | undefined }>
  /** Puts a key put to use in custody, in the background. */
  readonly deposit: (streamId: string, keyId: string) => void
  readonly joins: {
    joinOnce(streamPartId: StreamPartId): Promise<void>
    joinToPublish(streamPartId: StreamPartId): Promise<void>
  }
  readonly publishLog: Pick<PublishLog, 'add' | 'waitStored' | 'endChain'>
  readonly broadcast: (message: StreamMessage) => void
  readonly clock?: Clock
}

/**
 * Publishing: checks, encryption, a place in the message chain, signing, broadcasting and, with `ack: 'stored'`,
 * waiting for the storage nodes' receipts. Also the control messages nodes send beside data.
 */
export class Publisher {
  private readonly chains = new MessageChains()
  private readonly defaultChainIds = new Map<string, string>()
  private readonly clock: Clock

  constructor(
    private readonly components: PublisherComponents,
    private readonly maxClockSkewMs: number,
  ) {
    this.clock = components.clock ?? systemClock
  }

  /** See `RunnelClient.publish`. */
  async publish(target: StreamTarget, content: unknown, options: PublishOptions = {}): Promise<PublishedMessage> {
    const { components } = this
    const { signal } = options
    const timestamp = checkPublishTimestamp(options.timestamp, this.maxClockSkewMs, this.clock.now())
    throwIfAborted(signal, 'publish')
    await raceAbort(components.start(), signal, 'publish')
    const streamId = components.streams.toStreamId(typeof target === 'string' ? target : target.id)
    const partition = await raceAbort(
      components.streams.choosePartition(
        streamId,
        typeof target === 'string' ? undefined : target.partition,
        options.partitionKey,
      ),
      signal,
      'publish',
    )
    if (!(await raceAbort(components.mayPublish(streamId), signal, 'publish'))) {
      throw new ClientError('PERMISSION_DENIED', `${components.signer.address} may not publish to ${streamId}`)
    }
    const streamPartId = toStreamPartId(streamId as StreamId, partition)
    const minStorageNodes =
      options.ack === 'stored' ? await raceAbort(this.checkStoredAck(streamId, options), signal, 'publish') : 0
    const msgChainId = options.msgChainId ?? this.defaultChainId(streamPartId)
    // Encode (and seal) before claiming a place in the chain: bad content must not leave a hole subscribers report as a gap.
    const binary = content instanceof Uint8Array
    const encoded = binary ? content : encodeJsonContent(content)
    const encrypt = options.encrypt ?? !(await components.isPublic(streamId))
    // A key wait (the stream's current key from custody or a key source) can be given up; nothing is sent then.
    const sealed = encrypt ? await raceAbort(components.seal(streamPartId, encoded), signal, 'publish') : undefined
    throwIfAborted(signal, 'publish')
    // Each key put to use goes into custody (once; in the background): the one sealing this message, and the next.
    for (const keyId of [sealed?.groupKeyId, sealed?.newGroupKey?.id]) if (keyId) components.deposit(streamId, keyId)
    const { ref, previous } = this.chains.next(msgChainId, streamPartId, timestamp)
    let message: StreamMessage
    let entry: ReturnType<PublishLog['add']>
    try {
      // A wallet's signature waits for its user: that wait can be given up too.
      message = await raceAbort(
        signStreamMessage(
          {
            messageId: new MessageId(
              streamId,
              partition,
              ref.timestamp,
              ref.sequenceNumber,
              components.signer.address,
              msgChainId,
            ),
            prevMsgRef: previous,
            contentType: binary ? ContentType.Binary : ContentType.Json,
            content: sealed?.content ?? encoded,
            ...(sealed !== undefined && {
              encryptionType: EncryptionType.Aes,
              groupKeyId: sealed.groupKeyId,
              newGroupKey: sealed.newGroupKey,
            }),
          },
          components.signer,
        ),
        signal,
        'publish',
      )
      // Given up while the first join waits for a neighbour: the chain's place is rolled back and nothing is sent.
      await raceAbort(components.joins.joinToPublish(streamPartId), signal, 'publish')
      // Kept before it is sent: a receipt can't come before the message it covers is known.
      entry = components.publishLog.add(message)
      components.broadcast(message)
    } catch (err) {
      this.chains.rollback(msgChainId, streamPartId, ref, previous)
      throw err
    }
    const published = toPublished(message)
    options.onAccepted?.(published)
    if (minStorageNodes === 0) return published
    if (entry === undefined)
      throw new ClientError('DESTROYED', 'the client was destroyed before the message was stored')
    const timeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS
    await components.publishLog.waitStored(
      entry,
      minStorageNodes,
      timeoutMs,
      () => `${streamPartId} message ${message.timestamp}:${message.sequenceNumber}`,
      signal,
    )
    return published
  }

  /** See `RunnelClient.publishControl`. */
  async publishControl(streamPartId: StreamPartId, type: MessageType, content: Uint8Array): Promise<void> {
    if (type === MessageType.Data) throw new ClientError('INVALID_ARGUMENT', 'data goes through publish()')
    const { components } = this
    await components.start()
    const { streamId, partition } = splitStreamPartId(streamPartId)
    const message = await signStreamMessage(
      {
        messageId: new MessageId(streamId, partition, this.clock.now(), 0, components.signer.address, randomChainId()),
        messageType: type,
        contentType: ContentType.Binary,
        content,
      },
      components.signer,
    )
    await components.joins.joinOnce(streamPartId)
    components.broadcast(message)
  }

  /** See `RunnelClient.forgetMessageChain`. */
  forgetMessageChain(msgChainId: string): void {
    this.chains.forget(msgChainId)
    this.components.publishLog.endChain(msgChainId)
  }

  /** Checks, before anything is sent, that a `stored` ack can be had: returns how many storage nodes must confirm. */
  private async checkStoredAck(streamId: string, options: PublishOptions): Promise<number> {
    const wanted = options.minStorageNodes ?? 1
    if (!Number.isSafeInteger(wanted) || wanted < 1) {
      throw new ClientError('INVALID_ARGUMENT', `minStorageNodes must be a whole number ≥ 1, got ${String(wanted)}`)
    }
    const timeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
      throw new ClientError('INVALID_ARGUMENT', `ackTimeoutMs must be whole milliseconds ≥ 1, got ${String(timeoutMs)}`)
    }
    const nodes = await this.components.storageNodes(streamId)
    if (nodes.length === 0) {
      throw new ClientError(
        'STORAGE_UNAVAILABLE',
        `ack 'stored' needs a storage node, and no storage node stores ${streamId}: assign one first`,
      )
    }
    if (nodes.length < wanted) {
      throw new ClientError(
        'INVALID_ARGUMENT',
        `ack 'stored' by ${wanted} storage nodes asked for, but ${streamId} has ${nodes.length}`,
      )
    }
    return wanted
  }

  private defaultChainId(streamPartId: string): string {
    let id = this.defaultChainIds.get(streamPartId)
    if (id === undefined) {
      id = randomChainId()
      this.defaultChainIds.set(streamPartId, id)
    }
    return id
  }
}
