import type { Clock } from '@runnel/protocol'

/**
 * `AbortSignal.timeout(ms)` on `clock`: aborts with a `TimeoutError`
 * DOMException once `ms` of the clock's time has passed. On a simulation's
 * virtual clock the platform's own timeout would fire on wall time instead.
 * The timer doesn't keep a process alive.
 *
 * @example
 * ```ts
 * await transport.connect(address, timeoutSignal(clock, 5_000))
 * ```
 */
export function timeoutSignal(clock: Clock, ms: number): AbortSignal {
  const controller = new AbortController()
  clock.setTimeout(() => controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms, {
    unref: true,
  })
  return controller.signal
}
