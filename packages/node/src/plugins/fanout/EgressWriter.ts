import type { Clock } from '@runnel/protocol'

/** What the writer needs of a socket (a `net.Socket`, or the Duplex an HTTP upgrade hands over). */
export interface EgressSocket {
  write(chunk: Uint8Array): boolean
  cork(): void
  uncork(): void
  readonly writableLength: number
  readonly writableCorked: number
  readonly destroyed: boolean
}

/** How long a computed node-wide backlog is reused before it is summed again. */
const BACKLOG_REFRESH_MS = 20

/**
 * Writes subscribers' bytes in batches, and keeps each subscriber's unsent
 * bytes bounded.
 *
 * Batching: the first write to a socket in a turn of the event loop corks it,
 * and one `setImmediate` uncorks every socket written in that turn, so a
 * socket gets one `writev` per turn however many messages went to it (the
 * syscall per message per subscriber was most of the node's fan-out time).
 *
 * Bound: a socket with more than `maxSubscriberBytes` unsent (in its
 * user-space buffer; what the kernel holds is not counted) takes nothing more:
 * {@link write} returns false and the caller sheds the subscriber. The shared
 * frames in those buffers are referenced, not copied, so a backlog costs its
 * bytes once however many subscribers hold it.
 *
 * @example
 * ```ts
 * const egress = new EgressWriter({ maxSubscriberBytes: 8 * 1024 * 1024 }, clock)
 * if (!egress.write(socket, encoded.webSocketFrame(false))) shed(socket)
 * ```
 */
export class EgressWriter {
  private corked: EgressSocket[] = []
  private scheduled = false
  /** Sockets that had bytes left unsent at a flush: summed by {@link queuedBytes}. */
  private readonly backlogged = new Set<EgressSocket>()
  private backlog = 0
  private backlogAt = Number.NEGATIVE_INFINITY

  constructor(
    private readonly options: { readonly maxSubscriberBytes: number },
    private readonly clock: Pick<Clock, 'now'>,
  ) {}

  /** Queues `bytes` on the socket; false (and nothing queued) when the socket is over its bound or gone. */
  write(socket: EgressSocket, bytes: Uint8Array): boolean {
    if (socket.destroyed || socket.writableLength > this.options.maxSubscriberBytes) return false
    if (socket.writableCorked === 0) {
      socket.cork()
      this.corked.push(socket)
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => this.flush())
      }
    }
    socket.write(bytes)
    return true
  }

  /** Unsent bytes to subscribers over every socket this writer wrote to (recomputed at most every 20 ms). */
  queuedBytes(): number {
    const now = this.clock.now()
    if (now - this.backlogAt < BACKLOG_REFRESH_MS) return this.backlog
    let total = 0
    for (const socket of this.backlogged) {
      const length = socket.destroyed ? 0 : socket.writableLength
      if (length === 0) this.backlogged.delete(socket)
      total += length
    }
    this.backlog = total
    this.backlogAt = now
    return total
  }

  private flush(): void {
    this.scheduled = false
    const corked = this.corked
    this.corked = []
    for (const socket of corked) {
      // A socket destroyed meanwhile has dropped its buffer; uncorking it is harmless.
      socket.uncork()
      if (!socket.destroyed && socket.writableLength > 0) this.backlogged.add(socket)
    }
  }
}
