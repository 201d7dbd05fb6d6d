import { ChainError, type StakeInfo } from '@runnel/chain'
import { sleep, type Clock, type Timer } from '@runnel/protocol'
import { formatUnits, getAddress, type Address } from 'viem'
import type { Logger } from '../../logger.js'
import type { InspectionEvidence } from './Inspector.js'
import type { OperatorChain } from './OperatorChain.js'
import type { OperatorMetrics } from './operatorMetrics.js'

/** Inspections in a row that must find a target relaying (almost) nothing before it is flagged. */
export const CONFIRMATIONS = 2
/** Sponsorships looked through for a target in one round; the rest wait for later rounds (random order). */
const MAX_SPONSORSHIPS_PER_ROUND = 3
/** Targets remembered as inspected recently; the oldest are forgotten first. */
const MAX_RECENT = 1024
/** A target inspected within this many intervals is skipped, so one operator's rounds go round its peers. */
const RECENT_INTERVALS = 3
/** Auto-inspections kept for `autoInspections` (newest last). */
const MAX_AUTO_EVIDENCE = 16
const HOUR_MS = 3_600_000
/** Refusals of a flag that are the chain's state, not a fault: someone else flagged first, stake busy, nobody to review. */
const NORMAL_REFUSALS = new Set(['ALREADY_FLAGGED', 'STAKE_LOCKED', 'NO_REVIEWERS', 'NOT_STAKED', 'KICKED'])

export interface AutoFlagSettings {
  readonly intervalMs: number
  readonly confirmDelayMs: number
  readonly maxFlagsPerHour: number
}

/** What the node needs to auto-flag: the chain, the inspector, and the plugin's view of its duty and its reviews. */
export interface AutoFlaggerComponents {
  readonly operator: Address
  readonly chain: OperatorChain
  readonly logger: Logger
  readonly clock: Clock
  readonly metrics: OperatorMetrics
  /** Whether this node is the one of its operator that auto-inspects now (rendezvous duty, like collecting). */
  readonly isDutyOwner: () => boolean
  /** The review inspection running, if any: reviews go first, auto-inspections wait for them. */
  readonly reviewInspection: () => Promise<void> | undefined
  readonly inspect: (sponsorshipId: number, target: Address, signal: AbortSignal) => Promise<InspectionEvidence>
  /** Aborted when the node stops. */
  readonly signal: AbortSignal
  /** In [0, 1); picks targets and jitters the interval. Default `Math.random`. */
  readonly random?: () => number
}

/** What the verdicts of one round's inspections of a target (oldest first) call for. */
export type AutoFlagDecision = 'flag' | 'inspect-again' | 'no-flag'

/** One auto-inspection, as kept in `OperatorPlugin.autoInspections` and logged. */
export interface AutoInspection {
  readonly sponsorshipId: number
  readonly target: Address
  /** 1 for a round's first inspection, 2 for its confirmation. */
  readonly inspection: number
  readonly evidence: InspectionEvidence
  readonly decision: AutoFlagDecision
  /** The flag sent on this inspection's evidence, if one was. */
  flagId?: number
}

/**
 * The rule: flag only when {@link CONFIRMATIONS} inspections in a row found the target relaying (almost) nothing of
 * real traffic (each verdict `kick`, judged as a reviewer's vote is). One `keep` ends the round without a flag: one
 * bad window (a restart, a network hiccup, the probe's own connection) must not cost the flagger its flag stake.
 */
export function autoFlagDecision(
  verdicts: readonly InspectionEvidence['verdict'][],
  confirmations = CONFIRMATIONS,
): AutoFlagDecision {
  if (verdicts.includes('keep')) return 'no-flag'
  return verdicts.length >= confirmations ? 'flag' : 'inspect-again'
}

/**
 * Picks the operator to inspect among a sponsorship's stakes, uniformly at random among the eligible: not this
 * operator, still staked, not kicked, not under review (an open flag: `openFlagOn`), not inspected recently.
 */
export function pickAutoFlagTarget(
  stakes: readonly StakeInfo[],
  self: Address,
  inspectedRecently: (stake: StakeInfo) => boolean,
  random: () => number,
): StakeInfo | undefined {
  const candidates = stakes.filter(
    (stake) =>
      stake.operator.toLowerCase() !== self.toLowerCase() &&
      stake.amount > 0n &&
      !stake.kicked &&
      !stake.underReview &&
      !inspectedRecently(stake),
  )
  return candidates.length === 0 ? undefined : candidates[Math.floor(random() * candidates.length)]
}

/** `intervalMs` ±25%, so the operators of a network that started together don't inspect in lockstep. */
export function jitteredInterval(intervalMs: number, random: () => number): number {
  return Math.round(intervalMs * (0.75 + 0.5 * random()))
}

