import { NodeError } from '../../errors.js'

/**
 * The requests already accepted (keyed by what their signature vouches for), each kept until its timestamp leaves
 * the window (after which the request is refused as stale anyway): a request sent twice is refused the second time.
 */
export class UsedSignatures {
  /** Signature → when it may be forgotten (ms). Insertion order is close to expiry order. */
  private readonly expiries = new Map<string, number>()

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
  ) {}

  /**
   * Remembers a signature.
   *
   * @throws {@link NodeError} `UNAUTHORIZED` if it was used already; `RATE_LIMITED` if too many are remembered
   */
  use(signature: string, timestamp: number, now: number): void {
    this.forgetExpired(now)
    if (this.expiries.has(signature)) {
      throw new NodeError('UNAUTHORIZED', 'this request was sent before (replay): sign a new one')
    }
    if (this.expiries.size >= this.maxEntries) {
      throw new NodeError('RATE_LIMITED', 'too many requests in the signature window: try again later')
    }
    this.expiries.set(signature, timestamp + this.windowMs)
  }

  get size(): number {
    return this.expiries.size
  }

  /** From the oldest: entries go in about in expiry order, so it stops at the first one still in the window. */
  private forgetExpired(now: number): void {
    for (const [signature, expiry] of this.expiries) {
      if (expiry >= now) return
      this.expiries.delete(signature)
    }
  }
}
