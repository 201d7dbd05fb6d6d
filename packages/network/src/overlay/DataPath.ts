import {
  ProtocolError,
  SignatureType,
  addressFromBytes,
  decodeStreamMessage,
  encodeStreamMessage,
  readStreamMessageHeader,
  verifyStreamMessage,
  type SignatureVerifier,
  type StreamMessage,
  type StreamMessageHeader,
  type StreamPartId,
} from '@runnel/protocol'
import type { NodeId } from '../identity.js'
import { errorField, type Logger } from '../logger.js'
import { encodeDataFrame } from '../wire/frames.js'
import { NetworkError } from '../errors.js'
import type { DeliveryContext, InvalidMessageEvent } from './delivery.js'
import { erc1271CopyKey } from './erc1271Copies.js'
import { FLOOD_BAN_MS, NEIGHBOR_EXCESS_WINDOW_MS, RelayLimiter, type RelayLimitOptions } from './RelayLimits.js'
import type { StreamPartOverlay } from './StreamPartOverlay.js'

/**
 * How long messages are still taken from a neighbour after it departed (left, was handed over or dropped): what it
 * sent before the news reached it. Signed and deduplicated like any other, so the grace lets in nothing forged.
 */
export const DEPARTED_GRACE_MS = 5_000

/** Sends a data frame to a connected peer; false when it wasn't sent (no connection, or its send buffer is full). */
export type SendFrame = (peerId: NodeId, frame: Uint8Array) => boolean

/** What the data path needs from the node around it. */
export interface DataPathComponents {
  readonly send: SendFrame
  /**
   * Closes the connection to a peer that relayed bytes that aren't a valid message (`malformed-frame`), or that kept
   * sending beyond the relay limits (`flooding`).
   */
  readonly disconnect: (peerId: NodeId, detail: string, cause?: 'malformed-frame' | 'flooding') => void
  readonly verifier: SignatureVerifier
  readonly logger: Logger
  /** A received message failed verification (it was dropped). */
  readonly onInvalidMessage: (event: InvalidMessageEvent) => void
  /** The time in ms, for the relay limits. Default `Date.now`. */
  readonly now?: () => number
}

export interface DataPathOptions {
  readonly kind: 'full' | 'light'
  readonly verifySignatures: boolean
  readonly maxMessageSize: number
  /** A message sent to fewer peers than this (light nodes: `proxyCount`) is kept for peers joining soon. */
  readonly targetDegree: number
  readonly proxyCount: number
  /** Attack simulation: deliver received messages locally but never relay them (see `NetworkNodeOptions`). */
  readonly dropRelayedMessages?: boolean
  /** Per-publisher and per-stream-part rate limits on new messages (see `NetworkNodeOptions.relayLimits`). Default none. */
  readonly relayLimits?: RelayLimitOptions | false
}

/** Counters since start, part of `NetworkNodeMetrics`. */
export interface DataPathCounters {
  /** Data frames received, duplicates and invalid ones included. */
  messagesIn: number
  /** Data frames sent. */
  messagesOut: number
  /** Messages received again after the first copy. */
  duplicates: number
  /** Data frames whose message failed to decode or validate (the sender is disconnected). */
  invalidMessages: number
  /** Messages dropped because their signature didn't verify. */
  invalidSignatures: number
  /** Messages from peers that aren't neighbours in that stream part, or for stream parts not joined. */
  unexpectedMessages: number
  /** Messages handed to local listeners. */
  delivered: number
  /** New messages dropped, not relayed, because their publisher or stream part was over the relay limits. */
  rateLimited: number
}

/** What became of a received data frame. */
export type ReceiveOutcome = 'new' | 'duplicate' | 'unexpected' | 'invalid-signature' | 'malformed' | 'rate-limited'

/** Lookup by an id read from the wire: a key that isn't a valid stream part id can only miss. */
type OverlaysByKey = ReadonlyMap<string, StreamPartOverlay>

/**
 * The data path of a node: reads the header of each received frame to route
 * it and recognise copies, decodes and verifies only new messages, delivers
 * them to local listeners and relays the original frame to every neighbour
 * (and proxy client) but the sender. A frame that reached too few peers is
 * kept in the stream part's propagation buffer for peers that join soon. All
 * sending goes through one `send` function, so it runs without a network in
 * unit tests.
 *
 * @example
 * ```ts
 * const dataPath = new DataPath(
 *   { send: (peerId, frame) => connections.get(peerId)?.send(frame) === true, disconnect, verifier, logger, onInvalidMessage },
 *   { kind: 'full', verifySignatures: true, maxMessageSize: 1 << 20, targetDegree: 4, proxyCount: 2 },
 *   overlays,
 * )
 * dataPath.receive(peerId, frame, messageBytes)
 * ```
 */
