import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Clock, Timer } from '@runnel/protocol'

/** When {@link CollectAfterLoad} collects. */
export interface CollectAfterLoadOptions {
  /** Bytes sent to subscribers since the last collection that count as a load. */
  readonly minLoadBytes: number
  /** How long nothing must be sent before the load counts as over. */
  readonly idleMs: number
  /** The least time between two collections. */
  readonly minIntervalMs: number
}

export const DEFAULT_COLLECT_AFTER_LOAD: CollectAfterLoadOptions = Object.freeze({
  minLoadBytes: 32 * 1024 * 1024,
  idleMs: 2_000,
  minIntervalMs: 10_000,
})

/**
 * One full garbage collection once a load of deliveries is over, so the
 * memory the load took goes back to the operating system.
 *
 * Why: after a burst to hundreds of subscribers, the node's heap was back to
 * its size before, but its resident memory stayed half as large again: V8
 * keeps the heap pages it grew to, and the frames' buffers (outside the heap)
 * are freed only when a major collection finds them unreachable, which an
 * idle node may not run for a long time. A full collection does both; it
 * pauses the node for some tens of milliseconds, so it runs only after at
 * least `minLoadBytes` were sent and then nothing for `idleMs`, and at most
 * once per `minIntervalMs`.
 *
 * {@link noteSent} is on the delivery path: it only adds and compares. The
 * idle check runs on a timer, armed once a load has been seen.
 *
 * @example
 * ```ts
 * const afterLoad = new CollectAfterLoad(DEFAULT_COLLECT_AFTER_LOAD, { clock, collect: fullCollector() })
 * afterLoad.noteSent(frame.byteLength) // on each send
 * afterLoad.dispose() // when the node stops
 * ```
 */
export class CollectAfterLoad {
  /** Bytes sent since the last collection. */
  private sent = 0
  /** `sent` when the idle check was armed: unchanged at its end means nothing was sent meanwhile. */
  private sentAtCheck = 0
  private lastCollectedAt = Number.NEGATIVE_INFINITY
  private timer: Timer | undefined
  private disposed = false
  /** Collections so far. */
  collections = 0

  constructor(
    private readonly options: CollectAfterLoadOptions,
    private readonly components: {
      readonly clock: Pick<Clock, 'now' | 'setTimeout'>
      /** Runs the collection; undefined where none can be run (nothing is then scheduled). */
      readonly collect: (() => void) | undefined
    },
  ) {}

  /** Counts bytes sent to subscribers. */
  noteSent(bytes: number): void {
    this.sent += bytes
    if (this.timer === undefined && this.sent >= this.options.minLoadBytes) this.check(this.options.idleMs)
  }

  /** Stops the timer; nothing is collected after. */
  dispose(): void {
    this.disposed = true
    this.timer?.cancel()
    this.timer = undefined
  }

  private check(delayMs: number): void {
    if (this.disposed || this.components.collect === undefined) return
    this.sentAtCheck = this.sent
    this.timer = this.components.clock.setTimeout(() => this.onCheck(), delayMs, { unref: true })
  }

  private onCheck(): void {
    this.timer = undefined
    const { clock, collect } = this.components
    if (this.sent !== this.sentAtCheck) return this.check(this.options.idleMs)
    const wait = this.lastCollectedAt + this.options.minIntervalMs - clock.now()
    if (wait > 0) return this.check(Math.max(wait, this.options.idleMs))
    this.sent = 0
    this.lastCollectedAt = clock.now()
    this.collections++
    collect?.()
  }
}

/**
 * A full collection of the heap, which frees unreachable buffers and gives V8's emptied pages back, or undefined
 * where V8 won't expose one. Node runs without `--expose-gc`; the flag set now still gives a new context its `gc`.
 */
export function fullCollector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    if (typeof gc !== 'function') return undefined
    return () => {
      // A full collection compacts only the pages V8 finds fragmented enough and keeps the rest: after a load, live
      // objects are spread thin over the pages the heap grew to, and it stayed at its peak size. Compacting every
      // page in this one collection gives them back (in a test, heapTotal 240 -> 41 MiB; plain gc(): 67 MiB after
      // two). Node.js 20's V8 has no memory-reducing gc() option: it ignored `flavor: 'last-resort'`.
      setFlagsFromString('--compact-on-every-full-gc')
      try {
        ;(gc as () => unknown)()
      } finally {
        setFlagsFromString('--no-compact-on-every-full-gc')
      }
    }
  } catch {
    return undefined
  }
}
