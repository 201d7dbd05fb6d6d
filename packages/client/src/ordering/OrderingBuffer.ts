import { systemClock, type Clock, type MessageRef, type StreamMessage, type Timer } from '@runnel/protocol'

/** Messages a chain was waiting for and gave up on. */
export interface Gap {
  readonly streamPartId: string
  readonly publisherId: string
  readonly messageChainId: string
  /** The last message released before the gap (undefined if none yet). */
  readonly from: MessageRef | undefined
  /** The previous ref the first message after the gap pointed to: everything after `from` up to and including `to` is missing. */
  readonly to: MessageRef
}

export interface OrderingBufferOptions {
  /** How long to wait for a missing message before reporting the gap and moving on. Default 5000 ms. */
  readonly gapTimeoutMs?: number
  /** Most messages held per chain while waiting; beyond it the oldest gap is given up at once. Default 10,000. */
  readonly maxHeldPerChain?: number
  /**
   * How long the first message seen on a chain waits for earlier ones that a
   * reordering network may still deliver; then it is released without a gap
   * (whatever came before it predates the subscription). Messages that start a
   * chain (no previous ref) never wait. Default 250 ms, at most `gapTimeoutMs`.
   */
  readonly startGraceMs?: number
}

export interface OrderingBufferEvents {
  /** A message, in chain order. Must not throw: it may run from a timer. */
  onMessage(message: StreamMessage): void
  /** Messages given up on; `onMessage` continues after the gap. Must not throw. */
  onGap(gap: Gap): void
  /**
   * A chain started waiting for messages it missed (`from` exclusive to `to`
   * inclusive): a chance to fetch them elsewhere (storage) and `add()` them
   * before the gap timeout gives them up. Called again if the chain makes
   * progress and still waits. Must not throw.
   */
  onMissing?(gap: Gap): void
}

/** The timer an OrderingBuffer uses, so tests and simulations control time. */
export interface Scheduler {
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const DEFAULT_GAP_TIMEOUT_MS = 5000
export const DEFAULT_MAX_HELD_PER_CHAIN = 10_000
export const DEFAULT_START_GRACE_MS = 250

/**
 * A {@link Scheduler} on a {@link Clock}: the client's clock (a `ManualClock` in tests). Its timers don't keep a Node
 * process alive by themselves.
 */
export function clockScheduler(clock: Clock): Scheduler {
  return {
    setTimeout: (callback, ms) => clock.setTimeout(callback, ms, { unref: true }),
    clearTimeout: (handle) => (handle as Timer | undefined)?.cancel(),
  }
}

/** The host's timers. A pending gap timer does not keep a Node process alive by itself. */
export const globalScheduler: Scheduler = clockScheduler(systemClock)

interface HeldMessage {
  readonly message: StreamMessage
  readonly ref: MessageRef
}

interface TimerToken {
  handle: unknown
}

interface ChainState {
  /** Ref of the last message released on this chain; undefined until the first is. */
  lastReleased: MessageRef | undefined
  /** Messages waiting for a missing predecessor, sorted by ref, no two with the same ref. */
  readonly held: HeldMessage[]
  timer: TimerToken | undefined
}

/**
 * Puts each publisher's message chain back in order. Messages of any chain go
 * in through `add()`; they come out through `onMessage` in chain order, each
 * at most once. A message whose predecessor has not arrived is held until it
 * does, or until the chain has made no progress for `gapTimeoutMs`, when the
 * missing messages are reported through `onGap` and the chain moves on.
 *
 * Pure state machine: no I/O, and time only through the injected scheduler.
 *
 * @example
 * ```ts
 * const buffer = new OrderingBuffer({ onMessage: (m) => deliver(m), onGap: (gap) => log.warn(gap) })
 * for await (const message of validatedMessages) buffer.add(message)
 * ```
 */
export class OrderingBuffer {
  private readonly chains = new Map<string, ChainState>()
  private readonly gapTimeoutMs: number
  private readonly maxHeldPerChain: number
  private readonly startGraceMs: number
  private held = 0

