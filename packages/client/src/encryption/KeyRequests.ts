import type { NetworkNode } from '@runnel/network'
import { MessageType, parseJsonContent, systemClock, type Clock, type StreamPartId } from '@runnel/protocol'
import { generateExchangeKeyPair, type ExchangeKeyPair } from './keyExchange.js'
import type { KeyRequestChannel, KeyRequestContent } from './keySources.js'
import { parseGroupKeyResponse, toBase64, type GroupKeyResponse } from './messages.js'

/** What the key requests need from the client. */
export interface KeyRequestsComponents {
  /** The client's address, lowercase: responses addressed to it are taken. */
  readonly address: string
  readonly node: Pick<NetworkNode, 'addMessageListener'>
  /** Signs and broadcasts a key exchange message into the stream part. */
  send(streamPartId: StreamPartId, type: MessageType, content: unknown): Promise<void>
  readonly clock?: Clock
}

interface PendingRequest {
  /** Offers a response (and its signer) to the request; it decides whether to take it. */
  readonly offer: (response: GroupKeyResponse, signer: string) => void
}

/**
 * The asking side of key exchange: sends requests, each with a one-off key pair and id, and hands each response
 * addressed to this client to the request it answers. The key sources ask through it.
 */
export class KeyRequests implements KeyRequestChannel {
  private readonly listening = new Set<StreamPartId>()
  private readonly pending = new Map<string, PendingRequest>()
  private readonly clock: Clock

  constructor(private readonly components: KeyRequestsComponents) {
    this.clock = components.clock ?? systemClock
  }

  /** One request on the wire, its own key pair and id, waiting for a response its `take` accepts. */
  async ask<T>(
    streamPartId: StreamPartId,
    content: KeyRequestContent,
    timeoutMs: number,
    take: (response: GroupKeyResponse, signer: string, pair: ExchangeKeyPair) => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const pair = await generateExchangeKeyPair()
    const requestId = randomHex(16)
    const answered = new Promise<T | undefined>((resolve) => {
      let settled = false
      const settle = (value: T | undefined): void => {
        if (settled) return
        settled = true
        timer.cancel()
        this.pending.delete(requestId)
        resolve(value)
      }
      const timer = this.clock.setTimeout(() => settle(undefined), timeoutMs)
      this.pending.set(requestId, {
        offer: (response, signer) => {
          take(response, signer, pair).then(
            (value) => {
              if (value !== undefined) settle(value)
            },
            () => undefined, // a response that can't be taken is ignored; the timeout still decides
          )
        },
      })
    })
    await this.components.send(streamPartId, MessageType.GroupKeyRequest, {
      requestId,
      ...content,
      publicKey: toBase64(pair.publicKey),
    })
    return answered
  }

  /** Takes key responses addressed to this client and offers each to the request it answers. */
  listen(streamPartId: StreamPartId): void {
    if (this.listening.has(streamPartId)) return
    this.listening.add(streamPartId)
    this.components.node.addMessageListener(streamPartId, (message) => {
      if (message.messageType !== MessageType.GroupKeyResponse) return
      let response: GroupKeyResponse
      try {
        response = parseGroupKeyResponse(parseJsonContent(message.content))
      } catch {
        return
      }
      if (response.recipient !== this.components.address) return
      // Whose answer counts (the publisher's, or any holder's key that opens the message) is the request's to decide.
      this.pending.get(response.requestId)?.offer(response, message.publisherId)
    })
  }
}

export function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (byte) => byte.toString(16).padStart(2, '0')).join(
    '',
  )
}