/** Flags sent within the last hour, at most `max` remembered: a sliding window. */
export class FlagBudget {
  private readonly sent: number[] = []

  constructor(private readonly max: number) {}

  /** Whether another flag may go out at `now`. */
  allows(now: number): boolean {
    while (this.sent.length > 0 && now - this.sent[0]! >= HOUR_MS) this.sent.shift()
    return this.sent.length < this.max
  }

  record(now: number): void {
    this.sent.push(now)
    if (this.sent.length > this.max) this.sent.shift()
  }
}

/**
 * Inspects, unasked, the other operators staked on this operator's sponsorships, and flags one that relays
 * (almost) nothing in {@link CONFIRMATIONS} inspections in a row, `confirmDelayMs` apart. One round every
 * `intervalMs` (jittered), only on the node that holds the duty, never two at once, and never while a review
 * inspection runs; at most `maxFlagsPerHour` flags, and only with the flag stake free on the sponsorship. Nothing here
 * throws: a failed round is logged and the next one comes at the next interval.
 */
export class AutoFlagger {
  private readonly random: () => number
  private readonly recent = new Map<string, number>()
  private readonly budget: FlagBudget
  private readonly log: AutoInspection[] = []
  private timer: Timer | undefined
  private running: Promise<void> | undefined
  private stopped = false

  constructor(
    private readonly components: AutoFlaggerComponents,
    private readonly settings: AutoFlagSettings,
  ) {
    this.random = components.random ?? Math.random
    this.budget = new FlagBudget(settings.maxFlagsPerHour)
  }

  /** The latest auto-inspections (at most 16, newest last). */
  get inspections(): readonly AutoInspection[] {
    return this.log
  }

  start(): void {
    this.schedule()
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.timer?.cancel()
    await this.running
  }

  private schedule(): void {
    if (this.stopped) return
    const delay = jitteredInterval(this.settings.intervalMs, this.random)
    this.timer = this.components.clock.setTimeout(
      () => {
        this.running = this.round()
          .catch((err: unknown) => {
            if (!this.stopped && !this.components.signal.aborted)
              this.components.logger.warn(
                { err, operator: this.components.operator },
                'operator: an auto-inspection failed; trying again next interval',
              )
          })
          .finally(() => {
            this.running = undefined
            this.schedule()
          })
      },
      delay,
      { unref: true },
    )
  }

  /** One round: choose a target, inspect it until the rule decides, flag if it says so. */
  private async round(): Promise<void> {
    const { logger, clock, operator } = this.components
    if (!this.components.isDutyOwner()) return
    if (!this.budget.allows(clock.now())) {
      logger.debug({ operator }, 'operator: auto-flag budget for this hour spent; not inspecting')
      return
    }
    await this.afterReviews()
    const choice = await this.chooseTarget()
    if (choice === undefined) {
      logger.debug({ operator }, 'operator: no operator to auto-inspect this round')
      return
    }
    const { sponsorshipId, target } = choice
    const evidences: InspectionEvidence[] = []
    for (;;) {
      if (evidences.length > 0) {
        await sleep(clock, this.settings.confirmDelayMs, this.components.signal)
        await this.afterReviews()
        if (!(await this.stillFlaggable(sponsorshipId, target))) return
      }
      const evidence = await this.components.inspect(sponsorshipId, target, this.components.signal)
      this.remember(sponsorshipId, target)
      evidences.push(evidence)
      const decision = autoFlagDecision(evidences.map(({ verdict }) => verdict))
      const entry: AutoInspection = { sponsorshipId, target, inspection: evidences.length, evidence, decision }
      this.log.push(entry)
      if (this.log.length > MAX_AUTO_EVIDENCE) this.log.shift()
      this.components.metrics.autoInspections.inc({ verdict: evidence.verdict })
      logger.info(
        {
          operator,
          sponsorshipId,
          target,
          inspection: evidences.length,
          verdict: evidence.verdict,
          reason: evidence.reason,
          messagesSeen: evidence.messagesSeen,
          relayedByTarget: evidence.relayedByTarget,
          decision,
        },
        decision === 'flag'
          ? 'operator: auto-inspected an operator; inspections in a row found it relays too little: flagging'
          : decision === 'inspect-again'
            ? 'operator: auto-inspected an operator; it relayed too little: inspecting again before flagging'
            : 'operator: auto-inspected an operator; not flagging',
      )
      if (decision === 'flag') return this.flag(sponsorshipId, target, evidences, entry)
      if (decision === 'no-flag') return
    }
  }