  constructor(
    private readonly events: OrderingBufferEvents,
    options: OrderingBufferOptions = {},
    private readonly scheduler: Scheduler = globalScheduler,
  ) {
    this.gapTimeoutMs = options.gapTimeoutMs ?? DEFAULT_GAP_TIMEOUT_MS
    this.maxHeldPerChain = options.maxHeldPerChain ?? DEFAULT_MAX_HELD_PER_CHAIN
    this.startGraceMs = Math.min(options.startGraceMs ?? DEFAULT_START_GRACE_MS, this.gapTimeoutMs)
    if (!Number.isFinite(this.gapTimeoutMs) || this.gapTimeoutMs < 0) {
      throw new RangeError(`gapTimeoutMs must be a non-negative number, got ${String(options.gapTimeoutMs)}`)
    }
    if (!Number.isSafeInteger(this.maxHeldPerChain) || this.maxHeldPerChain < 0) {
      throw new RangeError(`maxHeldPerChain must be a non-negative integer, got ${String(options.maxHeldPerChain)}`)
    }
  }

  /**
   * Accepts a validated message of any chain; releases in order via onMessage.
   * With `startsChain`, a message that is the first seen of its chain is
   * released at once, as where the chain starts (history read from storage
   * does this: what came before it was not asked for).
   */
  add(message: StreamMessage, startsChain = false): void {
    const key = `${message.streamPartId}/${message.publisherId}/${message.messageChainId}`
    const ref = message.getMessageRef()
    let chain = this.chains.get(key)
    if (chain === undefined) {
      chain = { lastReleased: undefined, held: [], timer: undefined }
      this.chains.set(key, chain)
      if (message.prevMsgRef === undefined || startsChain) {
        this.release(chain, message, ref)
        return
      }
      // Mid-chain: wait briefly for earlier messages still on their way, but
      // never for history from before the subscription (see startGraceMs).
    }
    if (chain.lastReleased !== undefined && ref.compareTo(chain.lastReleased) <= 0) {
      return // a duplicate, or too late: its place has passed
    }
    if (connects(chain, message)) {
      // In a consistent chain nothing held comes before a message that
      // connects. Something does after a publisher restart (prevMsgRef
      // undefined) or when links disagree: give up waiting for its
      // predecessors rather than drop it or release out of order.
      while (chain.held[0] !== undefined && chain.held[0].ref.compareTo(ref) < 0) {
        this.releaseFirstHeld(chain)
      }
      this.release(chain, message, ref)
      this.releaseConnected(chain)
      this.updateTimer(chain, true)
      return
    }
    if (!insertSorted(chain.held, { message, ref })) {
      return // already held
    }
    this.held++
    let progressed = false
    while (chain.held.length > this.maxHeldPerChain) {
      this.releaseFirstHeld(chain)
      this.releaseConnected(chain)
      progressed = true
    }
    this.updateTimer(chain, progressed)
  }

  /**
   * Whether `add(message)` would drop the message as a duplicate or too late: its place has passed, or a message
   * with its ref is held. Lets a caller skip work (decryption) on copies it will never deliver.
   */
  isSettled(message: StreamMessage): boolean {
    const chain = this.chains.get(`${message.streamPartId}/${message.publisherId}/${message.messageChainId}`)
    if (chain === undefined) return false
    const ref = message.getMessageRef()
    if (chain.lastReleased !== undefined && ref.compareTo(chain.lastReleased) <= 0) return true
    let low = 0
    let high = chain.held.length
    while (low < high) {
      const middle = (low + high) >>> 1
      const order = chain.held[middle]!.ref.compareTo(ref)
      if (order === 0) return true
      if (order < 0) low = middle + 1
      else high = middle
    }
    return false
  }

  /** Stops timers and drops held messages and every chain's position: later messages start afresh. */
  clear(): void {
    for (const chain of this.chains.values()) {
      this.stopTimer(chain)
      chain.held.length = 0 // also ends a release loop that called us from onMessage
    }
    this.chains.clear()
    this.held = 0
  }

  /** Messages currently held, for metrics. */
  get heldCount(): number {
    return this.held
  }

  private release(chain: ChainState, message: StreamMessage, ref: MessageRef): void {
    chain.lastReleased = ref
    this.events.onMessage(message)
  }

  /** Releases held messages while the first one connects; drops any whose place has passed. */
  private releaseConnected(chain: ChainState): void {
    for (let first = chain.held[0]; first !== undefined; first = chain.held[0]) {
      if (
        (chain.lastReleased === undefined || first.ref.compareTo(chain.lastReleased) > 0) &&
        !connects(chain, first.message)
      ) {
        return
      }
      this.releaseFirstHeld(chain)
    }
  }

