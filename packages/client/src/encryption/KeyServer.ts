import type { NetworkNode } from '@runnel/network'
import {
  MessageType,
  parseJsonContent,
  sleep,
  splitStreamPartId,
  systemClock,
  type Clock,
  type StreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import { errorMetadata, quietLogger, type ClientLogger } from '../logger.js'
import type { GroupKey } from './GroupKey.js'
import { sealGroupKey } from './keyExchange.js'
import type { GroupKeyStore } from './KeyStore.js'
import {
  fromBase64,
  parseGroupKeyRequest,
  parseGroupKeyResponse,
  toBase64,
  type GroupKeyErrorCode,
  type GroupKeyRequest,
  type GroupKeyResponse,
} from './messages.js'
import { SlidingWindowLimiter } from './SlidingWindowLimiter.js'

/** What the key server needs from the client. */
export interface KeyServerComponents {
  /** The client's address, lowercase. */
  readonly address: string
  readonly node: Pick<NetworkNode, 'addMessageListener'>
  readonly keyStore: GroupKeyStore
  /** Subscribe permission now, for answering requests. */
  maySubscribe(streamId: string, user: string): Promise<boolean>
  /** Signs and broadcasts a key exchange message into the stream part. */
  send(streamPartId: StreamPartId, type: MessageType, content: unknown): Promise<void>
  readonly clock?: Clock
  readonly logger?: ClientLogger
}

export interface KeyServerOptions {
  /** Serve keys held as a subscriber to requesters with subscribe permission. Default true. */
  readonly serveHeldKeys?: boolean
  /** A holder waits a random time up to this before answering. Default 250 ms. */
  readonly holderAnswerDelayMs?: number
  /** Key requests answered per requester per minute. Default 60. */
  readonly maxRequestsPerMinute?: number
}

/** Holder answers waiting out their delay, at most: requests beyond it go unanswered by this holder. */
const MAX_HOLDER_ANSWERS = 1_000

/**
 * The answering side of key exchange: the publisher's answers to requests for its keys (checked against the chain's
 * subscribe permission, rate-limited per requester), and a holder's answers for keys of publishers that don't answer.
 */
export class KeyServer {
  private readonly serving = new Set<StreamPartId>()
  /** Requests per requester in a sliding minute (10,000 requesters remembered at most). */
  private readonly requests: SlidingWindowLimiter
  /** Holder answers waiting out their delay, by request id: true once someone else answered. */
  private readonly holderAnswers = new Map<string, { answered: boolean }>()
  private readonly clock: Clock
  private readonly logger: ClientLogger

  constructor(
    private readonly components: KeyServerComponents,
    private readonly options: KeyServerOptions = {},
  ) {
    this.requests = new SlidingWindowLimiter(options.maxRequestsPerMinute ?? 60)
    this.clock = components.clock ?? systemClock
    this.logger = components.logger ?? quietLogger
  }

  /**
   * Answers key requests addressed to this client in a stream part. Called on
   * every join, not only on publishing: a restarted publisher with a
   * persistent key store answers for what it encrypted before.
   */
  serve(streamPartId: StreamPartId): void {
    if (this.serving.has(streamPartId)) return
    this.serving.add(streamPartId)
    this.components.node.addMessageListener(streamPartId, (message) => {
      if (message.messageType === MessageType.GroupKeyRequest) {
        // An answer that can't be sent (the client stopping meanwhile) is simply not sent: the requester asks again.
        this.answer(message).catch((err: unknown) => {
          this.logger.debug('key request not answered', { streamPartId, ...errorMetadata(err) })
        })
      } else if (message.messageType === MessageType.GroupKeyResponse && this.holderAnswers.size > 0) {
        this.noteAnswered(message)
      }
    })
  }

  private async answer(message: StreamMessage): Promise<void> {
    let request
    try {
      request = parseGroupKeyRequest(parseJsonContent(message.content))
    } catch (err) {
      // Malformed: nothing to answer, nobody to tell.
      this.logger.debug('malformed key request', { from: message.publisherId, ...errorMetadata(err) })
      return
    }
    if (request.recipient !== this.components.address) {
      if (request.anyHolder === true && this.options.serveHeldKeys !== false) {
        await this.answerAsHolder(message, request)
      }
      return
    }
    const requester = message.publisherId
    const refuse = (code: GroupKeyErrorCode, text: string): Promise<void> =>
      this.respond(message.streamPartId, {
        requestId: request.requestId,
        recipient: requester,
        error: { code, message: text },
      })
    if (!this.allowRequest(requester)) {
      await refuse('RATE_LIMITED', 'too many key requests: try again in a minute')
      return
    }
    const { streamId } = splitStreamPartId(message.streamPartId)
    let permitted: boolean
    try {
      permitted = await this.components.maySubscribe(streamId, requester)
    } catch (err) {
      // The chain didn't answer: say nothing rather than refuse; the requester asks again.
      this.logger.debug('key request not answered: permission lookup failed', { streamId, ...errorMetadata(err) })
      return
    }
    if (!permitted) {
      await refuse('NO_PERMISSION', `${requester} may not subscribe to ${streamId}`)
      return
    }
    let publicKey: Uint8Array
    try {
      publicKey = fromBase64(request.publicKey)
    } catch {
      return
    }
    const keys = []
    try {
      for (const id of request.groupKeyIds) {
        const key = await this.components.keyStore.get(this.components.address, id)
        if (key !== undefined) keys.push({ id, data: toBase64(await sealGroupKey(publicKey, key)) })
      }
    } catch {
      return // a public key that isn't a P-256 point: nothing can be sealed to it
    }
    if (keys.length === 0) {
      await refuse('UNKNOWN_KEYS', `no such keys: ${request.groupKeyIds.join(', ')}`)
      return
    }
    await this.respond(message.streamPartId, { requestId: request.requestId, recipient: requester, keys })
  }

  /**
   * A holder's answer to a request for another publisher's keys: only keys, only to a requester with subscribe
   * permission, within the same rate limit as the publisher's. Silence otherwise: a refusal from someone who isn't
   * the publisher would be worth nothing to the requester (anyone could send one). The random delay lets one
   * holder's answer, seen by the others in the stream part, spare theirs.
   */
  private async answerAsHolder(message: StreamMessage, request: GroupKeyRequest): Promise<void> {
    const requester = message.publisherId
    if (requester === this.components.address || this.holderAnswers.has(request.requestId)) return
    if (this.holderAnswers.size >= MAX_HOLDER_ANSWERS) return
    const held: GroupKey[] = []
    for (const id of request.groupKeyIds) {
      const key = await this.components.keyStore.get(request.recipient, id)
      if (key !== undefined) held.push(key)
    }
    if (held.length === 0) return
    const state = { answered: false }
    this.holderAnswers.set(request.requestId, state)
    try {
      await sleep(this.clock, Math.random() * (this.options.holderAnswerDelayMs ?? 250))
      if (state.answered || !this.allowRequest(requester)) return
      const { streamId } = splitStreamPartId(message.streamPartId)
      if (!(await this.components.maySubscribe(streamId, requester))) return
      if (state.answered) return
      const publicKey = fromBase64(request.publicKey)
      const keys = []
      for (const key of held) keys.push({ id: key.id, data: toBase64(await sealGroupKey(publicKey, key)) })
      await this.respond(message.streamPartId, { requestId: request.requestId, recipient: requester, keys })
    } catch (err) {
      // The chain didn't answer, or a public key nothing can be sealed to: say nothing; the requester asks again.
      this.logger.debug('key request not answered as a holder', { requester, ...errorMetadata(err) })
    } finally {
      this.holderAnswers.delete(request.requestId)
    }
  }

  /** Another client answered a request this holder meant to answer: one answer is enough. */
  private noteAnswered(message: StreamMessage): void {
    try {
      const response = parseGroupKeyResponse(parseJsonContent(message.content))
      const state = this.holderAnswers.get(response.requestId)
      if (state !== undefined && 'keys' in response) state.answered = true
    } catch {
      // malformed: not an answer
    }
  }

  private allowRequest(requester: string): boolean {
    return this.requests.allow(requester, this.clock.now())
  }

  private async respond(streamPartId: StreamPartId, response: GroupKeyResponse): Promise<void> {
    await this.components.send(streamPartId, MessageType.GroupKeyResponse, response)
  }
}
