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
  /**
   * ERC-1271 copies seen, exactly (no floor: forged copies a relay can't tell apart must not push a floor over the
   * genuine ref), oldest forgotten first. A forgotten copy that comes round again is relayed again: extra traffic,
   * never a lost message.
   */
  private readonly copies = new Set<string>()

  constructor(
    private readonly windowSize = 10_000,
    private readonly maxChains = 10_000,
    private readonly maxCopies = 4_096,
  ) {
    if (!Number.isSafeInteger(windowSize) || windowSize < 1) {
      throw new RangeError(`windowSize must be a positive integer, got ${windowSize}`)
    }
  }

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

  /**
   * True if this exact copy of a message (ERC-1271: its ref and a hash of its signature, see `erc1271CopyKey`) was
   * seen already.
   */
  isDuplicateCopy(copyKey: string): boolean {
    return this.copies.has(copyKey)
  }

  /** Marks an exact copy as seen; past `maxCopies` (default 4,096, ~1 MB) the oldest is forgotten. */
  markCopySeen(copyKey: string): void {
    if (this.copies.has(copyKey)) return
    if (this.copies.size >= this.maxCopies) this.copies.delete(this.copies.keys().next().value!)
    this.copies.add(copyKey)
  }

  get chainCount(): number {
    return this.chains.size
  }
}

/** Sequence numbers below this share a number key with their timestamp; timestamps stay exact until the year 2248. */
const SEQUENCE_SLOTS = 1024

/**
 * A ref as a Set key. Almost every ref is a number, which hashes and
 * compares without allocating; the rare sequence number ≥ 1024 (over a
 * thousand messages in one millisecond) takes a string.
 */
function refKey(timestamp: number, sequenceNumber: number): number | string {
  return sequenceNumber < SEQUENCE_SLOTS
    ? timestamp * SEQUENCE_SLOTS + sequenceNumber
    : `${timestamp}/${sequenceNumber}`
}

class ChainWindow {
  touches = 1
  private readonly seen = new Set<number | string>()
  /**
   * The same keys in the order they were added, as a ring once full: the
   * oldest is found in O(1). (Taking it from the Set's iterator costs a scan
   * over every entry deleted before it, ~5 µs per message at 10,000.)
   */
  private readonly order: (number | string)[] = []
  private next = 0
  private floorTimestamp = -1
  private floorSequence = -1

  has(timestamp: number, sequenceNumber: number): boolean {
    if (
      timestamp < this.floorTimestamp ||
      (timestamp === this.floorTimestamp && sequenceNumber <= this.floorSequence)
    ) {
      return true
    }
    return this.seen.has(refKey(timestamp, sequenceNumber))
  }

  add(timestamp: number, sequenceNumber: number, windowSize: number): void {
    const key = refKey(timestamp, sequenceNumber)
    if (this.seen.has(key)) return
    this.seen.add(key)
    if (this.order.length < windowSize) {
      this.order.push(key)
      return
    }
    // Refs mostly arrive in order, so the first added is (nearly always) the oldest.
    const oldest = this.order[this.next]!
    this.order[this.next] = key
    this.next = (this.next + 1) % windowSize
    this.seen.delete(oldest)
    this.raiseFloor(oldest)
  }

  private raiseFloor(forgotten: number | string): void {
    let timestamp: number
    let sequence: number
    if (typeof forgotten === 'number') {
      timestamp = Math.floor(forgotten / SEQUENCE_SLOTS)
      sequence = forgotten - timestamp * SEQUENCE_SLOTS
    } else {
      const slash = forgotten.indexOf('/')
      timestamp = Number(forgotten.slice(0, slash))
      sequence = Number(forgotten.slice(slash + 1))
    }
    if (timestamp > this.floorTimestamp || (timestamp === this.floorTimestamp && sequence > this.floorSequence)) {
      this.floorTimestamp = timestamp
      this.floorSequence = sequence
    }
  }
}
