import { Argument, Option, type Command } from 'commander'
import type { SponsorshipInfo, StakeInfo } from '@runnel/chain'
import { formatRnl, parseRnl, showRnl } from '../amounts.js'
import { withClient } from '../client.js'
import { note, printJson, printLine, type CliContext } from '../context.js'
import {
  defineSubcommand,
  idArgument,
  printFields,
  sponsorshipFields,
  sponsorshipJson,
  stakeJson,
  stakeLine,
} from '../incentives.js'
import { checkStreamPath, integerOption, requireKey, settingsOf, type JsonOption } from '../options.js'

interface CreateOptions extends JsonOption {
  readonly rate: string
  readonly minOperators?: number
  readonly maxOperators?: number
  readonly minStay?: number
  readonly penalty?: string
  readonly fund?: string
}

/** `runnel sponsorship …`: paying operators, in RNL per second, to carry a stream. */
export function registerSponsorshipCommands(program: Command, context: CliContext): void {
  const sponsorship = program
    .command('sponsorship')
    .description('pay operators to carry a stream: create, fund, list and show sponsorships')
    .addHelpText(
      'after',
      `
A sponsorship pays its rate (RNL per second) to the operators staked on it, split by stake, while at least
--min-operators are staked and funds remain. Anyone may create or fund one; create and fund are transactions
from your key. Amounts are RNL in decimals (100, 12.5).`,
    )

  defineSubcommand(
    sponsorship,
    'create',
    'create a sponsorship of an existing stream, funded in the same transaction with --fund',
    ['runnel sponsorship create /greenhouse/climate --rate 0.5 --min-operators 2 --fund 10000'],
    (command) =>
      command
        .argument('<streamId>', 'a stream id, or a /path of your own')
        .requiredOption('--rate <RNL/s>', 'RNL paid per second, split among the staked operators by stake')
        .option(
          '--min-operators <n>',
          'it pays only while this many are staked (default 1)',
          integerOption('--min-operators', 1, 1000),
        )
        .option(
          '--max-operators <n>',
          'at most this many stake (default 100)',
          integerOption('--max-operators', 1, 1000),
        )
        .option(
          '--min-stay <seconds>',
          'an operator leaving sooner pays --penalty to the sponsorship (default 0)',
          integerOption('--min-stay', 0, 2 ** 32),
        )
        .option('--penalty <RNL>', 'the early leave penalty (default 0)')
        .option('--fund <RNL>', 'RNL to fund it with (default: none; see `sponsorship fund`)'),
  ).action(async (streamId: string, options: CreateOptions, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'creating a sponsorship')
    const ratePerSecond = parseRnl(options.rate, '--rate')
    const earlyLeavePenalty =
      options.penalty === undefined ? 0n : parseRnl(options.penalty, '--penalty', { allowZero: true })
    const funding = options.fund === undefined ? 0n : parseRnl(options.fund, '--fund')
    const created = await withClient(settings, async (client) => {
      const { id } = await client.getStream(streamId)
      return client.incentives.createSponsorship(
        {
          streamId: id,
          ratePerSecond,
          ...(options.minOperators !== undefined && { minOperators: options.minOperators }),
          ...(options.maxOperators !== undefined && { maxOperators: options.maxOperators }),
          ...(options.minStay !== undefined && { minStaySeconds: options.minStay }),
          earlyLeavePenalty,
        },
        funding,
      )
    })
    printSponsorship(context, created, [], options)
  })

  defineSubcommand(sponsorship, 'fund', 'add RNL to a sponsorship', ['runnel sponsorship fund 1 5000'], (command) =>
    command
      .addArgument(new Argument('<id>', 'the sponsorship').argParser(idArgument('<id>')))
      .argument('<amount>', 'RNL to add'),
  ).action(async (id: number, amountArgument: string, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'funding a sponsorship')
    const amount = parseRnl(amountArgument, '<amount>')
    const funded = await withClient(settings, async (client) => {
      // Refused before any token moves: a transfer to a missing id would revert anyway, with a vaguer reason.
      await client.incentives.getSponsorship(id)
      await client.incentives.sponsor(id, amount)
      return client.incentives.getSponsorship(id)
    })
    if (options.json === true) printJson(context, { ...sponsorshipJson(funded), funded: formatRnl(amount) })
    else printLine(context, `funded sponsorship ${id} with ${showRnl(amount)}; ${showRnl(funded.unallocated)} left`)
  })

  defineSubcommand(
    sponsorship,
    'list',
    'list sponsorships, oldest first',
    ['runnel sponsorship list', 'runnel sponsorship list --stream 0x3c44…93bc/greenhouse/climate --json'],
    (command) => command.addOption(new Option('--stream <streamId>', 'only those of this stream')),
  ).action(async (options: JsonOption & { stream?: string }, command: Command) => {
    const settings = await settingsOf(command, context)
    if (options.stream !== undefined) checkStreamPath(settings, options.stream)
    const found = await withClient(settings, async (client) => {
      const streamId = options.stream === undefined ? undefined : (await client.getStream(options.stream)).id
      return client.incentives.listSponsorships(streamId === undefined ? {} : { streamId })
    })
    if (options.json === true) {
      printJson(context, found.map(sponsorshipJson))
      return
    }
    if (found.length === 0) note(context, 'no sponsorships')
    for (const each of found) {
      printLine(
        context,
        `${each.id}  ${each.streamId}  ${showRnl(each.ratePerSecond)}/s  ${showRnl(each.unallocated)} left  ${each.operatorCount} operators  ${each.paying ? 'paying' : 'not paying'}`,
      )
    }
  })

  defineSubcommand(
    sponsorship,
    'show',
    'show a sponsorship: its terms, funds left and how long they last, and its operators with stake and earnings',
    ['runnel sponsorship show 1'],
    (command) => command.addArgument(new Argument('<id>', 'the sponsorship').argParser(idArgument('<id>'))),
  ).action(async (id: number, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    const { shown, stakes } = await withClient(settings, async (client) => {
      const shown = await client.incentives.getSponsorship(id)
      return { shown, stakes: await client.incentives.stakesOn(id) }
    })
    printSponsorship(context, shown, stakes, options)
  })
}

function printSponsorship(
  context: CliContext,
  sponsorship: SponsorshipInfo,
  stakes: readonly StakeInfo[],
  options: JsonOption,
): void {
  if (options.json === true) {
    printJson(context, { ...sponsorshipJson(sponsorship), stakes: stakes.map(stakeJson) })
    return
  }
  printFields(context, `sponsorship ${sponsorship.id}`, sponsorshipFields(sponsorship))
  if (stakes.length > 0) printLine(context, '  operators (earnings as of the latest block):')
  for (const stake of stakes) printLine(context, `    ${stakeLine(stake, stake.operator.toLowerCase())}`)
}
