import { NetworkError } from '../../errors.js'
import type { ConnectionHandlers, Transport, TransportConnection } from '../Transport.js'
import { SeededRandom, hashString } from './random.js'

/**
 * One-way delay in milliseconds for a frame travelling from address `from` to
 * address `to`. Called once per frame, so it may vary over time; negative or
 * non-finite results count as 0.
 */
export type LatencyModel = (from: string, to: string) => number

/** Settings of a {@link Simulator}. */
export interface SimulatorOptions {
  /** Seeds every random draw (which frames are lost); same seed and same calls give the same run. Default 0. */
  seed?: number
  /** Default: 0 ms, which still delivers on a later macrotask, never inside `send`. */
  latency?: LatencyModel
  /** Probability in `[0, 1]` that a frame is dropped. Default 0. */
  lossRate?: number
}

/** Counters over the whole simulated network. */
export interface SimulatorStats {
  /** Frames accepted by `send` on an open connection, including those then lost. */
  framesSent: number
  /** Frames that reached an open receiving end (handed to `onFrame` or held until `setHandlers`). */
  framesDelivered: number
  /** Frames dropped on purpose by `lossRate`. */
  framesLost: number
  /** Frames that arrived after the receiving end had closed. */
  framesDiscarded: number
  bytesSent: number
}

/** A transport on a {@link Simulator}'s in-memory network. */
export interface SimulatorTransport extends Transport {
  /**
   * `sim://<n>`, dialable between `start` and `stop`. Numbered at creation,
   * so creating transports in the same order gives the same addresses.
   */
  readonly address: string
}

/**
 * Every frame takes the same time.
 *
 * @example
 * ```ts
 * const simulator = new Simulator({ latency: constantLatency(25) })
 * ```
 */
export function constantLatency(ms: number): LatencyModel {
  return () => ms
}

/** Settings of {@link regionLatency}. */
export interface RegionLatencyOptions {
  /** Decides which region each address lands in. */
  seed: number
  /** Adds a fixed per-direction delay in `[0, jitterMs)` so peers in one region differ. Default 0. */
  jitterMs?: number
}

/**
 * Places every address in a region, picked by hashing the address with the
 * seed, and delays frames by half the round-trip time between the regions.
 *
 * @param rttMatrixMs `rttMatrixMs[i][j]` is the round trip in ms from region `i` to region `j`
 * @example
 * ```ts
 * const { rtt } = JSON.parse(await readFile('region-rtt-ms.json', 'utf8')) as { rtt: number[][] }
 * const simulator = new Simulator({ latency: regionLatency(rtt, { seed: 7, jitterMs: 2 }) })
 * ```
 */
export function regionLatency(
  rttMatrixMs: readonly (readonly number[])[],
  options: RegionLatencyOptions,
): LatencyModel {
  const regionCount = rttMatrixMs.length
  const isSquare = regionCount > 0 && rttMatrixMs.every((row) => row.length === regionCount)
  if (!isSquare || !rttMatrixMs.every((row) => row.every((ms) => Number.isFinite(ms) && ms >= 0))) {
    throw new NetworkError('INVALID_OPTIONS', 'rttMatrixMs must be a non-empty square matrix of non-negative numbers')
  }
  const jitterMs = options.jitterMs ?? 0
  if (!Number.isFinite(jitterMs) || jitterMs < 0) {
    throw new NetworkError('INVALID_OPTIONS', `jitterMs must be a non-negative number, got ${jitterMs}`)
  }
  // Copied so later changes to the caller's matrix can't alter a running simulation.
  const oneWayMs = rttMatrixMs.map((row) => row.map((rtt) => rtt / 2))
  const { seed } = options
  const regions = new Map<string, number>()
  const regionOf = (address: string): number => {
    let region = regions.get(address)
    if (region === undefined) {
      region = hashString(address, seed) % regionCount
      regions.set(address, region)
    }
    return region
  }
  const jitterSeed = hashString('jitter', seed)
  return (from, to) => {
    const base = oneWayMs[regionOf(from)]?.[regionOf(to)] ?? 0
    return jitterMs === 0 ? base : base + (hashString(to, hashString(from, jitterSeed)) / 0x1_0000_0000) * jitterMs
  }
}

/**
 * An in-memory network for tests and simulations of thousands of nodes in one
 * process. Frames are queued in one time-ordered heap served by a single timer,
 * so cost grows with frames, not with timers.
 *
 * Sends made while the simulator delivers a frame are timed from that frame's
 * scheduled arrival rather than from the wall clock, so chains of reactions
 * play out the same way however busy the machine is.
 *
 * @example
 * ```ts
 * const simulator = new Simulator({ seed: 1, latency: constantLatency(20), lossRate: 0.01 })
 * const server = simulator.createTransport()
 * await server.start((connection) => {
 *   connection.setHandlers({ onFrame: (frame) => connection.send(frame), onClose: () => {} })
 * })
 * const client = simulator.createTransport()
 * const connection = await client.connect(server.address, AbortSignal.timeout(1_000))
 * connection.setHandlers({ onFrame: (frame) => console.log('echo', frame), onClose: console.log })
 * connection.send(new Uint8Array([1, 2, 3]))
 * // ...
 * simulator.stop()
 * ```
 */
