import type { NodeId } from '../identity.js'

interface BufferedMessage {
  readonly frame: Uint8Array
  readonly storedAt: number
  /**
   * An array, not a set: a few ids (the degree and who joined since), and a set of them was ~200 bytes. Replaced,
   * not pushed to: a push leaves room for 16 more, ~130 bytes on each of a node's ~20 buffered messages.
   */
  sentTo: readonly NodeId[]
}

/**
 * Keeps recent messages that reached fewer peers than wanted (typically
 * because the node had no neighbours yet when it published), so that
 * neighbours connecting within a short window still get them. Bounded in
 * count and age.
 */
export class PropagationBuffer {
  private readonly messages: BufferedMessage[] = []

  constructor(
    private readonly ttlMs: number,
    private readonly capacity: number,
    private readonly now: () => number,
  ) {}

  add(frame: Uint8Array, sentTo: Iterable<NodeId>): void {
    this.expire()
    if (this.capacity <= 0) return
    if (this.messages.length >= this.capacity) this.messages.shift()
    this.messages.push({ frame, storedAt: this.now(), sentTo: [...sentTo] })
  }

  /** Frames the new peer hasn't been sent yet, oldest first; marks them sent. */
  takeFor(peer: NodeId): Uint8Array[] {
    this.expire()
    const frames: Uint8Array[] = []
    for (const message of this.messages) {
      if (!message.sentTo.includes(peer)) {
        message.sentTo = [...message.sentTo, peer]
        frames.push(message.frame)
      }
    }
    return frames
  }

  get size(): number {
    return this.messages.length
  }

  /** How many buffered messages have gone to no peer yet: this node's own, published while it had no neighbour. */
  unsent(): number {
    this.expire()
    let count = 0
    for (const message of this.messages) if (message.sentTo.length === 0) count++
    return count
  }

  private expire(): void {
    const cutoff = this.now() - this.ttlMs
    while (this.messages.length > 0 && this.messages[0]!.storedAt < cutoff) this.messages.shift()
  }
}
