import type { Clock } from '@runnel/protocol'

/** What the writer needs of a socket (a `net.Socket`, or the Duplex an HTTP upgrade hands over). */
export interface EgressSocket {
  write(chunk: Uint8Array): boolean
  cork(): void
  uncork(): void
  once(event: 'close' | 'drain', listener: () => void): unknown
  off(event: 'drain', listener: () => void): unknown
  readonly writableLength: number
  readonly writableNeedDrain: boolean
  readonly writableEnded: boolean
  readonly destroyed: boolean
}

/** How long a computed node-wide backlog is reused before it is summed again. */
const BACKLOG_REFRESH_MS = 20
/** The size of a shared block of frames; a frame larger than a quarter of it gets an allocation of its own. */
const BLOCK_BYTES = 64 * 1024
const OWN_ALLOCATION_BYTES = BLOCK_BYTES / 4

/**
 * Writes subscribers' frames in batches, holds what a subscriber can't take
 * yet on the node's side as references to shared frames, and keeps each
 * subscriber's unsent bytes bounded.
 *
 * Shared blocks: the frames a message is encoded to ({@link allocate}) are
 * carved out of 64 KiB blocks that successive messages share, rather than one
 * small allocation each, and every subscriber of a frame gets the same bytes.
 *
 * Batching: frames written to a subscriber in a turn of the event loop are
 * handed to its socket together at the end of the turn, corked, so a socket
 * gets one `writev` per turn however many messages went to it (the syscall
 * per message per subscriber was most of the node's fan-out time).
 *
 * Hand-over: a socket is given frames only until its own buffer reaches its
 * high-water mark (16 KiB for a TCP socket); the rest waits in the
 * subscriber's {@link EgressQueue} and follows when the socket drains. A
 * lagging subscriber then holds references to the shared frames, not the
 * per-write bookkeeping of a socket buffer of megabytes: at the peak of a
 * burst to hundreds of lagging subscribers, that bookkeeping was most of the
 * node's growth in resident memory, and stayed with the process after.
 *
 * Bound: a subscriber with more than `maxSubscriberBytes` unsent (queued here
 * or in its socket's buffer; what the kernel holds is not counted) takes
 * nothing more: {@link EgressQueue.write} returns false and the caller sheds
 * the subscriber.
 *
 * @example
 * ```ts
 * const egress = new EgressWriter({ maxSubscriberBytes: 8 * 1024 * 1024 }, clock)
 * const queue = egress.open(socket, () => webSocket.readyState === WebSocket.OPEN)
 * if (!queue.write(encoded.webSocketFrame(false))) shed(queue) // queue.discard(), then close
 * ```
 */
export class EgressWriter {
  private block = Buffer.allocUnsafeSlow(0)
  private blockUsed = 0
  private due: EgressQueue[] = []
  private scheduled = false
  /** Subscribers that had bytes unsent when handed their frames: summed by {@link queuedBytes}. */
  private readonly backlogged = new Set<EgressQueue>()
  private backlog = 0
  private backlogAt = Number.NEGATIVE_INFINITY

  constructor(
    private readonly options: { readonly maxSubscriberBytes: number },
    private readonly clock: Pick<Clock, 'now'>,
    /** Bytes handed to a socket (once per socket and hand-over): when the node is really sending, not queueing. */
    private readonly onHandedOver: (bytes: number) => void = () => {},
  ) {}

  /**
   * The queue of one subscriber's socket. `isOpen` says whether the socket still takes frames (false once a
   * WebSocket close frame went out, say): a queue whose socket stops taking them drops what it holds.
   */
  open(socket: EgressSocket, isOpen: () => boolean = () => true): EgressQueue {
    return new EgressQueue(
      socket,
      isOpen,
      this.options.maxSubscriberBytes,
      (queue) => this.schedule(queue),
      this.onHandedOver,
    )
  }

  /**
   * `length` bytes for a frame, in a block shared with other frames (see the class comment). Bound, so it can be
   * handed to `EncodedMessage` as its allocator.
   */
  readonly allocate = (length: number): Buffer => {
    if (length > OWN_ALLOCATION_BYTES) return Buffer.allocUnsafeSlow(length)
    if (this.blockUsed + length > this.block.byteLength) {
      this.block = Buffer.allocUnsafeSlow(BLOCK_BYTES)
      this.blockUsed = 0
    }
    const frame = this.block.subarray(this.blockUsed, this.blockUsed + length)
    this.blockUsed += length
    return frame
  }

