import {
  SignatureType,
  erc1271Digest,
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
  /**
   * Whether an ERC-1271 wallet accepts a signature over a 32-byte hash (`Erc1271Verifier.isValidSignature`, cached);
   * rejects when the chain can't be asked. Without it, ERC-1271 publishers' messages are dropped.
   */
  readonly isValidErc1271Signature?: (wallet: Address, hash: Uint8Array, signature: Uint8Array) => Promise<boolean>
  readonly clock?: Clock
  /** Where a dropped message (`invalidMessage`) or a permission lookup that failed (`error`) is reported. */
  readonly emit: Emit
}

/**
 * Whether a message may reach the app (or a storage node's store): live messages after the network checked their
 * signature, stored ones (history, re-offers) with the signature checked here. An ERC-1271 publisher's message
 * (signature type 2), which relays forward unverified, is checked here either way by asking its wallet. A message
 * that fails is dropped and reported as an `invalidMessage` event, with the reason.
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
   * Stamped no further ahead of this client's clock than `maxClockSkewMs`, by a publisher with publish permission at
   * the message's time, and signed by it (the network checked key signatures; ERC-1271 wallets are asked here).
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
    if (message.signatureType === SignatureType.Erc1271 && !(await this.verifyErc1271(message, streamPartId))) {
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
    // An ERC-1271 publisher's signature is checked against the chain by validate().
    if (message.signatureType !== SignatureType.Erc1271 && !verifyStreamMessage(message, this.components.verifier)) {
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

  private async verifyErc1271(message: StreamMessage, streamPartId: StreamPartId): Promise<boolean> {
    const { emit, isValidErc1271Signature } = this.components
    let valid = false
    if (isValidErc1271Signature !== undefined) {
      try {
        valid = await isValidErc1271Signature(message.publisherId as Address, erc1271Digest(message), message.signature)
      } catch (err) {
        // The chain couldn't be asked: no verdict on the message, so an error rather than an invalid message.
        emit('error', err instanceof Error ? err : new Error(String(err)))
        return false
      }
    }
    if (!valid) {
      emit('invalidMessage', {
        streamPartId,
        publisherId: message.publisherId,
        reason: 'invalid-signature',
        streamMessage: message,
      })
    }
    return valid
  }
}
