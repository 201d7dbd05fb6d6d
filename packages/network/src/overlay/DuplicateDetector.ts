/**
 * Remembers which messages of each publisher chain were seen, in bounded
 * memory. Per chain it keeps the last `windowSize` refs exactly; anything at
 * or below the newest forgotten ref counts as seen (a message that late is
 * taken for a duplicate; storage fills real gaps). The number of chains is
 * bounded too: when full, the chain least recently refreshed is forgotten
 * (recency is refreshed every 64th message of a chain, so this is close to,
 * not exactly, least recently active).
 *
 * Checking and marking are separate so a node can verify a message's
 * signature between the two: a forged copy must not mark the genuine
 * message's ref as seen.
 */
export class DuplicateDetector {
  private readonly chains = new Map<string, ChainWindow>()

  constructor(
    private readonly windowSize = 10_000,
    private readonly maxChains = 10_000,
  ) {}

  /**
   * True if this ref of the chain was seen already.
   *
   * @param chainKey publisher and message chain, e.g. `${publisherId}/${messageChainId}`
   */
  isDuplicate(chainKey: string, timestamp: number, sequenceNumber: number): boolean {
    return this.chains.get(chainKey)?.has(timestamp, sequenceNumber) ?? false
  }

  /** Marks a ref as seen. */
  markSeen(chainKey: string, timestamp: number, sequenceNumber: number): void {
    let chain = this.chains.get(chainKey)
    if (chain === undefined) {
      if (this.chains.size >= this.maxChains) {
        // Map iteration is insertion order, and active chains are re-inserted below.
        this.chains.delete(this.chains.keys().next().value!)
      }
      chain = new ChainWindow()
      this.chains.set(chainKey, chain)
    } else if (chain.touches++ % 64 === 0) {
      // Refresh the chain's recency now and then; every time would cost a delete+set per message.
      this.chains.delete(chainKey)
      this.chains.set(chainKey, chain)
    }
    chain.add(timestamp, sequenceNumber, this.windowSize)
  }

  get chainCount(): number {
    return this.chains.size
  }
}

class ChainWindow {
  touches = 1
  private readonly seen = new Set<string>()
  private floorTimestamp = -1
  private floorSequence = -1

  has(timestamp: number, sequenceNumber: number): boolean {
    if (
      timestamp < this.floorTimestamp ||
      (timestamp === this.floorTimestamp && sequenceNumber <= this.floorSequence)
    ) {
      return true
    }
    return this.seen.has(`${timestamp}/${sequenceNumber}`)
  }

  add(timestamp: number, sequenceNumber: number, windowSize: number): void {
    this.seen.add(`${timestamp}/${sequenceNumber}`)
    if (this.seen.size > windowSize) this.evictOldest()
  }

  private evictOldest(): void {
    // Refs mostly arrive in order, so the first inserted is (nearly always) the oldest.
    const oldest = this.seen.values().next().value!
    this.seen.delete(oldest)
    const slash = oldest.indexOf('/')
    const timestamp = Number(oldest.slice(0, slash))
    const sequence = Number(oldest.slice(slash + 1))
    if (timestamp > this.floorTimestamp || (timestamp === this.floorTimestamp && sequence > this.floorSequence)) {
      this.floorTimestamp = timestamp
      this.floorSequence = sequence
    }
  }
}
