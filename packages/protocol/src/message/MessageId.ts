import { ProtocolError, describeValue } from '../errors/index.js'
import { parseEthereumAddress, type EthereumAddress } from '../identity/address.js'
import { parsePartition, parseStreamId, toStreamPartId, type StreamId, type StreamPartId } from '../ids/stream.js'
import { MessageRef, validateSequenceNumber, validateTimestamp } from './MessageRef.js'

/** Longest message chain id. */
export const MAX_MESSAGE_CHAIN_ID_LENGTH = 64
export const MESSAGE_CHAIN_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/

/**
 * Identifies one message: where it was published, by whom, and its place in
 * the publisher's chain. Validated on construction.
 *
 * @example
 * ```ts
 * const id = new MessageId(streamId, 0, Date.now(), 0, publisherAddress, 'chain-1')
 * ```
 */
export class MessageId {
  readonly streamId: StreamId
  readonly streamPartition: number
  readonly timestamp: number
  readonly sequenceNumber: number
  readonly publisherId: EthereumAddress
  readonly messageChainId: string

  constructor(
    streamId: string,
    streamPartition: number,
    timestamp: number,
    sequenceNumber: number,
    publisherId: string,
    messageChainId: string,
  ) {
    // Sequential try blocks rather than a helper taking closures: this runs for
    // every decoded message.
    let field = 'messageId.streamId'
    try {
      this.streamId = parseStreamId(streamId)
      field = 'messageId.streamPartition'
      this.streamPartition = parsePartition(streamPartition)
      field = 'messageId.publisherId'
      this.publisherId = parseEthereumAddress(publisherId)
    } catch (err) {
      const reason = err instanceof ProtocolError ? err.message : String(err)
      throw new ProtocolError('INVALID_MESSAGE', `${field}: ${reason}`, { field, cause: err })
    }
    validateTimestamp(timestamp, 'messageId.timestamp')
    validateSequenceNumber(sequenceNumber, 'messageId.sequenceNumber')
    this.timestamp = timestamp
    this.sequenceNumber = sequenceNumber
    if (typeof messageChainId !== 'string' || !MESSAGE_CHAIN_ID_PATTERN.test(messageChainId)) {
      throw new ProtocolError(
        'INVALID_MESSAGE',
        `messageChainId must be 1..${MAX_MESSAGE_CHAIN_ID_LENGTH} characters of [A-Za-z0-9._-], got ${describeValue(
          messageChainId,
        )}`,
        { field: 'messageId.messageChainId' },
      )
    }
    this.messageChainId = messageChainId
  }

  get streamPartId(): StreamPartId {
    return toStreamPartId(this.streamId, this.streamPartition)
  }

  toMessageRef(): MessageRef {
    return new MessageRef(this.timestamp, this.sequenceNumber)
  }

  toString(): string {
    return `${this.streamPartId}/${this.timestamp}/${this.sequenceNumber}/${this.publisherId}/${this.messageChainId}`
  }
}
