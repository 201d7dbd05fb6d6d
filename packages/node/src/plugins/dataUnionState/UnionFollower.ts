import {
  DataUnionState,
  compareEventPositions,
  dataUnionAbi,
  toDataUnionEvent,
  type BlockCommit,
  type DataUnionEvent,
  type DecodedDataUnionLog,
} from '@runnel/chain'
import { getAddress, type Address, type PublicClient } from 'viem'

/** The chain calls a follower makes. */
export type ChainLogSource = Pick<PublicClient, 'getLogs' | 'getBlockNumber'>

/**
 * Alters or drops an event before it is applied (return undefined to drop). For tests and fault injection only: an
 * instance fed altered events builds a different state, which its peers detect by its hash.
 */
export type EventFilter = (event: DataUnionEvent) => DataUnionEvent | undefined

export interface UnionFollowerSettings {
  /** The first block read; start at or before the unions' creation (0 reads the whole chain). */
  readonly fromBlock: bigint
  /** Blocks per `eth_getLogs` request. */
  readonly blockRange: bigint
  /** Blocks left unread below the chain's head (reorg safety). */
  readonly confirmations: bigint
  readonly historyBlocks: number
}

/** How far one {@link UnionFollower.sync} got. */
export interface SyncResult {
  /** The last block applied (and committed) for every union; undefined before the first. */
  readonly block: bigint | undefined
  readonly events: number
}

const DATA_UNION_EVENTS = dataUnionAbi.filter((item) => item.type === 'event')

/**
 * Builds the state of one or more Data Unions from the chain: reads their logs in block ranges from
 * {@link UnionFollowerSettings.fromBlock} (so an instance started from nothing catches up), applies each block's
 * events in (blockNumber, logIndex) order and commits every block, with or without events, so each block has a hash.
 * Reorgs aren't handled: run with `confirmations` on chains that have them.
 */
export class UnionFollower {
  readonly states: ReadonlyMap<Address, DataUnionState>
  private processed: bigint | undefined
  private eventCount = 0
  private running: Promise<SyncResult> | undefined
  private queued: Promise<SyncResult> | undefined

  constructor(
    dataUnions: readonly Address[],
    private readonly chain: ChainLogSource,
    private readonly settings: UnionFollowerSettings,
    private readonly eventFilter?: EventFilter,
  ) {
    const states = new Map<Address, DataUnionState>()
    for (const address of dataUnions) {
      const state = new DataUnionState(address, { historyBlocks: settings.historyBlocks })
      states.set(state.dataUnion, state)
    }
    this.states = states
  }

  /** The last block applied for every union. */
  get head(): bigint | undefined {
    return this.processed
  }

  /** Events applied since start. */
  get eventsApplied(): number {
    return this.eventCount
  }

  state(address: Address): DataUnionState | undefined {
    return this.states.get(getAddress(address))
  }

  /**
   * Reads and applies every block up to the chain's head (less confirmations). A call during a run is queued for one more run after it (a hint may name a block the run doesn't cover).
   *
   * @param onBlocks called after each applied range, with each union's head commit
   */
  sync(onBlocks?: (commits: ReadonlyMap<Address, BlockCommit>) => void): Promise<SyncResult> {
    // A call while a run is under way may be a hint of a block that run doesn't cover: one more run follows it.
    if (this.running !== undefined) {
      this.queued ??= this.running
        .catch(() => undefined)
        .then(() => {
          this.queued = undefined
          return this.sync(onBlocks)
        })
      return this.queued
    }
    this.running = this.run(onBlocks).finally(() => {
      this.running = undefined
    })
    return this.running
  }

  private async run(onBlocks?: (commits: ReadonlyMap<Address, BlockCommit>) => void): Promise<SyncResult> {
    const chainHead = (await this.chain.getBlockNumber({ cacheTime: 0 })) - this.settings.confirmations
    let events = 0
    while ((this.processed ?? this.settings.fromBlock - 1n) < chainHead) {
      const from = this.processed === undefined ? this.settings.fromBlock : this.processed + 1n
      const to = from + this.settings.blockRange - 1n < chainHead ? from + this.settings.blockRange - 1n : chainHead
      const logs = await this.chain.getLogs({
        address: [...this.states.keys()],
        events: DATA_UNION_EVENTS,
        fromBlock: from,
        toBlock: to,
      })
      events += this.applyRange(logs as unknown as (DecodedDataUnionLog & { address: Address })[], from, to)
      this.processed = to
      if (onBlocks !== undefined) {
        const commits = new Map<Address, BlockCommit>()
        for (const [address, state] of this.states) commits.set(address, state.head!)
        onBlocks(commits)
      }
    }
    return { block: this.processed, events }
  }

  private applyRange(logs: readonly (DecodedDataUnionLog & { address: Address })[], from: bigint, to: bigint): number {
    const byUnion = new Map<Address, DataUnionEvent[]>()
    for (const log of logs) {
      // A log outside the range asked for would stall the block loop below: the range decides, not the endpoint.
      if (log.blockNumber === null || log.blockNumber < from || log.blockNumber > to) continue
      const event = toDataUnionEvent(log)
      if (event === undefined) continue
      const union = getAddress(log.address)
      let list = byUnion.get(union)
      if (list === undefined) byUnion.set(union, (list = []))
      list.push(event)
    }
    let applied = 0
    for (const [address, state] of this.states) {
      const events = (byUnion.get(address) ?? []).sort(compareEventPositions)
      // A range retried after a failure part way through it starts, for each union, after what that union
      // committed: committing a block twice would fail every retry and stall all the unions for good.
      const first = state.head !== undefined && state.head.block >= from ? state.head.block + 1n : from
      let next = 0
      while (next < events.length && events[next]!.blockNumber < first) next++
      for (let block = first; block <= to; block++) {
        while (next < events.length && events[next]!.blockNumber === block) {
          const event = events[next++]!
          // An endpoint that returns a log twice must not count it twice (nor fail the range on it).
          const previous = events[next - 2]
          if (previous !== undefined && compareEventPositions(previous, event) === 0) continue
          const filtered = this.eventFilter === undefined ? event : this.eventFilter(event)
          if (filtered === undefined) continue
          state.apply(filtered)
          applied++
          this.eventCount++
        }
        state.commit(block)
      }
    }
    return applied
  }
}
