import type { Clock, Timer, TimerOptions } from './Clock.js'

interface Scheduled {
  readonly timer: ManualTimer
  readonly dueAt: number
  /** Insertion order: timers due at the same instant fire in the order they were set. */
  readonly sequence: number
  /** The timer's generation when this entry was queued; a cancel or refresh makes the entry stale. */
  readonly generation: number
}

class ManualTimer implements Timer {
  generation = 0
  active = true

  constructor(
    private readonly clock: ManualClock,
    readonly callback: () => void,
    readonly delayMs: number,
    readonly repeat: boolean,
  ) {}

  cancel(): void {
    if (!this.active) return
    this.active = false
    this.generation++
    this.clock.timerCancelled()
  }

  refresh(): void {
    if (!this.active) {
      this.active = true
      this.clock.timerRevived()
    }
    this.generation++
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
  /** A binary min-heap by (dueAt, sequence); cancelled entries stay until they surface. */
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
    // Cancelled and refreshed timers leave stale entries, each holding its callback (and whatever that closes
    // over) until it surfaces: a simulation of thousands of nodes that cancel request timeouts as answers arrive
    // would hold every answer for the whole timeout. Past twice the live count, the stale ones go: amortised O(log n).
    if (this.heap.length >= 2 * this.live + 1_024) this.compact()
    this.push({ timer, dueAt, sequence: this.sequence++, generation: timer.generation })
  }

  /** @internal */
  timerCancelled(): void {
    this.live--
  }

  /** @internal */
  timerRevived(): void {
    this.live++
  }

  private add(callback: () => void, delayMs: number, repeat: boolean): Timer {
    const timer = new ManualTimer(this, callback, Math.max(0, delayMs), repeat)
    this.live++
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
      const { timer } = top
      if (timer.repeat) {
        this.queue(timer, dueAt + timer.delayMs)
      } else {
        timer.active = false
        timer.generation++
        this.live--
      }
      fired++
      timer.callback()
    }
  }

  private compact(): void {
    const live = this.heap.filter((entry) => entry.timer.active && entry.generation === entry.timer.generation)
    // A sorted array is a valid min-heap.
    live.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0))
    this.heap.length = 0
    for (const entry of live) this.heap.push(entry)
  }

  private dropStale(): void {
    while (this.heap.length > 0) {
      const top = this.heap[0]!
      if (top.timer.active && top.generation === top.timer.generation) return
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
