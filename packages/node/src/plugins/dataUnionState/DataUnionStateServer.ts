import type { Server } from 'node:http'
import { createAdaptorServer } from '@hono/node-server'
import { blockCommitFromJson, type BlockCommit, type DataUnionState } from '@runnel/chain'
import { getAddress, type Address } from 'viem'
import { NodeError } from '../../errors.js'
import { httpServerOptions } from '../limits.js'
import { close, listen, urlHost } from '../listen.js'
import {
  comparePeers,
  divergencesOf,
  type DivergenceReport,
  type PeerAnswer,
  type PeerComparison,
  type PeerReader,
} from './PeerCheck.js'
import { INSTANCE_HEADER, stateRoutes, type MemberRequest } from './routes.js'
import { UnionFollower, type ChainLogSource, type EventFilter, type SyncResult } from './UnionFollower.js'

/** A record of a union's join/part stream. */
export interface MemberStreamRecord {
  readonly type: 'join' | 'part'
  readonly member: Address
  readonly txHash?: string
}

/** Repeats `task` every `ms`; returns what stops it. */
export type Repeat = (ms: number, task: () => void) => () => void

/** A pino-compatible logger, as narrow as this uses. */
export interface StateServerLogger {
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
}

export interface DataUnionStateServerOptions {
  /** The unions followed. */
  readonly dataUnions: readonly Address[]
  /** This instance's id, sent in `x-runnel-instance`. Default: a random one. */
  readonly instanceId?: string
  readonly host?: string // default 127.0.0.1
  readonly port?: number // default 0: any free port
  /** First block read; at or before the unions' creation. Default 0. */
  readonly fromBlock?: bigint
  /** Blocks per eth_getLogs request. Default 2,000. */
  readonly blockRange?: bigint
  /** Blocks left unread below the head. Default 0. */
  readonly confirmations?: bigint
  /** Blocks whose hash is kept. Default 10,000. */
  readonly historyBlocks?: number
  /** How often the chain's head is polled. Default 1,000 ms. */
  readonly pollIntervalMs?: number
  /** Other instances' base URLs, compared with after each sync (see {@link DataUnionStateServer.checkPeers}). */
  readonly peers?: readonly string[]
  /** How often peers are compared. Default 5,000 ms. */
  readonly peerCheckIntervalMs?: number
  /** Comparisons kept per union. Default 100. */
  readonly maxComparisons?: number
}

export interface DataUnionStateServerComponents {
  readonly publicClient: ChainLogSource
  /** A union's join/part stream: records only wake the follower up (and are shown beside members), never hashed. */
  readonly memberStream?: (dataUnion: Address) => AsyncIterable<MemberStreamRecord>
  /** See {@link EventFilter}: tests feed an instance altered events with it. */
  readonly eventFilter?: EventFilter
  readonly fetch?: typeof fetch
  readonly repeat?: Repeat
  readonly now?: () => number
  readonly logger?: StateServerLogger
}

/** What a {@link DataUnionStateServer} tells its listeners. */
export interface DataUnionStateServerEvents {
  /** An instance (a peer, or this one: `url` is `self`) whose hash isn't the majority's. */
  divergence: DivergenceReport
  /** The follower applied blocks: each union's head. */
  head: ReadonlyMap<Address, BlockCommit>
  /** A sync or peer check failed (it is retried on the next tick). */
  error: unknown
}

type Listener<T> = (value: T) => void

const MAX_REQUESTS_KEPT = 10_000
const HTTP_LIMITS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1_000,
}
/** A head or hash answer is a few hundred bytes: a peer sending more is not read. */
const MAX_PEER_ANSWER_BYTES = 16_384

const repeatWithTimers: Repeat = (ms, task) => {
  const timer = setInterval(task, ms)
  timer.unref()
  return () => clearInterval(timer)
}

const quietLogger: StateServerLogger = { info: () => undefined, warn: () => undefined }

/**
 * A replicated Data Union state server: builds each union's complete state (members, weights, earnings, totals over
 * time) from the chain's events, hashes it after every block (see `DataUnionState`), answers queries over HTTP and
 * compares its hashes with its peers' to find an instance that diverged.
 *
 * The state, and so the hash, is defined by chain events only. The union's join/part stream, when given, is a hint:
 * a record makes the follower poll at once, and the last record of each member is shown beside it, but a join or part
 * counts only once its event is on chain. Instances that read the same chain agree whatever stream they see.
 *
 * @example
 * ```ts
 * const server = new DataUnionStateServer({ dataUnions: [union], fromBlock: deployBlock }, { publicClient })
 * const url = await server.start()
 * // GET `${url}/dataunions/${union}/head` → { block, stateHash, … }
 * ```
 */