export class DataPath {
  readonly counters: DataPathCounters = {
    messagesIn: 0,
    messagesOut: 0,
    duplicates: 0,
    invalidMessages: 0,
    invalidSignatures: 0,
    unexpectedMessages: 0,
    delivered: 0,
    rateLimited: 0,
  }

  private readonly limiter: RelayLimiter | undefined

  constructor(
    private readonly components: DataPathComponents,
    private readonly options: DataPathOptions,
    private readonly overlays: ReadonlyMap<StreamPartId, StreamPartOverlay>,
  ) {
    const { relayLimits } = options
    this.limiter =
      relayLimits === undefined || relayLimits === false
        ? undefined
        : new RelayLimiter(relayLimits, options.maxMessageSize, components.now ?? Date.now)
  }

  /**
   * Publishes this node's own message in a joined stream part: encodes it
   * once, marks it seen, delivers it locally and sends it on.
   *
   * The node's own messages count against the relay limits like relayed ones, so a node that keeps its limits
   * never sends a neighbour more than they allow.
   *
   * @throws {@link ProtocolError} `MESSAGE_TOO_LARGE` when the encoded message exceeds `maxMessageSize`
   * @throws {@link NetworkError} `RATE_LIMITED` when the message's publisher or stream part is over the relay limits
   */
  publish(overlay: StreamPartOverlay, message: StreamMessage): void {
    const bytes = encodeStreamMessage(message, { maxMessageSize: this.options.maxMessageSize })
    const frame = encodeDataFrame(bytes)
    const chainKey = `${message.publisherId}/${message.messageChainId}`
    if (message.signatureType === SignatureType.Erc1271) {
      const copyKey = erc1271CopyKey(chainKey, message.timestamp, message.sequenceNumber, message.signature)
      if (overlay.duplicates.isDuplicateCopy(copyKey)) {
        this.counters.duplicates++
        return
      }
      this.takeOwnAllowance(overlay, message, bytes.length)
      overlay.duplicates.markCopySeen(copyKey)
    } else {
      if (overlay.duplicates.isDuplicate(chainKey, message.timestamp, message.sequenceNumber)) {
        this.counters.duplicates++
        return
      }
      this.takeOwnAllowance(overlay, message, bytes.length)
      overlay.duplicates.markSeen(chainKey, message.timestamp, message.sequenceNumber, message.prevMsgRef)
    }
    this.deliverLocally(overlay, message, undefined)
    this.propagate(overlay, frame, undefined, this.heldBack(overlay, message, frame, undefined))
  }

  /** @throws {@link NetworkError} `RATE_LIMITED` (counted) when the message is over the relay limits */
  private takeOwnAllowance(overlay: StreamPartOverlay, message: StreamMessage, bytes: number): void {
    if (this.limiter === undefined || this.limiter.take(overlay, message.publisherId, bytes)) return
    this.counters.rateLimited++
    throw new NetworkError(
      'RATE_LIMITED',
      `publisher ${message.publisherId} or stream part ${message.streamPartId} is over this node's relay limits ` +
        '(relayLimits): publish more slowly',
    )
  }

