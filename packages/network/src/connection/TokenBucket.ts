/**
 * Allows `ratePerSecond` on average with bursts up to `burst`. Time is an
 * input, so tests and simulations control it.
 */
export class TokenBucket {
  private tokens: number
  private updatedAt: number

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst
    this.updatedAt = now()
  }

  /** Takes `amount` tokens if available; false when the rate is exceeded. */
  take(amount: number): boolean {
    this.refill()
    if (this.tokens < amount) {
      return false
    }
    this.tokens -= amount
    return true
  }

  /** True when `amount` tokens are available now; takes none (a cheap check before costly work). */
  has(amount: number): boolean {
    this.refill()
    return this.tokens >= amount
  }

  /** Milliseconds until `amount` tokens are available: 0 when they are now, Infinity when `amount` exceeds the burst. */
  msUntil(amount: number): number {
    this.refill()
    if (this.tokens >= amount) return 0
    if (amount > this.burst) return Infinity
    return Math.ceil(((amount - this.tokens) * 1000) / this.ratePerSecond)
  }

  private refill(): void {
    const now = this.now()
    if (now > this.updatedAt) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) * this.ratePerSecond) / 1000)
      this.updatedAt = now
    }
  }
}
