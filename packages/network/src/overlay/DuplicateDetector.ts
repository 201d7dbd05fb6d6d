/** A message ref's two numbers (`MessageRef` has them). */
export interface MessageRefLike {
  readonly timestamp: number
  readonly sequenceNumber: number
}

/**
 * Remembers which messages of each publisher chain were seen, in bounded
 * memory. Per chain it keeps up to `windowSize` segments of linked refs
 * exactly (one for a chain that arrives in order); anything at or below the
 * last ref of a forgotten segment counts as seen (a message that late is
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

  /**
   * Marks a ref as seen. Give the message's previous ref only once its
   * signature is verified: it makes the refs between the two count as seen
   * (there are none in an honest chain), so a forged one could hide messages.
   */
  markSeen(chainKey: string, timestamp: number, sequenceNumber: number, previous?: MessageRefLike): void {
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
    chain.add(timestamp, sequenceNumber, previous?.timestamp ?? -1, previous?.sequenceNumber ?? -1, this.windowSize)
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

/** Numbers per segment row: first ref, last ref, the first's previous ref (timestamp -1: none), as (timestamp, sequence). */
const ROW = 6
const FIRST_TS = 0
const FIRST_SEQ = 1
const LAST_TS = 2
const LAST_SEQ = 3
const PREV_TS = 4
const PREV_SEQ = 5

/**
 * The seen refs of one chain as segments: runs of refs each linked to the one
 * before it (a message's `prevMsgRef`), kept sorted as rows of one
 * Float64Array. Every ref from a segment's first to its last was seen: a
 * segment only grows by a ref whose previous ref is its last, or by the ref
 * its first names as previous, so no ref of the chain lies between two of its
 * refs unseen. A chain that arrives in order is one segment (48 bytes) however
 * long it runs; a set of its last 10,000 refs was ~430 KiB per chain per node.
 * Refs with no previous one given are segments of their own. Past `maxSegments`
 * the lowest goes, and everything up to its last counts as seen (the floor).
 */
class ChainWindow {
  touches = 1
  /** Segment i is at (head + i) * ROW: the lowest goes often (past the bound, every new one), in O(1). */
  private rows = new Float64Array(2 * ROW)
  private head = 0
  private count = 0
  private floorTimestamp = -1
  private floorSequence = -1

  has(timestamp: number, sequenceNumber: number): boolean {
    if (!above(timestamp, sequenceNumber, this.floorTimestamp, this.floorSequence)) return true
    const index = this.after(timestamp, sequenceNumber) - 1
    if (index < 0) return false
    const at = (this.head + index) * ROW
    return !above(timestamp, sequenceNumber, this.rows[at + LAST_TS]!, this.rows[at + LAST_SEQ]!)
  }

  /** Marks a ref seen; `previousTimestamp` -1 when the message names no previous ref (or it isn't trusted). */
  add(
    timestamp: number,
    sequenceNumber: number,
    previousTimestamp: number,
    previousSequence: number,
    maxSegments: number,
  ): void {
    if (this.has(timestamp, sequenceNumber)) return
    const index = this.after(timestamp, sequenceNumber)
    const rows = this.rows
    // The segment before ends at this ref's previous one; the one after starts with the ref that names this one.
    const before = (this.head + index - 1) * ROW
    const next = (this.head + index) * ROW
    const extendsBefore =
      previousTimestamp >= 0 &&
      index > 0 &&
      rows[before + LAST_TS] === previousTimestamp &&
      rows[before + LAST_SEQ] === previousSequence
    const extendsAfter =
      index < this.count && rows[next + PREV_TS] === timestamp && rows[next + PREV_SEQ] === sequenceNumber
    if (extendsBefore && extendsAfter) {
      rows[before + LAST_TS] = rows[next + LAST_TS]!
      rows[before + LAST_SEQ] = rows[next + LAST_SEQ]!
      this.remove(index)
    } else if (extendsBefore) {
      rows[before + LAST_TS] = timestamp
      rows[before + LAST_SEQ] = sequenceNumber
    } else if (extendsAfter) {
      rows[next + FIRST_TS] = timestamp
      rows[next + FIRST_SEQ] = sequenceNumber
      rows[next + PREV_TS] = previousTimestamp
      rows[next + PREV_SEQ] = previousSequence
    } else {
      this.insert(index, timestamp, sequenceNumber, previousTimestamp, previousSequence, maxSegments)
      if (this.count > maxSegments) {
        const lowest = this.head * ROW
        this.floorTimestamp = this.rows[lowest + LAST_TS]!
        this.floorSequence = this.rows[lowest + LAST_SEQ]!
        this.head++
        this.count--
      }
    }
  }

  /** How many segments start at or before the ref (binary search over their firsts). */
  private after(timestamp: number, sequenceNumber: number): number {
    let low = 0
    let high = this.count
    while (low < high) {
      const middle = (low + high) >>> 1
      const at = (this.head + middle) * ROW
      if (above(this.rows[at + FIRST_TS]!, this.rows[at + FIRST_SEQ]!, timestamp, sequenceNumber)) high = middle
      else low = middle + 1
    }
    return low
  }

  private insert(
    index: number,
    timestamp: number,
    sequence: number,
    previousTimestamp: number,
    previousSequence: number,
    maxSegments: number,
  ): void {
    const capacity = this.rows.length / ROW
    if (this.head + this.count + 1 > capacity) {
      // Moved down to the start when that leaves a fifth free (so moves cost O(1) per segment added), else doubled,
      // up to a quarter above the bound: at the bound a fifth is always free.
      const largest = Math.ceil(1.25 * (maxSegments + 1)) + 1
      const roomy = capacity - this.count - 1 >= capacity / 5
      const live = [this.head * ROW, (this.head + this.count) * ROW] as const
      if (roomy || capacity >= largest) {
        this.rows.copyWithin(0, ...live)
      } else {
        const grown = new Float64Array(Math.min(2 * capacity, largest) * ROW)
        grown.set(this.rows.subarray(...live))
        this.rows = grown
      }
      this.head = 0
    }
    const at = (this.head + index) * ROW
    this.rows.copyWithin(at + ROW, at, (this.head + this.count) * ROW)
    this.rows[at + FIRST_TS] = timestamp
    this.rows[at + FIRST_SEQ] = sequence
    this.rows[at + LAST_TS] = timestamp
    this.rows[at + LAST_SEQ] = sequence
    this.rows[at + PREV_TS] = previousTimestamp
    this.rows[at + PREV_SEQ] = previousSequence
    this.count++
  }

  private remove(index: number): void {
    const at = (this.head + index) * ROW
    this.rows.copyWithin(at, at + ROW, (this.head + this.count) * ROW)
    this.count--
  }
}

/** Whether ref a comes after ref b in a chain. */
function above(timestampA: number, sequenceA: number, timestampB: number, sequenceB: number): boolean {
  return timestampA > timestampB || (timestampA === timestampB && sequenceA > sequenceB)
}
