import type { ManualClock } from '@runnel/protocol'
import { NetworkError } from '../../errors.js'
import { constantLatency, type LatencyModel } from './latency.js'
import { SeededRandom } from './random.js'
import { SimulatorCore } from './SimulatorCore.js'
import { SimulatorTransportImpl, type SimulatorTransport } from './SimulatorTransport.js'
import type { SimulatorStats } from './stats.js'
import { runFor, runUntil, type RunUntilOptions } from './virtualTime.js'

export {
  constantLatency,
  regionLatency,
  type LatencyModel,
  type RegionLatencyModel,
  type RegionLatencyOptions,
} from './latency.js'
export type { SimulatorStats } from './stats.js'
export type { SimulatorTransport } from './SimulatorTransport.js'
export { runFor, runUntil, settleEventLoop, type RunUntilOptions } from './virtualTime.js'

const IPV4_PATTERN = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

/** Settings of a {@link Simulator}. */
export interface SimulatorOptions {
  /** Seeds every random draw (which frames are lost); same seed and same calls give the same run. Default 0. */
  seed?: number
  /** Default: 0 ms, which still delivers on a later macrotask, never inside `send`. */
  latency?: LatencyModel
  /** Probability in `[0, 1]` that a frame is dropped. Default 0. */
  lossRate?: number
  /**
   * Run on this virtual clock instead of the wall clock: give the same clock
   * to every node and tracker of the simulation, and drive it with
   * {@link Simulator.runUntil} or {@link Simulator.runFor}.
   */
  clock?: ManualClock
  /**
   * Called at every `connect` with the dialling transport's address and the address dialled (whether anything
   * listens there or not), on the simulator's time: what a listener would count as connection attempts.
   */
  onDial?: (from: string, to: string) => void
}

/**
 * An in-memory network for tests and simulations of thousands of nodes in one
 * process. Frames are queued in one time-ordered heap served by a single timer,
 * so cost grows with frames, not with timers.
 *
 * Given a {@link ManualClock} (`options.clock`), it runs on virtual time:
 * frames are due on that clock, every node of the simulation takes the same
 * clock as its `clock` component, and {@link Simulator.runUntil} moves time
 * only when the process has no ready work left. Handshake, request and idle
 * timeouts then can't fire early on a busy CPU, the run is as fast as the CPU
 * allows, and the same seed gives the same run.
 *
 * Without a clock it runs on the wall clock. Sends made while the simulator
 * delivers a frame are then timed from that frame's scheduled arrival rather
 * than from the wall clock, so chains of reactions play out alike however busy
 * the machine is, but node timers are not.
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
 * @example
 * ```ts
 * const clock = new ManualClock()
 * const simulator = new Simulator({ seed: 1, latency: constantLatency(20), clock })
 * const tracker = new TrackerServer({ transport: simulator.createTransport(), signer, verifier, clock })
 * // … nodes: new NetworkNode({ transport: simulator.createTransport(), signer, verifier, clock }, options)
 * const formedInMs = await simulator.runUntil(() => nodes.every((n) => n.getNeighbors(id).length >= 3))
 * ```
 */
export class Simulator {
  /** The virtual clock given in the options; undefined on the wall clock. */
  readonly clock: ManualClock | undefined
  private readonly core: SimulatorCore<SimulatorTransportImpl>

  constructor(options: SimulatorOptions = {}) {
    const lossRate = options.lossRate ?? 0
    if (!(lossRate >= 0 && lossRate <= 1)) {
      throw new NetworkError('INVALID_OPTIONS', `lossRate must be within [0, 1], got ${lossRate}`)
    }
    this.clock = options.clock
    this.core = new SimulatorCore<SimulatorTransportImpl>(
      new SeededRandom(options.seed ?? 0),
      options.latency ?? constantLatency(0),
      lossRate,
      options.clock,
      options.onDial,
    )
  }

  /** A snapshot of the counters. */
  get stats(): SimulatorStats {
    return { ...this.core.stats }
  }

  /**
   * A new, not yet started transport with the next free `sim://<n>` address;
   * with `options.ip` (an IPv4 address), `sim://<ip>/<n>`, so that per-address
   * and per-subnet limits (which read the address connections come from)
   * see simulated nodes in chosen subnets. Plain `sim://<n>` addresses are
   * exempt from those limits. With `options.address`, that address: one a
   * stopped transport had, so a process can restart where peers know it (a
   * tracker or entry point restarting on its host).
   *
   * @example
   * ```ts
   * // 50 identities from one /24: a Sybil attacker
   * const sybils = Array.from({ length: 50 }, (_, i) => simulator.createTransport({ ip: `203.0.113.${i + 1}` }))
   * ```
   * @throws {@link NetworkError} `INVALID_OPTIONS` for an `ip` that is not a dotted IPv4 address;
   *   `INVALID_ADDRESS` for an `address` never handed out, or where something listens
   */
  createTransport(options: { readonly ip?: string; readonly address?: string } = {}): SimulatorTransport {
    if (this.core.stopped) throw new NetworkError('INVALID_STATE', 'simulator is stopped')
    const { ip, address } = options
    if (address !== undefined) {
      const number = /^sim:\/\/(?:\d{1,3}(?:\.\d{1,3}){3}\/)?(\d+)$/.exec(address)?.[1]
      if (number === undefined || Number(number) >= this.core.nextAddressNumber || this.core.listeners.has(address)) {
        throw new NetworkError('INVALID_ADDRESS', `${address} is not a free address of this simulator`)
      }
      const transport = new SimulatorTransportImpl(this.core, address)
      this.core.transports.add(transport)
      return transport
    }
    if (ip !== undefined && !IPV4_PATTERN.test(ip)) {
      throw new NetworkError('INVALID_OPTIONS', `ip must be a dotted IPv4 address, got ${JSON.stringify(ip)}`)
    }
    const number = this.core.nextAddressNumber++
    const transport = new SimulatorTransportImpl(
      this.core,
      ip === undefined ? `sim://${number}` : `sim://${ip}/${number}`,
    )
    this.core.transports.add(transport)
    return transport
  }

  /**
   * Drives the virtual clock until `condition()` holds (see {@link runUntil});
   * returns the virtual milliseconds it took.
   *
   * @throws {@link NetworkError} `INVALID_STATE` on the wall clock; `TIMEOUT` as {@link runUntil}
   */
  runUntil(condition: () => boolean, options?: RunUntilOptions): Promise<number> {
    return runUntil(this.virtualClock(), condition, options)
  }

  /** Drives the virtual clock forward by `ms` (see {@link runFor}). */
  runFor(ms: number): Promise<void> {
    return runFor(this.virtualClock(), ms)
  }

  private virtualClock(): ManualClock {
    if (this.clock === undefined) {
      throw new NetworkError('INVALID_STATE', 'the simulator runs on the wall clock; pass a ManualClock to drive it')
    }
    return this.clock
  }

  /**
   * Stops every transport, drops every frame in flight and cancels the timer.
   * Connections whose `onClose` is still due get it synchronously, here.
   */
  stop(): void {
    this.core.stop()
  }
}
