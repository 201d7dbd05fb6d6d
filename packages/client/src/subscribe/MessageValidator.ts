import {
  systemClock,
  verifyStreamMessage,
  type Clock,
  type SignatureVerifier,
  type StreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import type { Address } from 'viem'
import type { Emit } from '../events/ClientEventHub.js'

export interface MessageValidatorComponents {
  /** Publish permission at a time (cached; the chain's events keep it fresh). */
  readonly mayPublish: (streamId: string, publisherId: Address, at: number) => Promise<boolean>
  readonly verifier: SignatureVerifier
  readonly clock?: Clock
  /** Where a dropped message (`invalidMessage`) or a permission lookup that failed (`error`) is reported. */
  readonly emit: Emit
}

/**
 * Whether a message may reach the app (or a storage node's store): live messages after the network checked their
 * signature, stored ones (history, re-offers) with the signature checked here. A message that fails is dropped and
 * reported as an `invalidMessage` event, with the reason.
 */
export class MessageValidator {
  private readonly clock: Clock

  constructor(
    private readonly components: MessageValidatorComponents,
    private readonly maxClockSkewMs: number,
  ) {
    this.clock = components.clock ?? systemClock
  }

  /**
   * Stamped no further ahead of this client's clock than `maxClockSkewMs`, and by a publisher with publish permission
   * at the message's time (the network checked the signature).
   */
  validate = async (message: StreamMessage, streamPartId: StreamPartId = message.streamPartId): Promise<boolean> => {
    const { emit } = this.components
    if (message.timestamp > this.clock.now() + this.maxClockSkewMs) {
      emit('invalidMessage', {
        streamPartId,
        publisherId: message.publisherId,
        reason: 'timestamp-in-future',
        streamMessage: message,
      })
      return false
    }
    let allowed: boolean
    try {
      allowed = await this.components.mayPublish(message.streamId, message.publisherId as Address, message.timestamp)
    } catch (err) {
      emit('error', err instanceof Error ? err : new Error(String(err)))
      return false
    }
    if (!allowed) {
      emit('invalidMessage', {
        streamPartId,
        publisherId: message.publisherId,
        reason: 'no-publish-permission',
        streamMessage: message,
      })
      return false
    }
    return true
  }

  /** History messages get the live checks, plus the signature check the network does for live ones. */
  validateStored = async (message: StreamMessage): Promise<boolean> => {
    if (!verifyStreamMessage(message, this.components.verifier)) {
      this.components.emit('invalidMessage', {
        streamPartId: message.streamPartId,
        publisherId: message.publisherId,
        reason: 'invalid-signature',
        streamMessage: message,
      })
      return false
    }
    return this.validate(message, message.streamPartId)
  }
}