export class DataUnionStateServer {
  readonly instanceId: string
  private readonly follower: UnionFollower
  private readonly listeners: {
    [K in keyof DataUnionStateServerEvents]: Set<Listener<DataUnionStateServerEvents[K]>>
  } = { divergence: new Set(), head: new Set(), error: new Set() }
  private readonly comparisonsByUnion = new Map<Address, PeerComparison[]>()
  private readonly requests = new Map<string, MemberRequest>()
  private peers: readonly string[]
  private server: Server | undefined
  private stops: (() => void)[] = []
  private readonly streamAborts: AbortController[] = []
  private served = 0
  private url: string | undefined
  private checking: Promise<PeerComparison[]> | undefined
  private stopped = false

  constructor(
    private readonly options: DataUnionStateServerOptions,
    private readonly components: DataUnionStateServerComponents,
  ) {
    if (options.dataUnions.length === 0) throw new NodeError('INVALID_CONFIG', 'dataUnions: follow at least one union')
    this.instanceId = options.instanceId ?? `state-${Math.random().toString(36).slice(2, 10)}`
    this.peers = options.peers ?? []
    this.follower = new UnionFollower(
      options.dataUnions.map((address) => getAddress(address)),
      components.publicClient,
      {
        fromBlock: options.fromBlock ?? 0n,
        blockRange: options.blockRange ?? 2_000n,
        confirmations: options.confirmations ?? 0n,
        historyBlocks: options.historyBlocks ?? 10_000,
      },
      components.eventFilter,
    )
  }

