import {
  splitStreamPartId,
  systemClock,
  type Clock,
  type MessageRef,
  type StreamMessage,
  type StreamPartId,
  type Timer,
} from '@runnel/protocol'
import type { MessageRefLike, MessageStore } from '../../../storage/index.js'
import type { RepairFetcher } from './RepairFetcher.js'

export interface HoleFillerComponents {
  readonly store: Pick<MessageStore, 'newestRef'>
  readonly fetcher: Pick<RepairFetcher, 'fetch'>
  /** History URLs of the stream's other storage nodes. */
  readonly peers: (streamId: string) => Promise<string[]>
  /** Where a chain this node never held is filled from (the start of repair's window). */
  readonly windowStart: () => number
  readonly onHole: () => void
  readonly onDropped: () => void
  readonly onPeerFailure: (url: string, err: unknown) => void
  /** No peer could fill the hole (or the store failed, `err`); anti-entropy may find it later. */
  readonly onUnfilled: (hole: Hole, err?: unknown) => void
  /** The holes' grace timers. Default: `systemClock`. */
  readonly clock?: Clock
}

export interface HoleFillerOptions {
  /** Wait after seeing a hole before checking the store again and fetching: a late message may still close it. */
  readonly graceMs: number
  /** Chains whose last stored ref is remembered; beyond it, the least recently seen is forgotten (and read from the store when seen again). */
  readonly maxTrackedChains: number
  /** Holes waiting to be filled; beyond it a new one is dropped (counted; anti-entropy finds it later). */
  readonly maxPendingHoles: number
}

/** Refs remembered per chain besides the newest: enough for the reordering a network does, 16 × 40 bytes. */
const RECENT_REFS = 16

interface ChainRefs {
  newest: MessageRef
  /** The last RECENT_REFS refs seen, a ring written at `next`. */
  readonly recent: MessageRef[]
  next: number
}

/** A publisher chain misses messages up to and including `to` (the `prevMsgRef` of a message that came after). */
export interface Hole {
  readonly streamPartId: string
  readonly publisherId: string
  readonly msgChainId: string
  readonly to: MessageRefLike
}

/**
 * Fills the holes live messages reveal in their publisher chains. Every
 * message the node is about to store goes through {@link HoleFiller.observe}:
 * when it is the chain's newest and its `prevMsgRef` is at most the newest
 * one seen, nothing happens (a map look-up, no I/O). Otherwise (the first
 * message of a chain since the node started, a jump ahead, or a message that
 * came after a newer one: the storage subscription is unordered) the previous
 * ref is checked after `graceMs` against the store, and if it is missing, the
 * chain from the newest message the store holds before it up to it is
 * fetched from another storage node of the stream.
 *
 * This is the storage node's only gap fill: its subscription runs unordered,
 * without the client's gap fill (which picks a storage node at random, this
 * one included).
 */
export class HoleFiller {
  /** Per chain, least recently seen first: the newest ref seen, and a ring of the last few. */
  readonly #chains = new Map<string, ChainRefs>()
  /** Holes waiting or being filled, one per chain and previous ref. */
  readonly #pending = new Map<string, Hole>()
  /** Keys of the holes whose grace is over, in that order. */
  readonly #due: string[] = []
  readonly #timers = new Set<Timer>()
  #working: Promise<void> | undefined
  #stopped = false

  constructor(
    private readonly components: HoleFillerComponents,
    private readonly options: HoleFillerOptions,
  ) {}

  /** Holes waiting for their grace or being filled. */
  get pending(): number {
    return this.#pending.size
  }

