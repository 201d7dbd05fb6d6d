import { availableParallelism } from 'node:os'
import type { ChainStateCache } from '@runnel/chain'
import { systemClock, verifyStreamMessage, type Clock, type StreamMessage, type Timer } from '@runnel/protocol'
import { withErc1271Signatures } from './erc1271Signatures.js'
import { nativeSignatureVerifier } from '@runnel/protocol/native'
import { Counter, type Registry } from 'prom-client'
import type { StorageRepairConfig } from '../../../config.js'
import type { Logger } from '../../../logger.js'
import type { MessageStore } from '../../../storage/index.js'
import { AntiEntropy, type RoundSummary } from './AntiEntropy.js'
import { FetchedMessageCheck } from './FetchedMessageCheck.js'
import { HoleFiller } from './HoleFiller.js'
import { SignatureWorkers } from './SignatureWorkers.js'
import { RepairFetcher } from './RepairFetcher.js'
import { WorkBudget } from './WorkBudget.js'

export interface StorageRepairComponents {
  readonly store: MessageStore
  /** The process's cache of chain state (the client's): permissions of fetched messages, the other storage nodes. */
  readonly chainState: ChainStateCache
  /** This node's address: it is left out of the peers. */
  readonly address: string
  /** The streams this node stores now. */
  readonly streams: () => string[]
  readonly partitions: (streamId: string) => Promise<number>
  readonly logger: Logger
  readonly metrics: Registry
  /** How far ahead of this node's clock a message may be stamped. */
  readonly maxClockSkewMs: number
  /** The round timer, holes' grace and repair's window. Default: `systemClock`. */
  readonly clock?: Clock
  /**
   * Whether an ERC-1271 publisher's message (signature type 2) is its wallet's (the client's validator asks the
   * chain). Without it such messages are refused.
   */
  readonly verifyErc1271?: (message: StreamMessage) => Promise<boolean>
}

/** Messages checked and written per transaction. */
const BATCH_SIZE = 1_000
/** Most messages one range request asks for. */
const MAX_PER_REQUEST = 20_000

/**
 * Keeps the storage nodes of a stream in agreement without anyone asking:
 * holes that live messages reveal in a publisher chain are fetched from
 * another storage node ({@link HoleFiller}), and periodic rounds compare
 * per-bucket digests with every other storage node of each stream and copy
 * in what differs ({@link AntiEntropy}). Everything fetched is checked as a
 * live message is, then written straight to the store (not through the live
 * path: no receipt follows). Bounded: messages fetched and buckets compared
 * per minute, chains tracked, holes pending.
 *
 * @example
 * ```ts
 * const repair = new StorageRepair({ store, chainState, address, streams, partitions, logger, metrics, maxClockSkewMs }, config.repair)
 * repair.start()
 * subscription.onMessage((message) => { repair.observe(message); writer.store(message) })
 * const summary = await repair.runRound() // on demand, besides the timer
 * ```
 */
