import type { ConnectionHandlers, TransportConnection } from '../Transport.js'
import type { SeededRandom } from './random.js'
import type { SimulatorCore } from './SimulatorCore.js'

/** The transport a connection belongs to, as far as the connection needs it. */
export interface ConnectionOwner {
  readonly address: string
  track(connection: SimulatorConnection): void
  forget(connection: SimulatorConnection): void
}

/** One direction of a link: the unit of FIFO order, loss draws and `bufferedAmount`. */
export class Lane {
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

export class SimulatorConnection implements TransportConnection {
  readonly transportKind = 'simulator'
  readonly remoteAddress: string
  private readonly core: SimulatorCore
  private readonly transport: ConnectionOwner
  private readonly outbound: Lane
  private peer: SimulatorConnection | undefined
  private handlers: ConnectionHandlers | undefined
  /** Arrivals not yet handed over: before `setHandlers`, or while a flush is due. */
  private inbox: InboundItem[] = []
  private flushScheduled = false
  /** Set once this end may no longer send or receive. */
  private closeReason: string | undefined
  private closeEmitted = false

  constructor(core: SimulatorCore, transport: ConnectionOwner, remoteAddress: string, outbound: Lane) {
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
