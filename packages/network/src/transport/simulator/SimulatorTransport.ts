import { NetworkError } from '../../errors.js'
import type { Transport, TransportConnection } from '../Transport.js'
import { Lane, SimulatorConnection } from './SimulatorConnection.js'
import type { SimulatorCore } from './SimulatorCore.js'

/** A transport on a {@link Simulator}'s in-memory network. */
export interface SimulatorTransport extends Transport {
  /**
   * `sim://<n>` (or `sim://<ip>/<n>`, see `Simulator.createTransport`),
   * dialable between `start` and `stop`. Numbered at creation, so creating
   * transports in the same order gives the same addresses.
   */
  readonly address: string
  /** Connections of this transport not yet closed, dialled or accepted. */
  readonly connectionCount: number
}

const ADDRESS_PATTERN = /^sim:\/\/(\d{1,3}(\.\d{1,3}){3}\/)?\d+$/

function abortedError(signal: AbortSignal | undefined): NetworkError {
  return new NetworkError('ABORTED', 'connect was aborted', { cause: signal?.reason })
}

export class SimulatorTransportImpl implements SimulatorTransport {
  readonly address: string
  private readonly core: SimulatorCore<SimulatorTransportImpl>
  private state: 'created' | 'started' | 'stopped' = 'created'
  private onConnection: ((connection: TransportConnection) => void) | undefined
  private readonly connections = new Set<SimulatorConnection>()
  /** Each pending dial's way to fail it, so `stop` can settle them. */
  private readonly pendingDials = new Set<(error: NetworkError) => void>()

  constructor(core: SimulatorCore<SimulatorTransportImpl>, address: string) {
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
    core.onDial?.(this.address, address)
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

  get connectionCount(): number {
    return this.connections.size
  }

  track(connection: SimulatorConnection): void {
    this.connections.add(connection)
  }

  forget(connection: SimulatorConnection): void {
    this.connections.delete(connection)
  }
}
