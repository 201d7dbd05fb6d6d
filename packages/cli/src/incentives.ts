import { InvalidArgumentError, type Command } from 'commander'
import type { FlagInfo, OperatorInfo, RunnelIncentives, SponsorshipInfo, StakeInfo } from '@runnel/chain'
import { CliError } from './errors.js'
import { formatDuration, formatRnl, formatShares, showRnl } from './amounts.js'
import { printLine, type CliContext } from './context.js'
import { addJsonOption, addSettingsOptions } from './options.js'

/**
 * A subcommand of `token`, `sponsorship` or `operator`, with `--json`, the settings options and examples after its
 * help.
 */
export function defineSubcommand(
  parent: Command,
  name: string,
  description: string,
  examples: readonly string[],
  configure: (command: Command) => Command = (command) => command,
): Command {
  return addSettingsOptions(addJsonOption(configure(parent.command(name).description(description)))).addHelpText(
    'after',
    `\nExample:\n${examples.map((example) => `  $ ${example}`).join('\n')}`,
  )
}

/** A commander parser for a sponsorship or flag id (a bad one is a usage error). */
export function idArgument(name: string): (value: string) => number {
  return (value) => {
    const parsed = Number(value)
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < 1) {
      throw new InvalidArgumentError(`${name} must be a whole number ≥ 1`)
    }
    return parsed
  }
}

/**
 * The operator contract the key acts for: `--operator` when given (a node acting for its operator), else the one
 * the key owns.
 *
 * @throws {@link CliError} `INVALID_INPUT` when the key owns none and no `--operator` is given
 */
export async function actingOperator(
  incentives: RunnelIncentives,
  given: `0x${string}` | undefined,
): Promise<`0x${string}`> {
  if (given !== undefined) return given
  const own = await incentives.operatorOf()
  if (own === undefined) {
    throw new CliError(
      'INVALID_INPUT',
      `${incentives.account.toLowerCase()} owns no operator: run \`runnel operator create\` first, or pass --operator <address> to act as one of an operator's nodes`,
    )
  }
  return own
}

/** Prints `  key  value` lines under a heading, keys padded to one width. */
export function printFields(context: CliContext, heading: string, fields: readonly [string, string][]): void {
  printLine(context, heading)
  const width = Math.max(...fields.map(([key]) => key.length))
  for (const [key, value] of fields) printLine(context, `  ${key.padEnd(width)}  ${value}`)
}

/**
 * Seconds until a sponsorship's funds run out at its rate: the time it can keep paying once (or while) it has enough
 * operators.
 */
export function runwaySeconds(sponsorship: SponsorshipInfo): bigint {
  return sponsorship.ratePerSecond === 0n ? 0n : sponsorship.unallocated / sponsorship.ratePerSecond
}

export function sponsorshipFields(sponsorship: SponsorshipInfo): [string, string][] {
  const runway = formatDuration(runwaySeconds(sponsorship))
  return [
    ['stream', sponsorship.streamId],
    ['creator', sponsorship.creator.toLowerCase()],
    ['rate', `${showRnl(sponsorship.ratePerSecond)}/s`],
    ['operators', `${sponsorship.operatorCount} (min ${sponsorship.minOperators}, max ${sponsorship.maxOperators})`],
    [
      'min stay',
      `${formatDuration(BigInt(sponsorship.minStaySeconds))} (early leave penalty ${showRnl(sponsorship.earlyLeavePenalty)})`,
    ],
    ['funds left', showRnl(sponsorship.unallocated)],
    [
      'paying',
      sponsorship.paying
        ? `yes, funds last ${runway} at this rate`
        : sponsorship.unallocated === 0n
          ? 'no, out of funds'
          : `no, needs ${sponsorship.minOperators} operators; funds last ${runway} at this rate once paying`,
    ],
    ['total stake', showRnl(sponsorship.totalStake)],
  ]
}

/** Amounts as RNL decimal strings, like the text output, so scripts needn't know the decimals. */
export function sponsorshipJson(sponsorship: SponsorshipInfo): Record<string, unknown> {
  return {
    id: sponsorship.id,
    streamId: sponsorship.streamId,
    creator: sponsorship.creator.toLowerCase(),
    ratePerSecond: formatRnl(sponsorship.ratePerSecond),
    minOperators: sponsorship.minOperators,
    maxOperators: sponsorship.maxOperators,
    minStaySeconds: sponsorship.minStaySeconds,
    earlyLeavePenalty: formatRnl(sponsorship.earlyLeavePenalty),
    fundsLeft: formatRnl(sponsorship.unallocated),
    secondsOfFundsLeft: Number(runwaySeconds(sponsorship)),
    totalStake: formatRnl(sponsorship.totalStake),
    operatorCount: sponsorship.operatorCount,
    paying: sponsorship.paying,
  }
}

export function stakeJson(stake: StakeInfo): Record<string, unknown> {
  return {
    sponsorshipId: stake.sponsorshipId,
    operator: stake.operator.toLowerCase(),
    stake: formatRnl(stake.amount),
    locked: formatRnl(stake.locked),
    earnings: formatRnl(stake.earnings),
    joinedAt: stake.joinedAt,
    underReview: stake.underReview,
    kicked: stake.kicked,
  }
}

/** One stake as a line: amount, earnings so far, and what holds it. */
export function stakeLine(stake: StakeInfo, subject: string): string {
  const notes = [
    stake.locked > 0n ? `${showRnl(stake.locked)} locked by flags` : undefined,
    stake.underReview ? 'under review' : undefined,
    stake.kicked ? 'kicked' : undefined,
  ].filter((note) => note !== undefined)
  return `${subject}  stake ${showRnl(stake.amount)}  earned ${showRnl(stake.earnings)}${notes.length > 0 ? `  (${notes.join(', ')})` : ''}`
}

export function operatorJson(operator: OperatorInfo): Record<string, unknown> {
  return {
    address: operator.address.toLowerCase(),
    owner: operator.owner.toLowerCase(),
    cutPercent: operator.cutBps / 100,
    metadata: operator.metadata,
    nodes: operator.nodes.map((node) => node.toLowerCase()),
    totalAssets: formatRnl(operator.totalAssets),
    totalShares: formatShares(operator.totalShares),
    queuedShares: formatShares(operator.queuedShares),
    queueLength: operator.queueLength,
    stakes: operator.stakes.map(stakeJson),
  }
}

export function flagJson(flag: FlagInfo): Record<string, unknown> {
  return {
    id: flag.id,
    sponsorshipId: flag.sponsorshipId,
    flagger: flag.flagger.toLowerCase(),
    target: flag.target.toLowerCase(),
    flaggedAt: flag.flaggedAt,
    deadline: flag.deadline,
    reviewers: flag.reviewers.map((reviewer) => reviewer.toLowerCase()),
    kickVotes: flag.kickVotes,
    keepVotes: flag.keepVotes,
    status: flag.status,
  }
}

export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString()
}