export class Simulator {
  private readonly core: SimulatorCore

  constructor(options: SimulatorOptions = {}) {
    const lossRate = options.lossRate ?? 0
    if (!(lossRate >= 0 && lossRate <= 1)) {
      throw new NetworkError('INVALID_OPTIONS', `lossRate must be within [0, 1], got ${lossRate}`)
    }
    this.core = new SimulatorCore(new SeededRandom(options.seed ?? 0), options.latency ?? constantLatency(0), lossRate)
  }

  /** A snapshot of the counters. */
  get stats(): SimulatorStats {
    return { ...this.core.stats }
  }

  /** A new, not yet started transport with the next free `sim://<n>` address. */
  createTransport(): SimulatorTransport {
    if (this.core.stopped) throw new NetworkError('INVALID_STATE', 'simulator is stopped')
    const transport = new SimulatorTransportImpl(this.core, `sim://${this.core.nextAddressNumber++}`)
    this.core.transports.add(transport)
    return transport
  }

  /**
   * Stops every transport, drops every frame in flight and cancels the timer.
   * Connections whose `onClose` is still due get it synchronously, here.
   */
  stop(): void {
    this.core.stop()
  }
}

const ADDRESS_PATTERN = /^sim:\/\/\d+$/
const MAX_TIMER_DELAY_MS = 2_147_483_647

interface ScheduledTask {
  readonly at: number
  /** Orders tasks due at the same moment by when they were scheduled, which keeps runs reproducible. */
  readonly seq: number
  readonly run: () => void
}

function isEarlier(a: ScheduledTask, b: ScheduledTask): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/** Binary min-heap of tasks by (at, seq). */
class TaskQueue {
  private items: ScheduledTask[] = []

  peek(): ScheduledTask | undefined {
    return this.items[0]
  }

  push(task: ScheduledTask): void {
    const items = this.items
    let index = items.length
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = items[parentIndex]
      if (parent === undefined || !isEarlier(task, parent)) break
      items[index] = parent
      index = parentIndex
    }
    items[index] = task
  }

  pop(): ScheduledTask | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (last === undefined || items.length === 0) return top
    let index = 0
    for (;;) {
      let childIndex = 2 * index + 1
      let child = items[childIndex]
      if (child === undefined) break
      const right = items[childIndex + 1]
      if (right !== undefined && isEarlier(right, child)) {
        child = right
        childIndex++
      }
      if (!isEarlier(child, last)) break
      items[index] = child
      index = childIndex
    }
    items[index] = last
    return top
  }

  clear(): void {
    this.items = []
  }
}

function startTimer(callback: () => void, delayMs: number): () => void {
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
}

/** The state the simulator, its transports and their connections share. */
class SimulatorCore {
  readonly stats: SimulatorStats = {
    framesSent: 0,
    framesDelivered: 0,
    framesLost: 0,
    framesDiscarded: 0,
    bytesSent: 0,
  }
  /** Started, not yet stopped transports: what `connect` can reach. */
  readonly listeners = new Map<string, SimulatorTransportImpl>()
  readonly transports = new Set<SimulatorTransportImpl>()
  /** Connections whose `onClose` hasn't been emitted yet, so `stop` can still emit it. */
  readonly openConnections = new Set<SimulatorConnection>()
  readonly random: SeededRandom
  readonly lossRate: number
  stopped = false
  nextAddressNumber = 1
  nextLinkNumber = 1
  private readonly latencyModel: LatencyModel
  private readonly queue = new TaskQueue()
  private nextSeq = 0
  /** `at` of the task being run, if any. */
  private taskTime: number | undefined
  /** Wall-clock time frozen for one synchronous run of code outside tasks. */
  private turnTime: number | undefined
  private cancelTimer: (() => void) | undefined
  private timerAt = Infinity

  constructor(random: SeededRandom, latencyModel: LatencyModel, lossRate: number) {
    this.random = random
    this.latencyModel = latencyModel
    this.lossRate = lossRate
  }

