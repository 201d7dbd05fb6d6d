/**
 * A token bucket refilled at `perMinute` units a minute, holding at most a
 * minute's worth: what bounds repair's work (messages fetched, buckets
 * compared) however many holes and differences it finds. Starts full.
 *
 * @example
 * ```ts
 * const messages = new WorkBudget(600_000)
 * const granted = messages.take(1_000) // 0 when spent; then wait messages.msUntilAvailable()
 * ```
 */
export class WorkBudget {
  #tokens: number
  #refilledAt: number

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#tokens = perMinute
    this.#refilledAt = now()
  }

  /** Takes up to `wanted` units; returns how many were granted (0 when the budget is spent). */
  take(wanted: number): number {
    this.#refill()
    const granted = Math.max(0, Math.min(wanted, Math.floor(this.#tokens)))
    this.#tokens -= granted
    return granted
  }

  /** Gives back units taken but not used. */
  refund(units: number): void {
    if (units > 0) this.#tokens = Math.min(this.perMinute, this.#tokens + units)
  }

  /** Milliseconds until at least one unit is available again. */
  msUntilAvailable(): number {
    this.#refill()
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) * 60_000) / this.perMinute)
  }

  #refill(): void {
    const now = this.now()
    this.#tokens = Math.min(this.perMinute, this.#tokens + ((now - this.#refilledAt) * this.perMinute) / 60_000)
    this.#refilledAt = now
  }
}
