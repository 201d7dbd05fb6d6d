import { MessageRef } from '@runnel/protocol'

/**
 * The publisher side of message chains: for each (chain id, stream part) the
 * ref of the last message, so the next one gets a strictly later ref and
 * points back to it. Kept by chain id first, so a chain that ends (an API
 * connection closing) is forgotten on every stream part at once.
 */
export class MessageChains {
  private readonly last = new Map<string, Map<string, MessageRef>>()

  /**
   * Claims the next ref of a chain for a message stamped `timestamp`. A
   * timestamp earlier than the chain's last is moved up to it, so refs only
   * grow; equal timestamps take the next sequence number.
   */
  next(
    msgChainId: string,
    streamPartId: string,
    timestamp: number,
  ): { ref: MessageRef; previous: MessageRef | undefined } {
    let parts = this.last.get(msgChainId)
    if (parts === undefined) this.last.set(msgChainId, (parts = new Map<string, MessageRef>()))
    const previous = parts.get(streamPartId)
    const ref =
      previous === undefined || timestamp > previous.timestamp
        ? new MessageRef(timestamp, 0)
        : new MessageRef(previous.timestamp, previous.sequenceNumber + 1)
    parts.set(streamPartId, ref)
    return { ref, previous }
  }

  /** Gives back a claimed ref that was never published, if nothing was claimed after it. */
  rollback(msgChainId: string, streamPartId: string, ref: MessageRef, previous: MessageRef | undefined): void {
    const parts = this.last.get(msgChainId)
    if (parts?.get(streamPartId) !== ref) return
    if (previous !== undefined) parts.set(streamPartId, previous)
    else if (parts.delete(streamPartId) && parts.size === 0) this.last.delete(msgChainId)
  }

  /** Ends a chain on every stream part: a later message with its id starts it afresh, with no previous ref. */
  forget(msgChainId: string): void {
    this.last.delete(msgChainId)
  }
}
