/** Options of {@link Clock.setTimeout} and {@link Clock.setInterval}. */
export interface TimerOptions {
  /**
   * When true, a pending timer doesn't keep a Node.js process alive (as
   * `timeout.unref()`); for housekeeping timers. Ignored where there is no
   * such notion (browsers, {@link ManualClock}).
   */
  unref?: boolean
}

/** A scheduled callback. */
export interface Timer {
  /** Stops it; the callback won't run (again). Safe to call twice, or from inside the callback. */
  cancel(): void
  /** Starts the delay over from now, as Node's `timeout.refresh()`: cheap for idle timeouts. */
  refresh(): void
}

/**
 * Where time comes from: the wall clock in production ({@link systemClock}),
 * a hand-driven one in tests and simulations ({@link ManualClock}). Code that
 * reads the time or sets a timer takes a `Clock` instead of calling
 * `Date.now()` or `setTimeout`, so a test can move time forward instead of
 * waiting, and a simulation of thousands of nodes runs on virtual time that a
 * busy CPU can't stretch.
 *
 * @example
 * ```ts
 * class IdleTimeout {
 *   constructor(private readonly clock: Clock = systemClock) {}
 *   start(onIdle: () => void) {
 *     return this.clock.setTimeout(onIdle, 30_000, { unref: true })
 *   }
 * }
 * ```
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
  setTimeout(callback: () => void, delayMs: number, options?: TimerOptions): Timer
  setInterval(callback: () => void, intervalMs: number, options?: TimerOptions): Timer
}

type PlatformHandle = ReturnType<typeof globalThis.setTimeout>

function unrefHandle(handle: PlatformHandle): void {
  // Node's Timeout has unref(); a browser's handle is a number.
  ;(handle as { unref?: () => void }).unref?.()
}

class SystemTimer implements Timer {
  private handle: PlatformHandle | undefined

  constructor(
    private readonly callback: () => void,
    private readonly delayMs: number,
    private readonly repeat: boolean,
    private readonly unref: boolean,
  ) {
    this.handle = this.schedule()
  }

  private schedule(): PlatformHandle {
    const handle = this.repeat
      ? globalThis.setInterval(this.callback, this.delayMs)
      : globalThis.setTimeout(() => {
          this.handle = undefined
          this.callback()
        }, this.delayMs)
    if (this.unref) unrefHandle(handle)
    return handle
  }

  cancel(): void {
    if (this.handle === undefined) return
    if (this.repeat) globalThis.clearInterval(this.handle)
    else globalThis.clearTimeout(this.handle)
    this.handle = undefined
  }

  refresh(): void {
    this.cancel()
    this.handle = this.schedule()
  }
}

/**
 * The wall clock: `Date.now()` and the platform's timers.
 *
 * @example
 * ```ts
 * const timer = systemClock.setTimeout(() => console.log('late'), 1_000)
 * timer.cancel()
 * ```
 */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, delayMs: number, options?: TimerOptions): Timer =>
    new SystemTimer(callback, delayMs, false, options?.unref === true),
  setInterval: (callback: () => void, intervalMs: number, options?: TimerOptions): Timer =>
    new SystemTimer(callback, intervalMs, true, options?.unref === true),
})

/**
 * Resolves after `delayMs` of `clock` time; rejects with the signal's reason
 * if `signal` aborts first.
 *
 * @example
 * ```ts
 * await sleep(clock, 250, AbortSignal.timeout(10_000))
 * ```
 */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error)
      return
    }
    const onAbort = (): void => {
      timer.cancel()
      reject(signal!.reason as Error)
    }
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, delayMs)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