  private async flag(
    sponsorshipId: number,
    target: Address,
    evidences: readonly InspectionEvidence[],
    last: AutoInspection,
  ): Promise<void> {
    const { chain, logger, clock, metrics, operator } = this.components
    if (!this.budget.allows(clock.now())) return
    const inspections = evidences.map((evidence) => ({
      messagesSeen: evidence.messagesSeen,
      relayed: Object.values(evidence.relayedByTarget).reduce((sum, frames) => sum + frames, 0),
      windowMs: evidence.windowMs,
    }))
    // Small (the Flagged event carries it): the counts the verdicts rest on, for anyone reading the flag.
    const metadata = JSON.stringify({ auto: true, inspections })
    try {
      const flagId = await chain.incentives.flag(operator, sponsorshipId, target, metadata)
      this.budget.record(clock.now())
      last.flagId = flagId
      metrics.autoFlags.inc({ result: 'sent' })
      logger.info({ operator, sponsorshipId, target, flagId, inspections }, 'operator: flagged an operator')
    } catch (err) {
      if (err instanceof ChainError && NORMAL_REFUSALS.has(err.code)) {
        metrics.autoFlags.inc({ result: 'refused' })
        logger.info(
          { operator, sponsorshipId, target, code: err.code, reason: err.message },
          'operator: the chain refused the flag; moving on',
        )
      } else {
        // Counted against the budget: the flag may have gone through and its pick failed (two transactions).
        this.budget.record(clock.now())
        metrics.autoFlags.inc({ result: 'failed' })
        logger.warn({ err, operator, sponsorshipId, target }, 'operator: a flag failed; the target may be chosen again')
      }
    }
  }

  /** A sponsorship of this operator with the flag stake free, and an eligible target on it; random, bounded reads. */
  private async chooseTarget(): Promise<{ sponsorshipId: number; target: Address } | undefined> {
    const { chain, logger, operator, clock } = this.components
    const { incentives } = chain
    const ids = await incentives.sponsorshipsOf(operator)
    const flagStake = await chain.flagStake()
    const recentMs = RECENT_INTERVALS * this.settings.intervalMs
    const now = clock.now()
    for (const sponsorshipId of this.shuffled(ids).slice(0, MAX_SPONSORSHIPS_PER_ROUND)) {
      const own = await incentives.getStake(sponsorshipId, operator)
      if (own.kicked || own.amount - own.locked < flagStake) {
        logger.debug(
          { operator, sponsorshipId, free: formatUnits(own.amount - own.locked, 18) },
          'operator: not enough free stake to flag on this sponsorship; not inspecting its operators',
        )
        continue
      }
      const stake = pickAutoFlagTarget(
        await incentives.stakesOn(sponsorshipId),
        operator,
        (candidate) => now - (this.recent.get(recentKey(sponsorshipId, candidate.operator)) ?? -Infinity) < recentMs,
        this.random,
      )
      if (stake !== undefined) return { sponsorshipId, target: getAddress(stake.operator) }
    }
    return undefined
  }

  /** Whether the target is still worth a second look: not flagged by anyone meanwhile, not kicked. */
  private async stillFlaggable(sponsorshipId: number, target: Address): Promise<boolean> {
    const { incentives } = this.components.chain
    const [open, stake] = await Promise.all([
      incentives.openFlagOn(sponsorshipId, target),
      incentives.getStake(sponsorshipId, target),
    ])
    if (open === undefined && !stake.kicked && stake.amount > 0n) return true
    this.components.logger.info(
      { operator: this.components.operator, sponsorshipId, target, openFlag: open, kicked: stake.kicked },
      'operator: an auto-inspected operator was flagged, kicked or left meanwhile; not inspecting it again',
    )
    return false
  }

  private async afterReviews(): Promise<void> {
    for (let review = this.components.reviewInspection(); review !== undefined;) {
      await review
      review = this.components.reviewInspection()
    }
    this.components.signal.throwIfAborted()
  }

  private remember(sponsorshipId: number, target: Address): void {
    const key = recentKey(sponsorshipId, target)
    this.recent.delete(key)
    this.recent.set(key, this.components.clock.now())
    // Insertion order is age order: the first entries are the oldest.
    for (const oldest of this.recent.keys()) {
      if (this.recent.size <= MAX_RECENT) break
      this.recent.delete(oldest)
    }
  }

  private shuffled<T>(items: readonly T[]): T[] {
    const copy = [...items]
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1))
      ;[copy[i], copy[j]] = [copy[j]!, copy[i]!]
    }
    return copy
  }
}

function recentKey(sponsorshipId: number, operator: string): string {
  return `${sponsorshipId}:${operator.toLowerCase()}`
}
