import type { Clock, Timer, TimerOptions } from './Clock.js'

interface Scheduled {
  /**
   * The timer this entry fires; cleared when the timer is cancelled, refreshed or fired, which makes the entry stale.
   * A stale entry stays in the heap until it surfaces or a compaction, and holding nothing, it keeps nothing alive:
   * a simulation of thousands of nodes that cancel request timeouts as answers arrive would otherwise hold every
   * answer (through the timeout's callback) for the whole timeout.
   */
  timer: ManualTimer | undefined
  readonly dueAt: number
  /** Insertion order: timers due at the same instant fire in the order they were set. */
  readonly sequence: number
}

class ManualTimer implements Timer {
  /** The heap entry that will fire this timer; undefined while it isn't scheduled. */
  entry: Scheduled | undefined

  constructor(
    private readonly clock: ManualClock,
    readonly callback: () => void,
    readonly delayMs: number,
    readonly repeat: boolean,
  ) {}

  cancel(): void {
    if (this.entry === undefined) return
    this.clock.unschedule(this)
  }

  refresh(): void {
    if (this.entry !== undefined) this.clock.unschedule(this)
    this.clock.queue(this, this.clock.now() + this.delayMs)
  }
}

/**
 * A clock that moves only when told to: for tests, and for simulations that
 * must run on virtual time. Timers fire in due order (ties in the order they
 * were set), each with `now()` at its due time.
 *
 * @example
 * ```ts
 * const clock = new ManualClock()
 * let fired = false
 * clock.setTimeout(() => (fired = true), 5_000)
 * clock.advance(4_999) // fired === false
 * clock.advance(1) // fired === true, clock.now() === 5_000
 * ```
 */
export class ManualClock implements Clock {
  private current: number
  private sequence = 0
  private live = 0
  /** A binary min-heap by (dueAt, sequence); stale entries (see {@link Scheduled.timer}) stay until they surface. */
  private readonly heap: Scheduled[] = []

  constructor(startMs = 0) {
    this.current = startMs
  }

  now(): number {
    return this.current
  }

  setTimeout(callback: () => void, delayMs: number, _options?: TimerOptions): Timer {
    return this.add(callback, delayMs, false)
  }

  setInterval(callback: () => void, intervalMs: number, _options?: TimerOptions): Timer {
    return this.add(callback, Math.max(1, intervalMs), true)
  }

  /** Timers set and neither fired (for one-shots) nor cancelled. */
  get pendingTimers(): number {
    return this.live
  }

  /** When the next timer is due, or undefined when none is pending. */
  nextDueAt(): number | undefined {
    this.dropStale()
    return this.heap[0]?.dueAt
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way
   * (including ones those timers set). Returns how many fired.
   */
  advance(ms: number): number {
    return this.advanceTo(this.current + ms)
  }

  /** Moves time forward to `timeMs` (never back), firing what falls due. Returns how many fired. */
  advanceTo(timeMs: number): number {
    let fired = 0
    for (;;) {
      const next = this.nextDueAt()
      if (next === undefined || next > timeMs) break
      fired += this.fireDue()
    }
    if (timeMs > this.current) this.current = timeMs
    return fired
  }

  /**
   * Jumps to the next due instant and fires every timer due then. Returns how
   * many fired: 0 when no timer is pending.
   */
  runNext(): number {
    return this.nextDueAt() === undefined ? 0 : this.fireDue()
  }

  /**
   * As {@link advance}, but awaits `settle` before each due instant, so that
   * promise chains and I/O callbacks started by one timer run before the next
   * one fires. The default settles one macrotask.
   */
  async advanceAsync(ms: number, settle: () => Promise<void> = macrotask): Promise<number> {
    const target = this.current + ms
    let fired = 0
    for (;;) {
      await settle()
      const next = this.nextDueAt()
      if (next === undefined || next > target) break
      fired += this.fireDue()
    }
    if (target > this.current) this.current = target
    return fired
  }

  /** @internal */
  queue(timer: ManualTimer, dueAt: number): void {
    // Past twice the live count, the stale entries go: amortised O(log n) per entry.
    if (this.heap.length >= 2 * this.live + 1_024) this.compact()
    const entry: Scheduled = { timer, dueAt, sequence: this.sequence++ }
    timer.entry = entry
    this.live++
    this.push(entry)
  }

  /** @internal Makes the timer's entry stale. */
  unschedule(timer: ManualTimer): void {
    timer.entry!.timer = undefined
    timer.entry = undefined
    this.live--
  }

  private add(callback: () => void, delayMs: number, repeat: boolean): Timer {
    const timer = new ManualTimer(this, callback, Math.max(0, delayMs), repeat)
    this.queue(timer, this.current + timer.delayMs)
    return timer
  }

  /** Fires all timers due at the earliest due instant (the heap's top is known to be live). */
  private fireDue(): number {
    const dueAt = this.heap[0]!.dueAt
    if (dueAt > this.current) this.current = dueAt
    let fired = 0
    for (;;) {
      this.dropStale()
      const top = this.heap[0]
      if (top === undefined || top.dueAt !== dueAt) return fired
      this.pop()
      const timer = top.timer!
      this.unschedule(timer)
      if (timer.repeat) this.queue(timer, dueAt + timer.delayMs)
      fired++
      timer.callback()
    }
  }

  private compact(): void {
    const live = this.heap.filter((entry) => entry.timer !== undefined)
    // A sorted array is a valid min-heap.
    live.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0))
    this.heap.length = 0
    for (const entry of live) this.heap.push(entry)
  }

  private dropStale(): void {
    while (this.heap.length > 0) {
      if (this.heap[0]!.timer !== undefined) return
      this.pop()
    }
  }

  private push(entry: Scheduled): void {
    const heap = this.heap
    heap.push(entry)
    let index = heap.length - 1
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!before(entry, heap[parent]!)) break
      heap[index] = heap[parent]!
      index = parent
    }
    heap[index] = entry
  }

  private pop(): void {
    const heap = this.heap
    const last = heap.pop()!
    if (heap.length === 0) return
    let index = 0
    for (;;) {
      const left = 2 * index + 1
      if (left >= heap.length) break
      const right = left + 1
      const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left
      if (!before(heap[child]!, last)) break
      heap[index] = heap[child]!
      index = child
    }
    heap[index] = last
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.sequence < b.sequence)
}

function macrotask(): Promise<void> {
  return new Promise((resolve) => globalThis.setTimeout(resolve, 0))
}