  /** Releases the first held message, reporting a gap before it if it does not connect. */
  private releaseFirstHeld(chain: ChainState): void {
    const first = chain.held.shift()
    if (first === undefined) {
      return
    }
    this.held--
    if (chain.lastReleased !== undefined && first.ref.compareTo(chain.lastReleased) <= 0) {
      return // overtaken, e.g. by a restarted chain
    }
    const { message } = first
    // Before anything was released there is nothing to have missed.
    if (
      chain.lastReleased !== undefined &&
      message.prevMsgRef !== undefined &&
      message.prevMsgRef.compareTo(chain.lastReleased) > 0
    ) {
      this.events.onGap({
        streamPartId: message.streamPartId,
        publisherId: message.publisherId,
        messageChainId: message.messageChainId,
        from: chain.lastReleased,
        to: message.prevMsgRef,
      })
    }
    this.release(chain, message, first.ref)
  }

  /**
   * Keeps a timer running while the chain holds messages. It measures time
   * without progress, so it restarts whenever the chain releases something.
   */
  private updateTimer(chain: ChainState, progressed: boolean): void {
    if (chain.held.length === 0) {
      this.stopTimer(chain)
      return
    }
    if (chain.timer !== undefined && !progressed) {
      return
    }
    this.stopTimer(chain)
    const token: TimerToken = { handle: undefined }
    chain.timer = token
    const delay = chain.lastReleased === undefined ? this.startGraceMs : this.gapTimeoutMs
    token.handle = this.scheduler.setTimeout(() => this.onTimeout(chain, token), delay)
    const waiting = this.missingOf(chain)
    if (waiting !== undefined) this.events.onMissing?.(waiting)
  }

  /** What a chain is waiting for, if it is: the chain's key parts, `from` and `to` as in {@link Gap}. */
  missing(streamPartId: string, publisherId: string, messageChainId: string): Gap | undefined {
    const chain = this.chains.get(`${streamPartId}/${publisherId}/${messageChainId}`)
    return chain === undefined ? undefined : this.missingOf(chain)
  }

  private missingOf(chain: ChainState): Gap | undefined {
    const first = chain.held[0]?.message
    // Before anything was released there is nothing to have missed (see startGraceMs).
    if (first?.prevMsgRef === undefined || chain.lastReleased === undefined) return undefined
    return {
      streamPartId: first.streamPartId,
      publisherId: first.publisherId,
      messageChainId: first.messageChainId,
      from: chain.lastReleased,
      to: first.prevMsgRef,
    }
  }

  private onTimeout(chain: ChainState, token: TimerToken): void {
    if (chain.timer !== token) {
      return // stopped or replaced after it was due
    }
    chain.timer = undefined
    this.releaseFirstHeld(chain)
    this.releaseConnected(chain)
    this.updateTimer(chain, true)
  }

  private stopTimer(chain: ChainState): void {
    if (chain.timer !== undefined) {
      this.scheduler.clearTimeout(chain.timer.handle)
      chain.timer = undefined
    }
  }
}

/**
 * Whether a message may follow the chain's last released one: it points to
 * it, or starts the chain afresh. A message pointing further back also
 * connects: its chain disagrees with what was released, and waiting would
 * not help.
 */
function connects(chain: ChainState, message: StreamMessage): boolean {
  if (message.prevMsgRef === undefined) return true
  return chain.lastReleased !== undefined && message.prevMsgRef.compareTo(chain.lastReleased) <= 0
}

/** Inserts in ref order; false if a message with the same ref is already there. */
function insertSorted(held: HeldMessage[], entry: HeldMessage): boolean {
  let low = 0
  let high = held.length
  // Most messages arrive after every held one: check the end first.
  const last = held[high - 1]
  if (last !== undefined) {
    const order = last.ref.compareTo(entry.ref)
    if (order < 0) {
      held.push(entry)
      return true
    }
    if (order === 0) {
      return false
    }
  }
  while (low < high) {
    const middle = (low + high) >>> 1
    const order = held[middle]!.ref.compareTo(entry.ref)
    if (order === 0) {
      return false
    }
    if (order < 0) {
      low = middle + 1
    } else {
      high = middle
    }
  }
  held.splice(low, 0, entry)
  return true
}