  observe(message: StreamMessage): void {
    const key = `${message.streamPartId}\n${message.publisherId}\n${message.messageChainId}`
    const ref = message.getMessageRef()
    let chain = this.#chains.get(key)
    const seenBefore = chain !== undefined
    // Re-inserted, so the map's order is least recently seen first.
    this.#chains.delete(key)
    chain ??= { newest: ref, recent: [], next: 0 }
    this.#chains.set(key, chain)
    if (this.#chains.size > this.options.maxTrackedChains) this.#chains.delete(this.#chains.keys().next().value!)
    const previous = message.prevMsgRef
    const inOrder =
      seenBefore &&
      ref.compareTo(chain.newest) >= 0 &&
      (previous === undefined || previous.compareTo(chain.newest) <= 0)
    // A late predecessor among the last few messages seen (reordering on the network) is no hole either.
    const predecessorSeen = previous !== undefined && chain.recent.some((seen) => seen.compareTo(previous) === 0)
    if (ref.compareTo(chain.newest) > 0) chain.newest = ref
    chain.recent[chain.next] = ref
    chain.next = (chain.next + 1) % RECENT_REFS
    if (previous === undefined || inOrder || predecessorSeen) return
    // The chain's first message since start, a jump ahead, or a late message whose predecessor may be missing too:
    // the store decides after the grace.
    this.#suspect(`${key}\n${previous.timestamp}/${previous.sequenceNumber}`, {
      streamPartId: message.streamPartId,
      publisherId: message.publisherId,
      msgChainId: message.messageChainId,
      to: { timestamp: previous.timestamp, sequenceNumber: previous.sequenceNumber },
    })
  }

  /** Stops waiting and filling; resolves once the hole being filled is given up. */
  async stop(): Promise<void> {
    this.#stopped = true
    for (const timer of this.#timers) timer.cancel()
    this.#timers.clear()
    this.#due.length = 0
    this.#pending.clear()
    await this.#working
  }

  #suspect(key: string, hole: Hole): void {
    if (this.#stopped) return
    if (this.#pending.has(key)) return
    if (this.#pending.size >= this.options.maxPendingHoles) {
      this.components.onDropped()
      return
    }
    this.components.onHole()
    this.#pending.set(key, hole)
    const timer = (this.components.clock ?? systemClock).setTimeout(
      () => {
        this.#timers.delete(timer)
        if (!this.#pending.has(key)) return
        this.#due.push(key)
        this.#working ??= this.#work().finally(() => (this.#working = undefined))
      },
      this.options.graceMs,
      { unref: true },
    )
    this.#timers.add(timer)
  }

  async #work(): Promise<void> {
    for (let key = this.#due.shift(); key !== undefined && !this.#stopped; key = this.#due.shift()) {
      const hole = this.#pending.get(key)
      if (hole === undefined) continue
      try {
        await this.#fill(hole)
      } catch (err) {
        // The store failed: the hole stays for anti-entropy to find.
        this.components.onUnfilled(hole, err)
      } finally {
        this.#pending.delete(key)
      }
    }
  }

  async #fill(hole: Hole): Promise<void> {
    const { store, fetcher } = this.components
    const filter = { publisherId: hole.publisherId, msgChainId: hole.msgChainId }
    const { streamId, partition } = splitStreamPartId(hole.streamPartId as StreamPartId)
    const closed = async (): Promise<MessageRefLike | true | undefined> => {
      const newest = await store.newestRef(hole.streamPartId, filter, hole.to)
      return newest !== undefined && compare(newest, hole.to) === 0 ? true : newest
    }
    let state = await closed()
    if (state === true) return
    const urls = shuffle(await this.components.peers(streamId).catch(() => []))
    for (const url of urls) {
      if (this.#stopped) return
      const from = state ?? { timestamp: Math.min(this.components.windowStart(), hole.to.timestamp), sequenceNumber: 0 }
      try {
        await fetcher.fetch(
          url,
          { streamId, partition, from, to: hole.to, publisherId: hole.publisherId, msgChainId: hole.msgChainId },
          'hole',
        )
      } catch (err) {
        this.components.onPeerFailure(url, err)
      }
      state = await closed()
      if (state === true) return
    }
    this.components.onUnfilled(hole)
  }
}

function compare(a: MessageRefLike, b: MessageRefLike): number {
  return a.timestamp - b.timestamp || a.sequenceNumber - b.sequenceNumber
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}
