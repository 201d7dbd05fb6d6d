import type { ReviewRequest } from '@runnel/chain'
import type { RunnelClient } from '@runnel/client'
import type { NetworkNodeOptions } from '@runnel/network'
import { toStreamPartId, type Clock, type StreamId, type StreamPartId, type Timer } from '@runnel/protocol'
import type { Registry } from 'prom-client'
import { formatUnits, getAddress, parseUnits, type Address } from 'viem'
import type { OperatorPluginConfig } from '../../config.js'
import { NodeError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { AutoFlagger, type AutoInspection } from './AutoFlagger.js'
import { encodeHeartbeat } from './heartbeatMetadata.js'
import { Inspector, type InspectionEvidence } from './Inspector.js'
import type { OperatorChain } from './OperatorChain.js'
import { createOperatorMetrics, type OperatorMetrics } from './operatorMetrics.js'
import { rendezvousHolders, rendezvousOrder } from './rendezvous.js'

/** Partitions of one sponsored stream relayed at most (the registry allows up to 100). */
const MAX_PARTITIONS = 100
/** Flags waiting for this operator's vote that are followed at once; more wait for a later poll. */
const MAX_OPEN_REVIEWS = 64
/** Inspections' evidence kept for `evidence` (newest last). */
const MAX_EVIDENCE = 16

export interface OperatorPluginComponents {
  readonly client: RunnelClient
  readonly chain: OperatorChain
  readonly logger: Logger
  readonly clock: Clock
  /** How the inspector's probe finds peers: the node's own discovery settings. */
  readonly discovery: Pick<NetworkNodeOptions, 'discovery' | 'trackers' | 'entryPoints'>
  /** Where the plugin's metrics go: the node's registry. */
  readonly registry: Registry
}

/**
 * Makes the node one of an operator's nodes. Every poll it reads the sponsorships the operator is staked on and the
 * operator's live nodes (listed with `setNodes`, with a heartbeat newer than `staleAfterHeartbeats` intervals on the
 * chain's clock), and relays the stream parts that rendezvous hashing on node address and stream part id assigns to
 * it (`replicas` nodes each): when a node's heartbeat goes stale the others compute the same new order and the next
 * node takes its parts. It sends heartbeats with its reachable addresses, collects the operator's earnings once they
 * pass `withdrawThreshold` (one node does: the first in the rendezvous order of a fixed key), and, when the operator
 * is picked to review a flag, inspects the flagged operator's nodes ({@link Inspector}) and votes on the evidence.
 * With `autoFlag` on, one node also inspects the operator's peers on its sponsorships unasked and flags one that
 * relays nothing in two inspections in a row ({@link AutoFlagger}).
 *
 * Failures of the chain are logged and retried on the next poll; nothing here throws into the node after start.
 *
 * @example
 * ```json
 * { "privateKey": "0x…", "plugins": { "operator": { "operatorAddress": "0x…", "withdrawThreshold": "50" } } }
 * ```
 */
export class OperatorPlugin {
  private readonly operator: Address
  private readonly self: string
  private readonly threshold: bigint
  private readonly inspector: Inspector
  private readonly metrics: OperatorMetrics
  private readonly autoFlagger: AutoFlagger | undefined
  private readonly relays = new Map<StreamPartId, Promise<(() => void) | undefined>>()
  private readonly openReviews = new Map<number, ReviewRequest>()
  private readonly verdicts = new Map<number, InspectionEvidence>()
  private readonly inspections = new AbortController()
  private readonly evidenceLog: InspectionEvidence[] = []
  /** Each listed node's last heartbeat seen (chain seconds) and when this node saw it change (its clock). */
  private readonly heartbeatsSeen = new Map<string, { at: number; changedAt: number }>()
  private inspecting: Promise<void> | undefined
  /** The operator's live nodes as of the latest poll (none before the first, or while this node isn't listed). */
  private alive: readonly string[] = []
  private reviewFrom: bigint | undefined
  private pollTimer: Timer | undefined
  private heartbeatTimer: Timer | undefined
  private polling: Promise<void> | undefined
  private listed = true
  private stopped = false

  constructor(
    private readonly components: OperatorPluginComponents,
    private readonly config: OperatorPluginConfig,
  ) {
    this.operator = getAddress(config.operatorAddress)
    this.self = components.chain.account.toLowerCase()
    this.threshold = parseUnits(config.withdrawThreshold, 18)
    this.inspector = new Inspector(components.discovery, config.review, components.clock)
    this.metrics = createOperatorMetrics(components.registry)
    const { enabled, ...autoFlag } = config.autoFlag
    this.autoFlagger = enabled
      ? new AutoFlagger(
          {
            operator: this.operator,
            chain: components.chain,
            logger: components.logger,
            clock: components.clock,
            metrics: this.metrics,
            isDutyOwner: () => rendezvousOrder(this.alive, `autoflag:${this.operator}`)[0] === this.self,
            reviewInspection: () => this.inspecting,
            inspect: (sponsorshipId, target, signal) => this.inspectOperator(sponsorshipId, target, signal),
            signal: this.inspections.signal,
          },
          autoFlag,
        )
      : undefined
  }

  /** The operator contract this node serves. */
  get operatorAddress(): Address {
    return this.operator
  }

  /** The stream parts this node relays for its operator now. */
  get relayedStreamParts(): StreamPartId[] {
    return [...this.relays.keys()]
  }

  /** The latest inspections' evidence (at most 16, newest last). */
  get evidence(): readonly InspectionEvidence[] {
    return this.evidenceLog
  }

  /** The latest inspections made unasked (`autoFlag`), with what each decided (at most 16, newest last). */
  get autoInspections(): readonly AutoInspection[] {
    return this.autoFlagger?.inspections ?? []
  }

  /**
   * Checks the config against the chain, sends a first heartbeat and starts polling.
   *
   * @throws {@link NodeError} `INVALID_CONFIG` when `operatorAddress` is no operator contract or this node isn't one
   *   of its nodes; the chain's error when it can't be reached
   */
  async start(): Promise<string> {
    const { chain, logger, clock } = this.components
    if (!(await chain.incentives.isOperator(this.operator))) {
      throw new NodeError(
        'INVALID_CONFIG',
        `plugins.operator.operatorAddress: ${this.operator} is not an operator contract (the OperatorFactory did not create it)`,
      )
    }
    const nodes = await chain.nodesOf(this.operator)
    if (!nodes.some((node) => node.toLowerCase() === this.self)) {
      throw new NodeError(
        'INVALID_CONFIG',
        `plugins.operator: this node (${getAddress(this.self)}) is not one of operator ${this.operator}'s nodes ` +
          `(${nodes.length === 0 ? 'it lists none' : nodes.join(', ')}); the operator's owner adds it with setNodes`,
      )
    }
    await this.heartbeat()
    this.heartbeatTimer = clock.setInterval(() => void this.heartbeat(), this.config.heartbeatIntervalMs, {
      unref: true,
    })
    this.pollTimer = clock.setInterval(() => void this.poll(), this.config.pollIntervalMs, { unref: true })
    void this.poll()
    this.autoFlagger?.start()
    logger.info({ operator: this.operator, node: getAddress(this.self) }, 'operator: serving as a node of the operator')
    return this.operator
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.pollTimer?.cancel()
    this.heartbeatTimer?.cancel()
    this.inspections.abort(new Error('the node is stopping'))
    await this.polling
    await this.inspecting
    await this.autoFlagger?.stop()
    for (const relay of this.relays.values()) (await relay)?.()
    this.relays.clear()
  }

  /** One round: nodes, assignment, earnings, reviews. Runs every `pollIntervalMs`; a round still running is not doubled. */
  poll(): Promise<void> {
    if (this.stopped) return Promise.resolve()
    this.polling ??= this.pollOnce()
      .catch((err: unknown) => {
        this.metrics.pollFailures.inc()
        this.components.logger.warn({ err, operator: this.operator }, 'operator: a poll failed; retrying next poll')
      })
      .finally(() => {
        this.polling = undefined
      })
    return this.polling
  }

  private async pollOnce(): Promise<void> {
    const { chain, logger } = this.components
    const { incentives } = chain
    const [head, listedNodes, sponsorshipIds] = await Promise.all([
      chain.head(),
      chain.nodesOf(this.operator),
      incentives.sponsorshipsOf(this.operator),
    ])
    const nodes = listedNodes.map((node) => node.toLowerCase())
    if (!nodes.includes(this.self)) {
      if (this.listed) {
        logger.warn(
          { operator: this.operator, node: getAddress(this.self) },
          'operator: this node is no longer one of the operator’s nodes; relaying nothing until it is listed again',
        )
      }
      this.listed = false
      this.alive = []
      this.assign(new Set())
      return
    }
    this.listed = true
    const alive = await this.aliveNodes(nodes, head.timestamp)
    this.alive = alive
    const wanted = new Set<StreamPartId>()
    const withdrawable: number[] = []
    let earnings = 0n
    // A sponsorship that couldn't be read this poll: its parts are unknown, so none is left on the strength of it.
    let complete = true
    for (const id of sponsorshipIds) {
      try {
        const [sponsorship, stake] = await Promise.all([
          incentives.getSponsorship(id),
          incentives.getStake(id, this.operator),
        ])
        if (stake.kicked) continue
        if (!stake.underReview && stake.earnings > 0n) {
          earnings += stake.earnings
          withdrawable.push(id)
        }
        const partitions = Math.min(
          await this.components.client.chainState.partitionCount(sponsorship.streamId),
          MAX_PARTITIONS,
        )
        for (let partition = 0; partition < partitions; partition++) {
          const streamPartId = toStreamPartId(sponsorship.streamId as StreamId, partition)
          if (rendezvousHolders(alive, streamPartId, this.config.replicas).includes(this.self)) wanted.add(streamPartId)
        }
      } catch (err) {
        complete = false
        logger.warn({ err, sponsorshipId: id }, 'operator: could not read a sponsorship; retrying next poll')
      }
    }
    this.assign(wanted, complete)
    // Each duty on its own: a withdrawal refused must not hold up a review, nor the other way round.
    if (
      earnings >= this.threshold &&
      earnings > 0n &&
      rendezvousOrder(alive, `withdraw:${this.operator}`)[0] === this.self
    ) {
      try {
        await incentives.withdrawEarnings(this.operator, withdrawable)
        this.metrics.withdrawals.inc({ result: 'sent' })
        logger.info(
          { operator: this.operator, earnings: formatUnits(earnings, 18), sponsorships: withdrawable },
          'operator: collected earnings',
        )
      } catch (err) {
        this.metrics.withdrawals.inc({ result: 'failed' })
        logger.warn({ err, operator: this.operator }, 'operator: collecting earnings failed; retrying next poll')
      }
    }
    if (this.config.review.enabled) await this.followReviews(head.number, alive)
  }

  /**
   * The listed nodes with a fresh heartbeat (this node always: it is alive by running this). A node is alive while
   * its last heartbeat is at most `staleAfterHeartbeats` intervals old on the chain's clock, or changed within that
   * long on this node's clock: a busy dev chain's blocks run ahead of the wall clock (one second per block at least),
   * which alone would make live nodes look stale.
   */
  private async aliveNodes(nodes: readonly string[], chainNow: number): Promise<string[]> {
    const staleMs = this.config.staleAfterHeartbeats * this.config.heartbeatIntervalMs
    const now = this.components.clock.now()
    const alive = await Promise.all(
      nodes.map(async (node) => {
        if (node === this.self) return true
        const at = await this.components.chain.incentives.lastHeartbeat(this.operator, node as Address)
        if (at === 0) return false
        const seen = this.heartbeatsSeen.get(node)
        if (seen?.at !== at) this.heartbeatsSeen.set(node, { at, changedAt: now })
        const changedAt = seen?.at === at ? seen.changedAt : now
        return (chainNow - at) * 1000 <= staleMs || (seen !== undefined && now - changedAt <= staleMs)
      }),
    )
    for (const node of this.heartbeatsSeen.keys()) if (!nodes.includes(node)) this.heartbeatsSeen.delete(node)
    return nodes.filter((_, i) => alive[i])
  }

  /** Joins the parts newly assigned to this node and (with `leave`) leaves those no longer assigned. */
  private assign(wanted: ReadonlySet<StreamPartId>, leave = true): void {
    const { client, logger } = this.components
    for (const [streamPartId, relay] of this.relays) {
      if (!leave || wanted.has(streamPartId)) continue
      this.relays.delete(streamPartId)
      void relay.then((release) => release?.())
      logger.info({ streamPartId, operator: this.operator }, 'operator: no longer relaying a stream part')
    }
    for (const streamPartId of wanted) {
      if (this.relays.has(streamPartId)) continue
      const relay = client.relay(streamPartId).then(
        (release) => {
          if (this.stopped || this.relays.get(streamPartId) !== relay) {
            release()
            return undefined
          }
          return release
        },
        (err: unknown) => {
          if (this.relays.get(streamPartId) === relay) this.relays.delete(streamPartId)
          logger.warn({ err, streamPartId }, 'operator: could not join a stream part; retrying next poll')
          return undefined
        },
      )
      this.relays.set(streamPartId, relay)
      logger.info({ streamPartId, operator: this.operator }, 'operator: relaying a stream part')
    }
    this.metrics.streamParts.set(this.relays.size)
  }

  private async heartbeat(): Promise<void> {
    if (this.stopped) return
    const { client, chain, logger } = this.components
    const addresses = this.config.publicAddresses ?? client.networkNode.descriptor.addresses
    try {
      await chain.incentives.heartbeat(this.operator, encodeHeartbeat({ nodeId: this.self, addresses }))
      this.metrics.heartbeats.inc({ result: 'sent' })
      logger.debug({ operator: this.operator, addresses }, 'operator: heartbeat sent')
    } catch (err) {
      this.metrics.heartbeats.inc({ result: 'failed' })
      logger.warn({ err, operator: this.operator }, 'operator: a heartbeat failed; retrying at the next interval')
    }
  }

  /**
   * Follows the flags this operator was picked to review until it has voted or they close. One node of the operator
   * reviews each flag, the first live one in the flag's rendezvous order, so another takes over if it dies.
   */
  private async followReviews(head: bigint, alive: readonly string[]): Promise<void> {
    const { incentives } = this.components.chain
    const lookback = BigInt(this.config.lookbackBlocks)
    const from = this.reviewFrom ?? (head > lookback ? head - lookback : 0n)
    for (const request of await incentives.reviewRequests(this.operator, from)) {
      if (this.openReviews.size >= MAX_OPEN_REVIEWS) break
      this.openReviews.set(request.flagId, request)
      // Inclusive: more requests of the same block may be left for the next poll (one already open is not doubled).
      this.reviewFrom = request.blockNumber
    }
    if (this.openReviews.size < MAX_OPEN_REVIEWS) this.reviewFrom = head + 1n
    for (const [flagId, request] of this.openReviews) {
      if (!(await this.components.chain.awaitsVote(flagId, this.operator))) {
        this.openReviews.delete(flagId)
        this.verdicts.delete(flagId)
        continue
      }
      const flag = await incentives.getFlag(flagId)
      if (flag.status !== 'open') {
        this.openReviews.delete(flagId)
        this.verdicts.delete(flagId)
        continue
      }
      if (rendezvousOrder(alive, `review:${flagId}`)[0] !== this.self) continue
      const evidence = this.verdicts.get(flagId)
      if (evidence !== undefined) await this.vote(request, evidence)
      else if (this.inspecting === undefined) this.startInspection(request)
    }
  }

  /** Inspects in the background (one flag at a time: the window is long); the vote goes out when it is done. */
  private startInspection(request: ReviewRequest): void {
    const { logger } = this.components
    this.inspecting = this.inspect(request)
      .then(async (evidence) => {
        this.verdicts.set(request.flagId, evidence)
        this.evidenceLog.push(evidence)
        if (this.evidenceLog.length > MAX_EVIDENCE) this.evidenceLog.shift()
        logger.info(
          { flagId: request.flagId, target: request.target, sponsorshipId: request.sponsorshipId, ...evidence },
          'operator: inspected a flagged operator',
        )
        if (!this.stopped) await this.vote(request, evidence)
      })
      .catch((err: unknown) => {
        if (!this.stopped)
          logger.warn({ err, flagId: request.flagId }, 'operator: an inspection failed; retrying next poll')
      })
      .finally(() => {
        this.inspecting = undefined
      })
  }

  private inspect(request: ReviewRequest): Promise<InspectionEvidence> {
    return this.inspectOperator(request.sponsorshipId, request.target, this.inspections.signal)
  }

  /** Inspects `target`'s nodes on the sponsorship's stream, reaching them at their latest heartbeats' addresses. */
  private async inspectOperator(
    sponsorshipId: number,
    target: Address,
    signal: AbortSignal,
  ): Promise<InspectionEvidence> {
    const { chain, client } = this.components
    const [sponsorship, targetNodes, head] = await Promise.all([
      chain.incentives.getSponsorship(sponsorshipId),
      chain.nodesOf(target),
      chain.head(),
    ])
    const lookback = BigInt(this.config.lookbackBlocks)
    const heartbeats = await chain.heartbeats(target, head.number > lookback ? head.number - lookback : 0n)
    return this.inspector.inspect(
      {
        streamId: sponsorship.streamId,
        partitions: await client.chainState.partitionCount(sponsorship.streamId),
        targetNodes: new Map(targetNodes.map((node) => [node.toLowerCase(), heartbeats.get(node.toLowerCase())])),
      },
      signal,
    )
  }

  private async vote(request: ReviewRequest, evidence: InspectionEvidence): Promise<void> {
    const kick = evidence.verdict === 'kick'
    try {
      await this.components.chain.incentives.vote(this.operator, request.flagId, kick)
      this.metrics.votes.inc({ vote: kick ? 'kick' : 'keep' })
      this.components.logger.info(
        { flagId: request.flagId, target: request.target, kick, reason: evidence.reason },
        'operator: voted on a flag',
      )
    } catch (err) {
      this.components.logger.warn({ err, flagId: request.flagId }, 'operator: a vote failed; retrying next poll')
      return
    }
    this.openReviews.delete(request.flagId)
    this.verdicts.delete(request.flagId)
  }
}