  /** Unsent bytes to subscribers over every queue of this writer (recomputed at most every 20 ms). */
  queuedBytes(): number {
    const now = this.clock.now()
    if (now - this.backlogAt < BACKLOG_REFRESH_MS) return this.backlog
    let total = 0
    for (const queue of this.backlogged) {
      const unsent = queue.unsentBytes
      if (unsent === 0) this.backlogged.delete(queue)
      total += unsent
    }
    this.backlog = total
    this.backlogAt = now
    return total
  }

  private schedule(queue: EgressQueue): void {
    this.due.push(queue)
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => this.flush())
  }

  private flush(): void {
    this.scheduled = false
    const due = this.due
    this.due = []
    for (const queue of due) {
      queue.release()
      if (queue.unsentBytes > 0) this.backlogged.add(queue)
    }
  }
}

/**
 * One subscriber's frames not yet handed to its socket (made by {@link EgressWriter.open}). Frames are
 * references to the shared encodings, so a backlog costs its bytes once however many subscribers hold it.
 */
export class EgressQueue {
  /** Frames from `head` on are unsent; the slots before it are emptied as they go. */
  private frames: (Uint8Array | undefined)[] = []
  private head = 0
  private queued = 0
  private dueThisTurn = false
  private awaitingDrain = false
  private discarded = false
  private readonly onDrain = (): void => {
    this.awaitingDrain = false
    this.release()
  }

  constructor(
    readonly socket: EgressSocket,
    private readonly isOpen: () => boolean,
    private readonly maxUnsentBytes: number,
    private readonly onDue: (queue: EgressQueue) => void,
    private readonly onHandedOver: (bytes: number) => void,
  ) {
    socket.once('close', () => this.discard())
  }

  /** Bytes queued here and in the socket's own buffer. */
  get unsentBytes(): number {
    return this.queued + (this.socket.destroyed ? 0 : this.socket.writableLength)
  }

  /**
   * Queues a frame for the end of this turn; false (and nothing queued) when the subscriber has more than
   * `maxSubscriberBytes` unsent, or its queue was discarded or its socket is gone.
   */
  write(frame: Uint8Array): boolean {
    if (this.discarded || this.socket.destroyed || this.unsentBytes > this.maxUnsentBytes) return false
    this.frames.push(frame)
    this.queued += frame.byteLength
    if (!this.dueThisTurn) {
      this.dueThisTurn = true
      this.onDue(this)
    }
    return true
  }

  /**
   * Hands the socket queued frames until its buffer is full, and waits for its `drain` for the rest. The writer
   * calls it at the end of each turn with writes, and the socket's `drain` calls it again.
   */
  release(): void {
    this.dueThisTurn = false
    if (this.head === this.frames.length) return
    const { socket } = this
    if (this.discarded || socket.destroyed || socket.writableEnded || !this.isOpen()) {
      this.discard()
      return
    }
    // Someone else (ws's control frames, aedes's packets) filled the buffer: its drain comes.
    if (socket.writableNeedDrain) {
      this.awaitDrain()
      return
    }
    socket.cork()
    let taking = true
    let handed = 0
    while (taking && this.head < this.frames.length) {
      const frame = this.frames[this.head]!
      this.frames[this.head++] = undefined
      handed += frame.byteLength
      taking = socket.write(frame)
    }
    this.queued -= handed
    socket.uncork()
    this.onHandedOver(handed)
    if (this.head === this.frames.length) {
      this.frames = []
      this.head = 0
    } else {
      if (this.head > 1024 && this.head * 2 > this.frames.length) {
        this.frames = this.frames.slice(this.head)
        this.head = 0
      }
      this.awaitDrain()
    }
  }

  /** Drops every queued frame and takes no more: for a subscriber that was shed or closed. */
  discard(): void {
    this.discarded = true
    this.frames = []
    this.head = 0
    this.queued = 0
    if (this.awaitingDrain) {
      this.awaitingDrain = false
      this.socket.off('drain', this.onDrain)
    }
  }

  private awaitDrain(): void {
    if (this.awaitingDrain) return
    // A write that filled the buffer set needDrain; without it, no drain comes, so the next turn tries again.
    if (!this.socket.writableNeedDrain) {
      if (!this.dueThisTurn) {
        this.dueThisTurn = true
        this.onDue(this)
      }
      return
    }
    this.awaitingDrain = true
    this.socket.once('drain', this.onDrain)
  }
}