  /**
   * The time a send happens at. Inside a task it's the task's due time, so
   * reactions don't depend on how late the timer fired; outside, the wall
   * clock is read once per synchronous run so a burst of sends from a loop
   * shares one timestamp and keeps its order under any latency model.
   */
  now(): number {
    if (this.taskTime !== undefined) return this.taskTime
    if (this.turnTime === undefined) {
      this.turnTime = performance.now()
      queueMicrotask(this.endTurn)
    }
    return this.turnTime
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

  private readonly endTurn = (): void => {
    this.turnTime = undefined
  }

  private arm(): void {
    const next = this.queue.peek()
    if (next === undefined || this.stopped) return
    if (this.cancelTimer !== undefined) {
      if (this.timerAt <= next.at) return
      this.cancelTimer()
    }
    this.timerAt = next.at
    this.cancelTimer = startTimer(this.runDue, Math.ceil(next.at - performance.now()))
  }

  private readonly runDue = (): void => {
    this.cancelTimer = undefined
    this.timerAt = Infinity
    const now = performance.now()
    // Tasks scheduled by this batch wait for the next macrotask, so zero-latency ping-pong can't starve the event loop.
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

/** One direction of a link: the unit of FIFO order, loss draws and `bufferedAmount`. */
class Lane {
  readonly random: SeededRandom
  bufferedAmount = 0
  private lastDeliveryAt = -Infinity

  constructor(random: SeededRandom) {
    this.random = random
  }

  /** Never earlier than what was sent before on this lane, whatever the latency model says now. */
  deliveryTime(earliest: number): number {
    if (earliest > this.lastDeliveryAt) this.lastDeliveryAt = earliest
    return this.lastDeliveryAt
  }
}

class CloseNotice {
  readonly reason: string

  constructor(reason: string) {
    this.reason = reason
  }
}

type InboundItem = Uint8Array | CloseNotice

class SimulatorConnection implements TransportConnection {
  readonly remoteAddress: string
  private readonly core: SimulatorCore
  private readonly transport: SimulatorTransportImpl
  private readonly outbound: Lane
  private peer: SimulatorConnection | undefined
  private handlers: ConnectionHandlers | undefined
  /** Arrivals not yet handed over: before `setHandlers`, or while a flush is due. */
  private inbox: InboundItem[] = []
  private flushScheduled = false
  /** Set once this end may no longer send or receive. */
  private closeReason: string | undefined
  private closeEmitted = false

  constructor(core: SimulatorCore, transport: SimulatorTransportImpl, remoteAddress: string, outbound: Lane) {
    this.core = core
    this.transport = transport
    this.remoteAddress = remoteAddress
    this.outbound = outbound
    transport.track(this)
    core.openConnections.add(this)
  }

  get bufferedAmount(): number {
    return this.outbound.bufferedAmount
  }

  attach(peer: SimulatorConnection): void {
    this.peer = peer
  }

  setHandlers(handlers: ConnectionHandlers): void {
    this.handlers = handlers
    if (this.inbox.length === 0 || this.flushScheduled) return
    if (this.core.stopped) {
      // No task will ever run again, so hand over what is held right away.
      this.flush()
      return
    }
    // Asynchronous like a real socket's buffered events, so handlers never run inside setHandlers.
    this.flushScheduled = true
    this.core.schedule(this.core.now(), () => this.flush())
  }

  send(frame: Uint8Array): void {
    const peer = this.peer
    if (this.closeReason !== undefined || peer === undefined) return
    const core = this.core
    core.stats.framesSent++
    core.stats.bytesSent += frame.byteLength
    const lane = this.outbound
    if (core.lossRate > 0 && lane.random.nextFloat() < core.lossRate) {
      core.stats.framesLost++
      return
    }
    // A real transport copies too, so callers may reuse their buffer as soon as send returns.
    const copy = new Uint8Array(frame)
    lane.bufferedAmount += copy.byteLength
    const at = lane.deliveryTime(core.now() + core.latency(this.transport.address, this.remoteAddress))
    core.schedule(at, () => {
      lane.bufferedAmount -= copy.byteLength
      peer.receiveFrame(copy)
    })
  }

  close(reason = 'closed'): void {
    if (this.closeReason !== undefined) return
    this.markClosed(reason)
    const core = this.core
    core.schedule(core.now(), () => this.accept(new CloseNotice(reason)))
    const peer = this.peer
    if (peer === undefined) return
    // Through the lane, so the remote end gets every frame sent before the close first.
    const at = this.outbound.deliveryTime(core.now() + core.latency(this.transport.address, this.remoteAddress))
    core.schedule(at, () => peer.receiveClose(reason))
  }

  receiveFrame(frame: Uint8Array): void {
    if (this.closeReason !== undefined) {
      this.core.stats.framesDiscarded++
      return
    }
    this.core.stats.framesDelivered++
    this.accept(frame)
  }

  receiveClose(reason: string): void {
    if (this.closeReason !== undefined) return
    this.markClosed(reason)
    this.accept(new CloseNotice(reason))
  }

  /** The simulator is stopping: drop what is held and emit `onClose` now. */
  terminate(reason: string): void {
    const closeReason = this.closeReason ?? reason
    this.markClosed(closeReason)
    this.inbox = [new CloseNotice(closeReason)]
    if (this.handlers !== undefined) this.flush()
  }

  private markClosed(reason: string): void {
    this.closeReason = reason
    this.transport.forget(this)
  }

  private accept(item: InboundItem): void {
    const handlers = this.handlers
    if (handlers !== undefined && this.inbox.length === 0) {
      this.emit(item, handlers)
    } else {
      this.inbox.push(item)
    }
  }

  private flush(): void {
    this.flushScheduled = false
    const handlers = this.handlers
    if (handlers === undefined) return
    const items = this.inbox
    this.inbox = []
    let handedOver = 0
    try {
      for (const item of items) {
        handedOver++
        this.emit(item, handlers)
      }
    } finally {
      // A throwing handler must not lose or repeat the items after the one it threw on.
      if (handedOver < items.length) {
        this.inbox = items.slice(handedOver).concat(this.inbox)
        this.setHandlers(handlers)
      }
    }
  }

  private emit(item: InboundItem, handlers: ConnectionHandlers): void {
    if (this.closeEmitted) return
    if (item instanceof CloseNotice) {
      this.closeEmitted = true
      this.core.openConnections.delete(this)
      handlers.onClose(item.reason)
    } else {
      handlers.onFrame(item)
    }
  }
}

function abortedError(signal: AbortSignal | undefined): NetworkError {
  return new NetworkError('ABORTED', 'connect was aborted', { cause: signal?.reason })
}

class SimulatorTransportImpl implements SimulatorTransport {
  readonly address: string
  private readonly core: SimulatorCore
  private state: 'created' | 'started' | 'stopped' = 'created'
  private onConnection: ((connection: TransportConnection) => void) | undefined
  private readonly connections = new Set<SimulatorConnection>()
  /** Each pending dial's way to fail it, so `stop` can settle them. */
  private readonly pendingDials = new Set<(error: NetworkError) => void>()

  constructor(core: SimulatorCore, address: string) {
    this.core = core
    this.address = address
  }

  start(onConnection: (connection: TransportConnection) => void): Promise<string[]> {
    if (this.state !== 'created' || this.core.stopped) {
      return Promise.reject(new NetworkError('INVALID_STATE', `${this.address} was already started or stopped`))
    }
    this.state = 'started'
    this.onConnection = onConnection
    this.core.listeners.set(this.address, this)
    return Promise.resolve([this.address])
  }

  connect(address: string, signal?: AbortSignal): Promise<TransportConnection> {
    if (!ADDRESS_PATTERN.test(address)) {
      return Promise.reject(new NetworkError('INVALID_ADDRESS', `not a simulator address: ${JSON.stringify(address)}`))
    }
    if (signal?.aborted === true) return Promise.reject(abortedError(signal))
    if (this.state === 'stopped' || this.core.stopped) {
      return Promise.reject(new NetworkError('INVALID_STATE', `${this.address} is stopped`))
    }
    const core = this.core
    return new Promise((resolve, reject) => {
      const fail = (error: NetworkError): void => {
        settle()
        reject(error)
      }
      const onAbort = (): void => fail(abortedError(signal))
      const settle = (): void => {
        this.pendingDials.delete(fail)
        signal?.removeEventListener('abort', onAbort)
      }
      this.pendingDials.add(fail)
      signal?.addEventListener('abort', onAbort, { once: true })
      core.schedule(core.now() + core.latency(this.address, address), () => {
        if (!this.pendingDials.has(fail)) return
        settle()
        const listener = core.listeners.get(address)
        if (listener === undefined) {
          reject(new NetworkError('CONNECTION_FAILED', `nothing listens on ${address}`))
          return
        }
        const link = core.nextLinkNumber++
        const local = new SimulatorConnection(core, this, address, new Lane(core.random.fork(`link ${link} forward`)))
        const remote = new SimulatorConnection(
          core,
          listener,
          this.address,
          new Lane(core.random.fork(`link ${link} back`)),
        )
        local.attach(remote)
        remote.attach(local)
        resolve(local)
        listener.onConnection?.(remote)
      })
    })
  }

  stop(): Promise<void> {
    this.halt()
    for (const connection of [...this.connections]) connection.close('transport stopped')
    return Promise.resolve()
  }

  /** Stops listening and fails pending dials, leaving connections to the caller. */
  halt(): void {
    this.state = 'stopped'
    this.core.listeners.delete(this.address)
    this.core.transports.delete(this)
    for (const fail of [...this.pendingDials]) {
      fail(new NetworkError('CONNECTION_FAILED', 'transport stopped while dialing'))
    }
  }

  track(connection: SimulatorConnection): void {
    this.connections.add(connection)
  }

  forget(connection: SimulatorConnection): void {
    this.connections.delete(connection)
  }
}
