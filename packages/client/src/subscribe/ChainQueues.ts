/** What a {@link ChainQueues} does with its items. */
export interface ChainQueuesWork<T> {
  /** The chain an item belongs to: items of one chain are processed one at a time, in the order pushed. */
  chainOf(item: T): string
  /** Readies one item (validate, decrypt, hand on). A rejection is the work's own to report; the chain goes on. */
  process(item: T): Promise<void>
  /** A chain has processed everything pushed to it so far. */
  onIdle?(chain: string): void
}

export interface ChainQueuesOptions {
  /** Items waiting per chain, at most: `push` refuses more. Default 10,000. */
  readonly maxQueuedPerChain?: number
}

export const DEFAULT_MAX_QUEUED_PER_CHAIN = 10_000

interface ChainQueue<T> {
  items: (T | undefined)[]
  head: number
  readonly roomWaiters: (() => void)[]
}

/**
 * One queue per publisher chain, each worked through by its own async loop: a chain waiting for something slow (a
 * group key nobody answers for) holds up only itself, never the other chains of a subscription. Order within a
 * chain is kept. Memory: at most `maxQueuedPerChain` items per chain, and a chain's queue is gone once it is idle.
 *
 * @example
 * ```ts
 * const queues = new ChainQueues({ chainOf: (m) => m.chainKey, process: (m) => decryptAndDeliver(m) })
 * if (!queues.push(message)) countDropped(message)
 * ```
 */
export class ChainQueues<T> {
  private readonly chains = new Map<string, ChainQueue<T>>()
  private readonly maxQueued: number
  private cleared = false

  constructor(
    private readonly work: ChainQueuesWork<T>,
    options: ChainQueuesOptions = {},
  ) {
    this.maxQueued = options.maxQueuedPerChain ?? DEFAULT_MAX_QUEUED_PER_CHAIN
    if (!Number.isSafeInteger(this.maxQueued) || this.maxQueued < 1) {
      throw new RangeError(`maxQueuedPerChain must be a whole number ≥ 1, got ${String(options.maxQueuedPerChain)}`)
    }
  }

  /** Queues an item behind the others of its chain; false (and not queued) when that chain is full or cleared. */
  push(item: T): boolean {
    if (this.cleared) return false
    const key = this.work.chainOf(item)
    let chain = this.chains.get(key)
    if (chain === undefined) {
      chain = { items: [], head: 0, roomWaiters: [] }
      this.chains.set(key, chain)
      chain.items.push(item)
      void this.run(key, chain)
      return true
    }
    if (chain.items.length - chain.head >= this.maxQueued) return false
    chain.items.push(item)
    return true
  }

  /** Resolves once the item's chain has room (at once if it has): for a producer that can wait, such as history. */
  whenRoom(item: T): Promise<void> {
    const chain = this.chains.get(this.work.chainOf(item))
    if (this.cleared || chain === undefined || chain.items.length - chain.head < this.maxQueued)
      return Promise.resolve()
    return new Promise((resolve) => chain.roomWaiters.push(resolve))
  }

  /** Whether a chain has nothing queued or in progress. */
  isIdle(chain: string): boolean {
    return !this.chains.has(chain)
  }

  /** Drops everything queued; items in progress finish. Later pushes are refused. */
  clear(): void {
    this.cleared = true
    for (const chain of this.chains.values()) {
      chain.items = []
      chain.head = 0
      for (const wake of chain.roomWaiters.splice(0)) wake()
    }
    this.chains.clear()
  }

  private async run(key: string, chain: ChainQueue<T>): Promise<void> {
    while (chain.head < chain.items.length) {
      const item = chain.items[chain.head] as T
      chain.items[chain.head] = undefined
      chain.head++
      // Compact now and then rather than shift() each item (O(n) per item on a long queue).
      if (chain.head >= 1_024 && chain.head * 2 >= chain.items.length) {
        chain.items = chain.items.slice(chain.head)
        chain.head = 0
      }
      if (chain.roomWaiters.length > 0 && chain.items.length - chain.head < this.maxQueued) {
        for (const wake of chain.roomWaiters.splice(0)) wake()
      }
      try {
        await this.work.process(item)
      } catch {
        // process() reports its own failures; one failed item must not stop its chain.
      }
    }
    if (this.chains.get(key) === chain) {
      this.chains.delete(key)
      this.work.onIdle?.(key)
    }
  }
}
