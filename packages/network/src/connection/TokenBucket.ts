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
    const now = this.now()
    if (now > this.updatedAt) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) * this.ratePerSecond) / 1000)
      this.updatedAt = now
    }
    if (this.tokens < amount) {
      return false
    }
    this.tokens -= amount
    return true
  }
}
