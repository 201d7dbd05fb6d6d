import type { ManualClock } from '@runnel/protocol'
import { NetworkError } from '../../errors.js'

/** Options of {@link runUntil}. */
export interface RunUntilOptions {
  /** Give up (with `TIMEOUT`) when the condition hasn't held after this much virtual time. Default 60 s. */
  readonly timeoutMs?: number
  /**
   * Check the condition at most once per this much virtual time (and whenever
   * the run would end), so an expensive check over thousands of nodes doesn't
   * run at each of millions of instants. Default 1 ms; 0 checks at every instant.
   */
  readonly pollMs?: number
  /** What is awaited, for the error message. */
  readonly description?: string
}

const settleTurn: () => Promise<void> =
  typeof globalThis.setImmediate === 'function'
    ? () => new Promise((resolve) => globalThis.setImmediate(resolve))
    : () => new Promise((resolve) => globalThis.setTimeout(resolve, 0))

/**
 * Resolves once the work that is ready now has run: promise jobs, and the I/O
 * and immediates they queued. Between two virtual instants this is what lets
 * a signature's promise resolve before the next timer fires.
 */
export function settleEventLoop(): Promise<void> {
  return settleTurn()
}

/**
 * Drives `clock` until `condition()` holds: lets ready work run, then jumps
 * to the next due timer and fires it, and so on. Virtual time only moves when
 * the process has nothing else to do, so a busy CPU can never make a timeout
 * fire early: what a run computes depends on its inputs, not on the machine.
 * Returns the virtual milliseconds it took.
 *
 * @throws {@link NetworkError} `TIMEOUT` when `timeoutMs` of virtual time pass first, or nothing is left to happen
 * @example
 * ```ts
 * const clock = new ManualClock()
 * const simulator = new Simulator({ seed: 1, clock })
 * // … nodes created with { clock } and started …
 * await runUntil(clock, () => nodes.every((node) => node.getNeighbors(streamPartId).length >= 3), { timeoutMs: 60_000 })
 * ```
 */
export async function runUntil(
  clock: ManualClock,
  condition: () => boolean,
  options: RunUntilOptions = {},
): Promise<number> {
  const started = clock.now()
  const timeoutMs = options.timeoutMs ?? 60_000
  const pollMs = options.pollMs ?? 1
  const deadline = started + timeoutMs
  let checkedAt = -Infinity
  for (;;) {
    await settleTurn()
    const next = clock.nextDueAt()
    const last = next === undefined || next > deadline
    if (last || clock.now() - checkedAt >= pollMs) {
      if (condition()) return clock.now() - started
      checkedAt = clock.now()
    }
    if (next === undefined) {
      throw new NetworkError(
        'TIMEOUT',
        `${options.description ?? 'condition'}: not met, and nothing is left to happen after ${clock.now() - started} ms of virtual time`,
      )
    }
    if (next > deadline) {
      clock.advanceTo(deadline)
      throw new NetworkError(
        'TIMEOUT',
        `${options.description ?? 'condition'}: not met after ${timeoutMs} ms of virtual time`,
      )
    }
    clock.runNext()
  }
}

/**
 * Drives `clock` forward by `ms`, firing every timer due on the way with
 * ready work settled between instants (as {@link runUntil}).
 *
 * @example
 * ```ts
 * await runFor(clock, 30_000) // half a minute of pings and idle checks, in a moment
 * ```
 */
export async function runFor(clock: ManualClock, ms: number): Promise<void> {
  const target = clock.now() + ms
  for (;;) {
    await settleTurn()
    const next = clock.nextDueAt()
    if (next === undefined || next > target) break
    clock.runNext()
  }
  clock.advanceTo(target)
  await settleTurn()
}
