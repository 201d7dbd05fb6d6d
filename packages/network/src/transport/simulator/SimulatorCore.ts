import type { Clock } from '@runnel/protocol'
import type { LatencyModel } from './latency.js'
import type { SeededRandom } from './random.js'
import type { SimulatorStats } from './stats.js'
import { TaskQueue } from './TaskQueue.js'

/** Where the simulator's time comes from: a reading, and one re-armable wake-up. */
interface TimeSource {
  now(): number
  /** Calls `callback` after `delayMs`; returns its cancel. */
  wakeUp(callback: () => void, delayMs: number): () => void
}

const MAX_TIMER_DELAY_MS = 2_147_483_647

/**
 * The wall clock. A reading is frozen for one synchronous run of code outside
 * the simulator's tasks, so a burst of sends from a loop shares one timestamp
 * and keeps its order under any latency model.
 */
function wallTime(): TimeSource {
  let turnTime: number | undefined
  const endTurn = (): void => {
    turnTime = undefined
  }
  return {
    now() {
      if (turnTime === undefined) {
        turnTime = performance.now()
        queueMicrotask(endTurn)
      }
      return turnTime
    },
    wakeUp(callback, delayMs) {
      if (delayMs > 0) {
        const handle = setTimeout(callback, Math.min(delayMs, MAX_TIMER_DELAY_MS))
        return () => clearTimeout(handle)
      }
      // setTimeout(0) waits at least 1 ms in Node, which would make every zero-latency hop cost a millisecond.
      if (typeof setImmediate === 'function') {
        const handle = setImmediate(callback)
        return () => clearImmediate(handle)
      }
      const handle = setTimeout(callback, 0)
      return () => clearTimeout(handle)
    },
  }
}

/** Virtual time: the clock only moves when its driver moves it, however busy the CPU is. */
function clockTime(clock: Clock): TimeSource {
  return {
    now: () => clock.now(),
    wakeUp(callback, delayMs) {
      const timer = clock.setTimeout(callback, Math.max(0, delayMs))
      return () => timer.cancel()
    },
  }
}

/** What the core needs of a transport: a way to stop it when the simulator stops. */
export interface HaltableTransport {
  halt(): void
}

/** What the core needs of a connection: a way to end it when the simulator stops. */
export interface TerminableConnection {
  terminate(reason: string): void
}

/**
 * The state the simulator, its transports and their connections share.
 * Generic in the transport type so that this file needn't import the
 * transport's (which imports this one).
 */
export class SimulatorCore<T extends HaltableTransport = HaltableTransport> {
  readonly stats: SimulatorStats = {
    framesSent: 0,
    framesDelivered: 0,
    framesLost: 0,
    framesDiscarded: 0,
    bytesSent: 0,
  }
  /** Started, not yet stopped transports: what `connect` can reach. */
  readonly listeners = new Map<string, T>()
  readonly transports = new Set<T>()
  /** Connections whose `onClose` hasn't been emitted yet, so `stop` can still emit it. */
  readonly openConnections = new Set<TerminableConnection>()
  readonly random: SeededRandom
  readonly lossRate: number
  stopped = false
  nextAddressNumber = 1
  nextLinkNumber = 1
  private readonly latencyModel: LatencyModel
  private readonly time: TimeSource
  private readonly queue = new TaskQueue()
  private nextSeq = 0
  /** `at` of the task being run, if any. */
  private taskTime: number | undefined
  private cancelTimer: (() => void) | undefined
  private timerAt = Infinity

  /** @param clock virtual time; undefined for the wall clock */
  readonly onDial: ((from: string, to: string) => void) | undefined

  constructor(
    random: SeededRandom,
    latencyModel: LatencyModel,
    lossRate: number,
    clock: Clock | undefined,
    onDial?: (from: string, to: string) => void,
  ) {
    this.random = random
    this.onDial = onDial
    this.latencyModel = latencyModel
    this.lossRate = lossRate
    this.time = clock === undefined ? wallTime() : clockTime(clock)
  }

  /**
   * The time a send happens at. Inside a task it's the task's due time, so
   * reactions don't depend on how late the timer fired (on the wall clock).
   */
  now(): number {
    return this.taskTime ?? this.time.now()
  }

  latency(from: string, to: string): number {
    const ms = this.latencyModel(from, to)
    return Number.isFinite(ms) && ms > 0 ? ms : 0
  }

  schedule(at: number, run: () => void): void {
    if (this.stopped) return
    this.queue.push({ at, seq: this.nextSeq++, run })
    if (at < this.timerAt) this.arm()
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.cancelTimer?.()
    this.cancelTimer = undefined
    this.timerAt = Infinity
    this.queue.clear()
    for (const transport of [...this.transports]) transport.halt()
    // Handlers may throw; every connection still gets its onClose before the first error surfaces.
    const errors: unknown[] = []
    for (const connection of [...this.openConnections]) {
      try {
        connection.terminate('simulator stopped')
      } catch (err) {
        errors.push(err)
      }
    }
    if (errors.length === 1) throw errors[0]
    if (errors.length > 1) throw new AggregateError(errors, 'onClose handlers threw while the simulator stopped')
  }

  private arm(): void {
    const next = this.queue.peek()
    if (next === undefined || this.stopped) return
    if (this.cancelTimer !== undefined) {
      if (this.timerAt <= next.at) return
      this.cancelTimer()
    }
    this.timerAt = next.at
    this.cancelTimer = this.time.wakeUp(this.runDue, Math.ceil(next.at - this.time.now()))
  }

  private readonly runDue = (): void => {
    this.cancelTimer = undefined
    this.timerAt = Infinity
    const now = this.time.now()
    // Tasks scheduled by this batch wait for the next wake-up, so zero-latency ping-pong can't starve the event loop.
    const seqLimit = this.nextSeq
    try {
      for (let task = this.queue.peek(); task !== undefined; task = this.queue.peek()) {
        if (task.at > now || task.seq >= seqLimit) break
        this.queue.pop()
        this.taskTime = task.at
        task.run()
      }
    } finally {
      this.taskTime = undefined
      this.arm()
    }
  }
}
