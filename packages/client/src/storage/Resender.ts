import { decodeStreamMessage, type StreamMessage } from '@runnel/protocol'
import { ClientError } from '../errors.js'
import { fetchHistory, historyUrl, type HistoryQuery } from './historyRequests.js'

/** What the resender needs from the client. */
export interface ResenderComponents {
  /** History API base URLs of the stream's storage nodes. */
  storageNodeUrls(streamId: string): Promise<readonly string[]>
  /** Signature and publish-permission checks; false drops the message (the client reports it). */
  validate(message: StreamMessage): Promise<boolean>
}

interface Position {
  readonly timestamp: number
  readonly sequenceNumber: number
  readonly publisherId: string
  readonly messageChainId: string
}

/** Storage order: (timestamp, sequence number, publisher, chain). */
function compare(message: StreamMessage, position: Position): number {
  return (
    message.timestamp - position.timestamp ||
    message.sequenceNumber - position.sequenceNumber ||
    (message.publisherId < position.publisherId ? -1 : message.publisherId > position.publisherId ? 1 : 0) ||
    (message.messageChainId < position.messageChainId ? -1 : message.messageChainId > position.messageChainId ? 1 : 0)
  )
}

/** The rest of a query after `position`, for another node to carry on from. */
function continuation(query: HistoryQuery, position: Position | undefined): HistoryQuery {
  if (position === undefined) return query
  const from = { timestamp: position.timestamp, sequenceNumber: position.sequenceNumber }
  if ('last' in query) return { from }
  return { ...query, from }
}

/**
 * Reads a stream part's history from its storage nodes: tries them in random
 * order, carries on from the last message received when one fails midway,
 * and yields each message once, validated, in storage order.
 */
export class Resender {
  constructor(private readonly components: ResenderComponents) {}

  /** Whether any storage node stores the stream. */
  async hasStorage(streamId: string): Promise<boolean> {
    return (await this.components.storageNodeUrls(streamId)).length > 0
  }

  async *resend(
    streamId: string,
    partition: number,
    query: HistoryQuery,
    signal?: AbortSignal,
  ): AsyncGenerator<StreamMessage> {
    const urls = shuffle([...(await this.components.storageNodeUrls(streamId))])
    if (urls.length === 0) {
      throw new ClientError(
        'STORAGE_UNAVAILABLE',
        `no storage node stores ${streamId}: assign one with addStreamToStorageNode(streamId, node)`,
      )
    }
    const failures: string[] = []
    let position: Position | undefined
    for (const url of urls) {
      try {
        for await (const frame of fetchHistory(
          historyUrl(url, streamId, partition, continuation(query, position)),
          signal,
        )) {
          const message = decodeStreamMessage(frame)
          if (message.streamId !== streamId || message.messageId.streamPartition !== partition) {
            throw new ClientError('STORAGE_UNAVAILABLE', `${url} answered with a message of ${message.streamPartId}`)
          }
          if (position !== undefined && compare(message, position) <= 0) continue // already yielded, before a failover
          position = {
            timestamp: message.timestamp,
            sequenceNumber: message.sequenceNumber,
            publisherId: message.publisherId,
            messageChainId: message.messageChainId,
          }
          if (await this.components.validate(message)) yield message
        }
        return
      } catch (err) {
        if (signal?.aborted === true) throw err
        if (err instanceof ClientError && err.code === 'INVALID_ARGUMENT') throw err
        failures.push(`${url}: ${(err as Error).message}`)
      }
    }
    throw new ClientError(
      'STORAGE_UNAVAILABLE',
      `no storage node of ${streamId} could answer:\n  ${failures.join('\n  ')}`,
    )
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}