  /** Starts serving and following; resolves with the base URL. Catching up continues in the background. */
  async start(): Promise<string> {
    const host = this.options.host ?? '127.0.0.1'
    const app = stateRoutes({
      instance: this.instanceId,
      state: (address) => this.follower.state(address),
      dataUnions: () => [...this.follower.states.keys()],
      comparisons: (address) => this.comparisonsByUnion.get(address) ?? [],
      lastRequest: (union, member) => this.requests.get(`${union}:${member}`),
      served: () => this.served++,
    })
    const server = createAdaptorServer({
      fetch: app.fetch,
      hostname: host,
      // Slow or idle clients are cut off, and connections are bounded, as on the node's other listeners.
      serverOptions: httpServerOptions(HTTP_LIMITS),
    }) as Server
    server.maxConnections = HTTP_LIMITS.maxConnections
    this.server = server
    const port = await listen(server, host, this.options.port ?? 0, 'dataUnionState')
    this.url = `http://${urlHost(host, port)}`
    const repeat = this.components.repeat ?? repeatWithTimers
    this.stops.push(repeat(this.options.pollIntervalMs ?? 1_000, () => void this.syncQuietly()))
    this.stops.push(repeat(this.options.peerCheckIntervalMs ?? 5_000, () => void this.checkPeersQuietly()))
    for (const union of this.follower.states.keys()) this.followStream(union)
    void this.syncQuietly()
    this.log().info({ instance: this.instanceId, url: this.url }, 'Data Union state server started')
    return this.url
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const stop of this.stops) stop()
    this.stops = []
    for (const abort of this.streamAborts) abort.abort()
    if (this.server !== undefined) {
      this.server.closeAllConnections()
      await close(this.server)
    }
  }

  /** The base URL, once started. */
  get baseUrl(): string | undefined {
    return this.url
  }

  /** Queries answered (2xx/3xx) since start. */
  get queriesServed(): number {
    return this.served
  }

  /** The last block applied for every union. */
  get head(): bigint | undefined {
    return this.follower.head
  }

  get eventsApplied(): number {
    return this.follower.eventsApplied
  }

  /** A union's state (read-only use: the follower applies to it). */
  state(dataUnion: Address): DataUnionState | undefined {
    return this.follower.state(dataUnion)
  }

  /** Peers' comparisons of a union, latest last. */
  comparisons(dataUnion: Address): readonly PeerComparison[] {
    return this.comparisonsByUnion.get(getAddress(dataUnion)) ?? []
  }

  setPeers(urls: readonly string[]): void {
    this.peers = [...urls]
  }

  /** Listens; returns what stops listening. */
  on<K extends keyof DataUnionStateServerEvents>(
    event: K,
    listener: Listener<DataUnionStateServerEvents[K]>,
  ): () => void {
    const set = this.listeners[event] as Set<Listener<DataUnionStateServerEvents[K]>>
    set.add(listener)
    return () => set.delete(listener)
  }

  /** Reads and applies every block up to the chain's head now. */
  sync(): Promise<SyncResult> {
    return this.follower.sync((heads) => this.emit('head', heads))
  }

  /**
   * Compares each union's hash with the peers' now (at the latest block all answering instances have), and reports
   * every instance whose hash isn't the majority's as a `divergence` (and in the log and `/peers`).
   */
  checkPeers(): Promise<PeerComparison[]> {
    this.checking ??= this.runPeerCheck().finally(() => {
      this.checking = undefined
    })
    return this.checking
  }

  private async runPeerCheck(): Promise<PeerComparison[]> {
    const results: PeerComparison[] = []
    if (this.peers.length === 0) return results
    const reader = httpPeerReader(this.components.fetch ?? fetch)
    const now = this.components.now ?? Date.now
    for (const [union, state] of this.follower.states) {
      const head = state.head
      if (head === undefined) continue
      const self = { instance: this.instanceId, head: head.block, hashAt: (block: bigint) => state.hashAt(block) }
      const comparison = await comparePeers(union, self, this.peers, reader, now)
      let list = this.comparisonsByUnion.get(union)
      if (list === undefined) this.comparisonsByUnion.set(union, (list = []))
      list.push(comparison)
      if (list.length > (this.options.maxComparisons ?? 100)) list.shift()
      for (const report of divergencesOf(comparison)) {
        this.log().warn(
          { dataUnion: union, block: report.block.toString(), diverged: report.url, instance: report.instance },
          report.url === 'self' ? 'this instance diverged from the majority' : 'a peer diverged from the majority',
        )
        this.emit('divergence', report)
      }
      results.push(comparison)
    }
    return results
  }

  private followStream(union: Address): void {
    const source = this.components.memberStream
    if (source === undefined) return
    const abort = new AbortController()
    this.streamAborts.push(abort)
    const now = this.components.now ?? Date.now
    void (async () => {
      try {
        for await (const record of source(union)) {
          if (abort.signal.aborted) return
          const key = `${union}:${getAddress(record.member)}`
          this.requests.delete(key)
          this.requests.set(key, { type: record.type, txHash: record.txHash, receivedAt: now() })
          if (this.requests.size > MAX_REQUESTS_KEPT) this.requests.delete(this.requests.keys().next().value!)
          void this.syncQuietly()
        }
      } catch (err) {
        if (!abort.signal.aborted) this.emit('error', err)
      }
    })()
  }

  private async syncQuietly(): Promise<void> {
    if (this.stopped) return
    try {
      await this.sync()
    } catch (err) {
      this.log().warn({ err }, 'Data Union state sync failed: retrying on the next poll')
      this.emit('error', err)
    }
  }

  private async checkPeersQuietly(): Promise<void> {
    if (this.stopped) return
    try {
      await this.checkPeers()
    } catch (err) {
      this.emit('error', err)
    }
  }

  private emit<K extends keyof DataUnionStateServerEvents>(event: K, value: DataUnionStateServerEvents[K]): void {
    for (const listener of this.listeners[event] as Set<Listener<DataUnionStateServerEvents[K]>>) listener(value)
  }

  private log(): StateServerLogger {
    return this.components.logger ?? quietLogger
  }
}

/** Reads peers over their HTTP API, with a timeout per request. */
function httpPeerReader(fetchImpl: typeof fetch, timeoutMs = 5_000): PeerReader {
  const get = async (url: string): Promise<PeerAnswer> => {
    const response = await fetchImpl(url, { signal: AbortSignal.timeout(timeoutMs) })
    if (!response.ok) throw new NodeError('UNAVAILABLE', `${url} answered ${response.status}`)
    if (Number(response.headers.get('content-length') ?? 0) > MAX_PEER_ANSWER_BYTES) {
      await response.body?.cancel()
      throw new NodeError('UNAVAILABLE', `${url} answered more than ${MAX_PEER_ANSWER_BYTES} bytes`)
    }
    const text = await response.text()
    if (text.length > MAX_PEER_ANSWER_BYTES) {
      throw new NodeError('UNAVAILABLE', `${url} answered more than ${MAX_PEER_ANSWER_BYTES} bytes`)
    }
    const commit = blockCommitFromJson(JSON.parse(text))
    return {
      instance: response.headers.get(INSTANCE_HEADER) ?? undefined,
      block: commit.block,
      hash: commit.stateHash,
    }
  }
  return {
    head: (base, union) => get(`${base}/dataunions/${union}/head`),
    hashAt: (base, union, block) => get(`${base}/dataunions/${union}/hash/${block}`),
  }
}
