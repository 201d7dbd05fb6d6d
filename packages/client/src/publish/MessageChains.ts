import { MessageRef } from '@runnel/protocol'

/**
 * The publisher side of message chains: for each (stream part, chain id) the
 * ref of the last message, so the next one gets a strictly later ref and
 * points back to it.
 */
export class MessageChains {
  private readonly last = new Map<string, MessageRef>()

  /**
   * Claims the next ref of a chain for a message stamped `timestamp`. A
   * timestamp earlier than the chain's last is moved up to it, so refs only
   * grow; equal timestamps take the next sequence number.
   */
  next(chainKey: string, timestamp: number): { ref: MessageRef; previous: MessageRef | undefined } {
    const previous = this.last.get(chainKey)
    const ref =
      previous === undefined || timestamp > previous.timestamp
        ? new MessageRef(timestamp, 0)
        : new MessageRef(previous.timestamp, previous.sequenceNumber + 1)
    this.last.set(chainKey, ref)
    return { ref, previous }
  }

  /** Gives back a claimed ref that was never published, if nothing was claimed after it. */
  rollback(chainKey: string, ref: MessageRef, previous: MessageRef | undefined): void {
    if (this.last.get(chainKey) !== ref) return
    if (previous === undefined) this.last.delete(chainKey)
    else this.last.set(chainKey, previous)
  }
}