  /** A data frame `frame` carrying the encoded message `bytes` arrived from `senderId`. */
  receive(senderId: NodeId, frame: Uint8Array, bytes: Uint8Array): ReceiveOutcome {
    this.counters.messagesIn++
    // Most frames are copies already seen: read just the header to route and
    // recognise them, and decode (and verify) only messages that are new.
    let header: StreamMessageHeader
    let message: StreamMessage
    try {
      header = readStreamMessageHeader(bytes)
      // Encoders write normalized ids; one that didn't (a valid checksummed
      // owner) misses this lookup and is routed after the full decode below.
      const overlay = (this.overlays as OverlaysByKey).get(`${header.streamId}#${header.streamPartition}`)
      if (overlay !== undefined) {
        const publisher = addressFromBytes(header.publisherId)
        const chainKey = `${publisher}/${header.messageChainId}`
        // While an inspection tallies senders, copies take the full path below: a copy counts only once verified.
        if (
          overlay.senderObservers.size === 0 &&
          overlay.accepts(senderId) &&
          (header.signatureType === (SignatureType.Erc1271 as number)
            ? overlay.duplicates.isDuplicateCopy(
                erc1271CopyKey(chainKey, header.timestamp, header.sequenceNumber, header.signature),
              )
            : overlay.duplicates.isDuplicate(chainKey, header.timestamp, header.sequenceNumber))
        ) {
          this.counters.duplicates++
          overlay.scores?.noteCopy(senderId, chainKey, header.timestamp, header.sequenceNumber)
          return 'duplicate'
        }
        // A new message over the limits is dropped before the costly decode and signature check. (During an
        // inspection copies reach here too; the limits then apply after verification, to new messages only.)
        if (
          this.limiter !== undefined &&
          overlay.senderObservers.size === 0 &&
          overlay.accepts(senderId) &&
          !this.limiter.allows(overlay, publisher, bytes.length)
        ) {
          return this.rateLimited(this.limiter, overlay, senderId)
        }
      }
      message = decodeStreamMessage(bytes, { maxMessageSize: this.options.maxMessageSize })
    } catch (err) {
      this.counters.invalidMessages++
      const detail = err instanceof ProtocolError ? err.message : String(err)
      this.components.logger.info('disconnecting a peer that sent a malformed message', { peerId: senderId, detail })
      // A peer that relays undecodable bytes is broken or hostile either way.
      this.components.disconnect(senderId, detail)
      return 'malformed'
    }
    // Routing and dedup used the header; everything below uses the validated message.
    const overlay = this.overlays.get(message.streamPartId)
    // A neighbour that just departed may have sent before it learnt so: those messages went nowhere else.
    if (overlay === undefined || !(overlay.accepts(senderId) || overlay.departedWithin(senderId, DEPARTED_GRACE_MS))) {
      this.counters.unexpectedMessages++
      this.components.logger.debug('dropped a message from a peer that is not a neighbour in its stream part', {
        peerId: senderId,
        streamPartId: message.streamPartId,
        joined: overlay !== undefined,
      })
      return 'unexpected'
    }
    const chainKey = `${message.publisherId}/${message.messageChainId}`
    if (message.signatureType === SignatureType.Erc1271) {
      // Only the chain can verify it, and relays don't call the chain: relay it, keyed by its signature too so a
      // forged copy can't shadow it. Subscribers and storage nodes verify it against the wallet.
      const copyKey = erc1271CopyKey(chainKey, message.timestamp, message.sequenceNumber, message.signature)
      if (overlay.duplicates.isDuplicateCopy(copyKey)) {
        this.counters.duplicates++
        observeSender(overlay, senderId)
        return 'duplicate'
      }
      if (this.limiter !== undefined && !this.limiter.take(overlay, message.publisherId, bytes.length)) {
        return this.rateLimited(this.limiter, overlay, senderId)
      }
      overlay.duplicates.markCopySeen(copyKey)
      this.deliverAndRelay(overlay, message, frame, senderId)
      return 'new'
    }
    if (overlay.duplicates.isDuplicate(chainKey, message.timestamp, message.sequenceNumber)) {
      this.counters.duplicates++
      overlay.scores?.noteCopy(senderId, chainKey, message.timestamp, message.sequenceNumber)
      // A free rider could pass an inspection by sending cheap forgeries of messages the inspector already has.
      if (
        overlay.senderObservers.size > 0 &&
        (!this.options.verifySignatures || verifyStreamMessage(message, this.components.verifier))
      ) {
        observeSender(overlay, senderId)
      }
      return 'duplicate'
    }
    // Verify before marking seen, so a forged copy can't shadow the genuine message.
    if (this.options.verifySignatures && !verifyStreamMessage(message, this.components.verifier)) {
      this.counters.invalidSignatures++
      this.components.logger.debug('dropped a message whose signature did not verify', {
        peerId: senderId,
        streamPartId: message.streamPartId,
        publisherId: message.publisherId,
      })
      this.components.onInvalidMessage({ message, senderId, reason: 'invalid-signature' })
      return 'invalid-signature'
    }
    // Tokens are taken only now, once verified: forgeries in a publisher's name can't spend its allowance.
    if (this.limiter !== undefined && !this.limiter.take(overlay, message.publisherId, bytes.length)) {
      return this.rateLimited(this.limiter, overlay, senderId)
    }
    // Its previous ref links it to the refs seen before (see `markSeen`): trusted only from a verified message.
    const previous = this.options.verifySignatures ? message.prevMsgRef : undefined
    overlay.duplicates.markSeen(chainKey, message.timestamp, message.sequenceNumber, previous)
    this.deliverAndRelay(overlay, message, frame, senderId)
    return 'new'
  }

