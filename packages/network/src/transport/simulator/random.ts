/**
 * Deterministic randomness for simulations. Not for anything security-related:
 * the output is predictable from the seed by design.
 */

/**
 * A seeded pseudo-random stream (mulberry32: 32-bit state, fast, good enough
 * for picking lost frames and network layouts).
 *
 * @example
 * ```ts
 * const random = new SeededRandom(42)
 * const lossStream = random.fork('loss')
 * if (lossStream.nextFloat() < 0.1) dropFrame()
 * const neighbor = random.nextInt(nodeCount)
 * ```
 */
export class SeededRandom {
  private readonly seed: number
  private state: number

  /** @param seed any number; only its low 32 bits (after truncation) matter */
  constructor(seed: number) {
    this.seed = Math.trunc(seed) >>> 0
    this.state = this.seed
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0
    let value = this.state
    value = Math.imul(value ^ (value >>> 15), value | 1)
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61)
    return (value ^ (value >>> 14)) >>> 0
  }

  /** A float in `[0, 1)`. */
  nextFloat(): number {
    return this.nextUint32() / 0x1_0000_0000
  }

  /** An integer in `[0, maxExclusive)`; `maxExclusive` must be a positive integer up to 2^32. */
  nextInt(maxExclusive: number): number {
    if (!Number.isInteger(maxExclusive) || maxExclusive <= 0 || maxExclusive > 0x1_0000_0000) {
      throw new RangeError(`maxExclusive must be an integer in [1, 2^32], got ${maxExclusive}`)
    }
    return Math.floor(this.nextFloat() * maxExclusive)
  }

  /**
   * An independent stream derived from this stream's seed and `label`. It does
   * not depend on how many numbers were drawn here, so adding a draw in one
   * place never shifts the streams forked for other purposes; forking the same
   * label twice gives two identical streams.
   */
  fork(label: string): SeededRandom {
    return new SeededRandom(hashString(label, this.seed))
  }
}

/**
 * A well-mixed unsigned 32-bit hash of a string (FNV-1a over UTF-16 code units,
 * finished with murmur3's avalanche so nearby inputs land far apart).
 *
 * @example
 * ```ts
 * const bucket = hashString('sim://17', seed) % bucketCount
 * ```
 */
export function hashString(text: string, seed = 0): number {
  let hash = (0x811c9dc5 ^ (Math.trunc(seed) >>> 0)) >>> 0
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index)
    hash = Math.imul(hash, 0x01000193)
  }
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b)
  hash ^= hash >>> 13
  hash = Math.imul(hash, 0xc2b2ae35)
  hash ^= hash >>> 16
  return hash >>> 0
}
