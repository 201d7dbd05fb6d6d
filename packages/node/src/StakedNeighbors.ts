import type { RunnelIncentives, StreamMetadata } from '@runnel/chain'
import { shortMessageOf, splitStreamPartId, type Clock, type StreamPartId } from '@runnel/protocol'
import type { Logger } from './logger.js'

/** What {@link StakedNeighbors} reads from the chain. */
export interface StakedNeighborsChain {
  /** The stream's metadata (a cached read: the client's chain-state cache). */
  streamMetadata(streamId: string): Promise<StreamMetadata>
  incentives(): Pick<RunnelIncentives, 'listSponsorships' | 'stakesOn' | 'getOperator'>
}

/** How often a stream's staked nodes are read again. */
export const STAKED_NODES_REFRESH_MS = 5 * 60_000
/** Streams whose staked nodes are kept at once; the least recently asked goes first. */
const MAX_STREAMS = 1_024

interface Entry {
  nodes: ReadonlySet<string>
  readAt: number
  reading: boolean
}

/**
 * The nodes of operators staked on a stream's sponsorships, for streams whose metadata sets
 * `preferStakedOperators`: the network node asks those candidates first when it looks for neighbours
 * (`NetworkNodeOptions.preferNeighbors`). An id costs nothing, a stake does, so a crowd of Sybils can't push staked
 * operators' nodes out of a node's neighbours. Synchronous for the network: a stream's set is read in the background,
 * again every {@link STAKED_NODES_REFRESH_MS}, and until the first read lands (or when the chain can't be read) no
 * node is preferred, which is how a node without the option behaves.
 *
 * @example
 * ```ts
 * const staked = new StakedNeighbors({ streamMetadata: (id) => client.chainState.getStream(id).then((s) => s.metadata),
 *   incentives: () => client.incentives }, systemClock, logger)
 * createRunnelClient({ network: { preferNeighbors: (nodeId, part) => staked.prefers(nodeId, part) } })
 * ```
 */
export class StakedNeighbors {
  private readonly streams = new Map<string, Entry>()

  constructor(
    private readonly chain: StakedNeighborsChain,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly refreshMs = STAKED_NODES_REFRESH_MS,
  ) {}

  /** Whether `nodeId` runs for an operator staked on the stream of `streamPartId`, as last read. */
  prefers(nodeId: string, streamPartId: string): boolean {
    const { streamId } = splitStreamPartId(streamPartId as StreamPartId)
    let entry = this.streams.get(streamId)
    if (entry === undefined) {
      entry = { nodes: new Set(), readAt: -Infinity, reading: false }
      if (this.streams.size >= MAX_STREAMS) this.streams.delete(this.streams.keys().next().value!)
    } else {
      this.streams.delete(streamId)
    }
    // Re-inserted: the map's order is the order streams were last asked about.
    this.streams.set(streamId, entry)
    if (!entry.reading && this.clock.now() - entry.readAt >= this.refreshMs) void this.read(streamId, entry)
    return entry.nodes.has(nodeId.toLowerCase())
  }

  /** Reads a stream's staked nodes now (the next `prefers` sees them); resolves when done. */
  async refresh(streamPartId: string): Promise<ReadonlySet<string>> {
    const { streamId } = splitStreamPartId(streamPartId as StreamPartId)
    const entry = this.streams.get(streamId) ?? { nodes: new Set<string>(), readAt: -Infinity, reading: false }
    this.streams.set(streamId, entry)
    await this.read(streamId, entry)
    return entry.nodes
  }

  private async read(streamId: string, entry: Entry): Promise<void> {
    entry.reading = true
    try {
      entry.nodes = await this.stakedNodes(streamId)
    } catch (err) {
      this.logger.debug({ streamId, err: shortMessageOf(err) }, 'staked neighbours: could not read the chain')
    } finally {
      entry.readAt = this.clock.now()
      entry.reading = false
    }
  }

  private async stakedNodes(streamId: string): Promise<ReadonlySet<string>> {
    const metadata = await this.chain.streamMetadata(streamId)
    const nodes = new Set<string>()
    if (metadata.preferStakedOperators !== true) return nodes
    const incentives = this.chain.incentives()
    const operators = new Set<string>()
    for (const sponsorship of await incentives.listSponsorships({ streamId })) {
      for (const stake of await incentives.stakesOn(sponsorship.id)) {
        if (!stake.kicked && stake.amount > 0n) operators.add(stake.operator)
      }
    }
    for (const operator of operators) {
      for (const node of (await incentives.getOperator(operator as `0x${string}`)).nodes) nodes.add(node.toLowerCase())
    }
    return nodes
  }
}