  /**
   * Drops a new message over the relay limits (not marked seen: a copy may pass once there is room) and counts it
   * against the neighbour that sent it, disconnecting one that keeps sending far beyond the limits.
   */
  private rateLimited(limiter: RelayLimiter, overlay: StreamPartOverlay, senderId: NodeId): 'rate-limited' {
    this.counters.rateLimited++
    if (limiter.noteExcess(overlay, senderId)) {
      this.components.logger.info('disconnecting a neighbour that keeps sending beyond the relay limits', {
        peerId: senderId,
        streamPartId: overlay.streamPartId,
      })
      this.components.disconnect(
        senderId,
        `sent more than ${limiter.options.maxNeighborExcess} messages over the relay limits of ` +
          `${overlay.streamPartId} within ${NEIGHBOR_EXCESS_WINDOW_MS / 1000} s; refused for ${FLOOD_BAN_MS / 1000} s`,
        'flooding',
      )
    }
    return 'rate-limited'
  }

  private deliverAndRelay(
    overlay: StreamPartOverlay,
    message: StreamMessage,
    frame: Uint8Array,
    senderId: NodeId,
  ): void {
    observeSender(overlay, senderId)
    overlay.scores?.noteFirst(senderId)
    this.deliverLocally(overlay, message, senderId)
    if (this.options.dropRelayedMessages) return
    if (this.options.kind === 'full' || overlay.proxyClients.size > 0) {
      this.propagate(overlay, frame, senderId, this.heldBack(overlay, message, frame, senderId))
    }
  }

  /** The neighbour scoring holds a message back from as a probe (see NeighborScores), if any. */
  private heldBack(
    overlay: StreamPartOverlay,
    message: StreamMessage,
    frame: Uint8Array,
    senderId: NodeId | undefined,
  ): NodeId | undefined {
    // Copies of ERC-1271 messages are keyed by signature too: not worth a probe.
    if (
      overlay.scores === undefined ||
      this.options.kind !== 'full' ||
      message.signatureType === SignatureType.Erc1271
    ) {
      return undefined
    }
    const chainKey = `${message.publisherId}/${message.messageChainId}`
    return overlay.scores.beforeRelay(senderId, frame, chainKey, message.timestamp, message.sequenceNumber)
  }

  /**
   * True while a peer disconnected for sending far beyond the relay limits is refused (see `RelayLimitOptions`):
   * the node closes a new connection from it at once.
   */
  isBanned(peerId: NodeId): boolean {
    return this.limiter?.isBanned(peerId) ?? false
  }

  /** Sends a peer just added to the overlay the buffered frames it hasn't had yet. */
  flush(overlay: StreamPartOverlay, peerId: NodeId): void {
    for (const frame of overlay.buffer.takeFor(peerId)) {
      if (this.components.send(peerId, frame)) this.counters.messagesOut++
    }
  }

  private deliverLocally(overlay: StreamPartOverlay, message: StreamMessage, senderId: NodeId | undefined): void {
    const context: DeliveryContext = { senderId }
    for (const listener of overlay.listeners) {
      this.counters.delivered++
      try {
        listener(message, context)
      } catch (err) {
        // A failing listener must not stop delivery to others or relaying.
        this.components.logger.error('a message listener threw', {
          streamPartId: overlay.streamPartId,
          error: errorField(err),
        })
      }
    }
  }

  private propagate(
    overlay: StreamPartOverlay,
    frame: Uint8Array,
    senderId: NodeId | undefined,
    heldBack?: NodeId,
  ): void {
    const light = this.options.kind === 'light'
    const sentTo: NodeId[] = []
    for (const peerId of overlay.recipients(senderId, light)) {
      if (peerId === heldBack) {
        // Sent later by the scoring unless the peer relays it here first; counted as reached.
        sentTo.push(peerId)
        continue
      }
      if (this.components.send(peerId, frame)) {
        this.counters.messagesOut++
        sentTo.push(peerId)
      }
    }
    const wanted = light ? this.options.proxyCount : this.options.targetDegree
    if (sentTo.length < wanted) {
      if (senderId !== undefined) sentTo.push(senderId)
      overlay.buffer.add(frame, sentTo)
    }
  }
}

/**
 * Tells a stream part's sender observers of a frame that carried a valid message (a new one, or a copy of one already
 * seen, each verified): bytes that fail to decode or verify count for no one. Observers are the node's own code (an
 * inspection's tally): one that throws must not break the data path.
 */
function observeSender(overlay: StreamPartOverlay, senderId: NodeId): void {
  if (overlay.senderObservers.size === 0) return
  for (const observer of overlay.senderObservers) {
    try {
      observer(senderId)
    } catch {
      // Ignored: see above.
    }
  }
}
