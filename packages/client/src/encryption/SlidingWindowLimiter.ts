/**
 * At most `limit` events per sender in any sliding window of `windowMs`.
 * Remembers at most `maxSenders` senders (the longest-unseen is forgotten
 * first), so a flood of fresh addresses costs bounded memory:
 * `maxSenders × limit` timestamps at worst. The key exchange limits
 * requesters with it, and storage nodes the custody of key shares.
 *
 * @example
 * ```ts
 * const limiter = new SlidingWindowLimiter(60) // 60 a minute per sender
 * if (!limiter.allow(requester, Date.now())) refuse('RATE_LIMITED')
 * ```
 */
export class SlidingWindowLimiter {
  private readonly log = new Map<string, number[]>()

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly maxSenders = 10_000,
  ) {}

  /** Counts one event of `sender` at `now` if it is within the limit; false (nothing counted) if not. */
  allow(sender: string, now: number): boolean {
    const recent = (this.log.get(sender) ?? []).filter((at) => now - at < this.windowMs)
    const allowed = recent.length < this.limit
    if (allowed) recent.push(now)
    // Re-inserting keeps the map in order of last use: the first key is the one to forget.
    this.log.delete(sender)
    this.log.set(sender, recent)
    if (this.log.size > this.maxSenders) this.log.delete(this.log.keys().next().value!)
    return allowed
  }
}