export class StorageRepair {
  readonly #abort = new AbortController()
  readonly #holes: HoleFiller
  readonly #antiEntropy: AntiEntropy
  readonly #metrics: {
    repaired: Counter<'source'>
    fetched: Counter
    refused: Counter<'reason'>
    rounds: Counter
    peerFailures: Counter
    holes: Counter<'outcome'>
    buckets: Counter<'result'>
  }
  readonly #workers: SignatureWorkers | undefined
  #timer: Timer | undefined
  #round: Promise<RoundSummary> | undefined

  constructor(
    private readonly components: StorageRepairComponents,
    private readonly config: StorageRepairConfig,
  ) {
    const registers = [components.metrics]
    this.#metrics = {
      repaired: new Counter({
        name: 'runnel_storage_repair_messages_total',
        help: 'Messages this node lacked, copied in from another storage node, by what found them (hole, anti-entropy)',
        labelNames: ['source'],
        registers,
      }),
      fetched: new Counter({
        name: 'runnel_storage_repair_fetched_total',
        help: 'Messages fetched from other storage nodes for repair (held already or not)',
        registers,
      }),
      refused: new Counter({
        name: 'runnel_storage_repair_refused_total',
        help: 'Messages another storage node sent that failed a check and were not stored, by reason',
        labelNames: ['reason'],
        registers,
      }),
      rounds: new Counter({ name: 'runnel_storage_repair_rounds_total', help: 'Anti-entropy rounds run', registers }),
      peerFailures: new Counter({
        name: 'runnel_storage_repair_peer_failures_total',
        help: 'Repair requests to another storage node that failed (unreachable, refused, timed out, malformed answer)',
        registers,
      }),
      holes: new Counter({
        name: 'runnel_storage_repair_holes_total',
        help: 'Possible holes in publisher chains: seen, dropped (too many pending), unfilled (no peer had them)',
        labelNames: ['outcome'],
        registers,
      }),
      buckets: new Counter({
        name: 'runnel_storage_repair_buckets_total',
        help: 'Anti-entropy buckets compared, and those that differed',
        labelNames: ['result'],
        registers,
      }),
    }
    const signal = this.#abort.signal
    const { chainState } = components
    const self = components.address.toLowerCase()
    // The other storage nodes' history URLs; only http(s) ones are asked.
    const peers = async (streamId: string): Promise<string[]> =>
      (await chainState.storageNodeUrls(streamId, [self])).filter((url) => /^https?:\/\//.test(url))
    const messages = new WorkBudget(config.maxMessagesPerMinute)
    // All the cores: the event loop mostly waits on the peer and the database while the workers recover keys.
    const workers = config.workers ?? Math.max(1, Math.min(4, availableParallelism()))
    this.#workers = workers > 0 ? new SignatureWorkers(workers) : undefined
    const pool = this.#workers
    const check = new FetchedMessageCheck({
      verifySignatures: withErc1271Signatures(
        pool === undefined ? verifyHere : (_, frames) => pool.verify(frames),
        components.verifyErc1271,
      ),
      // The cache is the client's, which follows the chain's events while it runs: repair starts no watch of its own.
      mayPublish: (streamId, publisherId, timestamp) =>
        chainState
          .hasPermission(streamId, publisherId as Parameters<ChainStateCache['hasPermission']>[1], 'publish', timestamp)
          .catch(() => false),
      now: Date.now,
      maxClockSkewMs: components.maxClockSkewMs,
    })
    const fetcher = new RepairFetcher(
      {
        store: components.store,
        check,
        messages,
        signal,
        onFetched: (count) => this.#metrics.fetched.inc(count),
        onRepaired: (source, count) => this.#metrics.repaired.inc({ source }, count),
        onRefused: (reason, count) => {
          this.#metrics.refused.inc({ reason }, count)
          components.logger.warn({ reason, count }, 'storage repair: refused messages from another storage node')
        },
      },
      { batchSize: BATCH_SIZE, maxPerRequest: MAX_PER_REQUEST, requestTimeoutMs: config.requestTimeoutMs },
    )
    const onPeerFailure = (url: string, err: unknown): void => {
      this.#metrics.peerFailures.inc()
      components.logger.warn({ err, peer: url }, 'storage repair: a peer failed')
    }
    const clock = components.clock ?? systemClock
    this.#holes = new HoleFiller(
      {
        store: components.store,
        fetcher,
        peers,
        windowStart: () => clock.now() - config.windowMs,
        clock,
        onHole: () => {
          this.#metrics.holes.inc({ outcome: 'seen' })
          // The workers load during the hole's grace (~0.3 s and 25 MiB each), not at node start: most nodes never repair.
          this.#workers?.start()
        },
        onDropped: () => this.#metrics.holes.inc({ outcome: 'dropped' }),
        onPeerFailure,
        onUnfilled: (hole, err) => {
          this.#metrics.holes.inc({ outcome: 'unfilled' })
          components.logger.info({ hole, err }, 'storage repair: no peer could fill a hole')
        },
      },
      {
        graceMs: config.holeGraceMs,
        maxTrackedChains: config.maxTrackedChains,
        maxPendingHoles: config.maxPendingHoles,
      },
    )
    this.#antiEntropy = new AntiEntropy(
      {
        store: components.store,
        fetcher,
        buckets: new WorkBudget(config.maxBucketsPerMinute),
        streams: components.streams,
        partitions: components.partitions,
        peers,
        onPeerFailure,
        onBuckets: (compared, differing) => {
          this.#metrics.buckets.inc({ result: 'compared' }, compared)
          if (differing > 0) this.#metrics.buckets.inc({ result: 'differing' }, differing)
        },
        now: () => clock.now(),
        signal,
      },
      {
        windowMs: config.windowMs,
        settleMs: config.settleMs,
        bucketMs: config.bucketMs,
        maxBucketFetch: config.maxBucketFetch,
        requestTimeoutMs: config.requestTimeoutMs,
      },
    )
  }

  /**
   * Starts the round timer (when `intervalMs` > 0). The signature workers and the watch on permission changes start
   * when repair first needs them.
   */
  start(): void {
    if (this.config.intervalMs > 0) {
      this.#timer = (this.components.clock ?? systemClock).setInterval(
        () => void this.runRound().catch(() => {}),
        this.config.intervalMs,
        { unref: true },
      )
    }
  }

  /** Every message the node is about to store from the live path: a map look-up unless it reveals a hole. */
  observe(message: StreamMessage): void {
    this.#holes.observe(message)
  }

  /** Holes waiting for their grace or being filled now. */
  get pendingHoles(): number {
    return this.#holes.pending
  }

  /**
   * Runs one anti-entropy round now (or joins the one running) and says what
   * it did. The timer calls it every `intervalMs`; tests call it directly.
   */
  runRound(): Promise<RoundSummary> {
    this.#round ??= this.#antiEntropy
      .run()
      .then((summary) => {
        this.#metrics.rounds.inc()
        if (summary.repaired > 0 || summary.refused > 0 || summary.peerFailures > 0) {
          this.components.logger.info(summary, 'storage repair: anti-entropy round')
        }
        return summary
      })
      .finally(() => (this.#round = undefined))
    return this.#round
  }

  /** Stops the timer and any fetch under way; resolves once they have given up. */
  async stop(): Promise<void> {
    this.#timer?.cancel()
    this.#abort.abort()
    await Promise.all([this.#holes.stop(), this.#round?.catch(() => {})])
    await this.#workers?.close()
  }
}

/** libsecp256k1 on this thread, one message at a time (~50 µs each). */
function verifyHere(messages: readonly StreamMessage[]): Promise<boolean[]> {
  return Promise.resolve(messages.map((message) => verifyStreamMessage(message, nativeSignatureVerifier)))
}
