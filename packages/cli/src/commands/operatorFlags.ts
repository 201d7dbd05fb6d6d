import { Argument, type Command } from 'commander'
import type { FlagInfo } from '@runnel/chain'
import { withClient } from '../client.js'
import { printJson, printLine, type CliContext } from '../context.js'
import { actingOperator, defineSubcommand, flagJson, idArgument, isoTime, printFields } from '../incentives.js'
import { parseAddressArgument, requireKey, settingsOf, type JsonOption } from '../options.js'

/** `runnel operator flag|vote|flag-show|conclude`: flagging an operator that doesn't serve, and the vote on it. */
export function registerOperatorFlagCommands(operator: Command, context: CliContext): void {
  const actAs = (command: Command): Command =>
    command.option(
      '--operator <address>',
      'act for this operator, when your key is one of its nodes (default: your own)',
    )

  defineSubcommand(
    operator,
    'flag',
    'flag an operator staked on the same sponsorship as yours for not serving its stream; reviewers then vote',
    ['runnel operator flag 1 0x9a67…8f2c --metadata \'{"missed":120}\''],
    (command) =>
      actAs(
        command
          .addArgument(new Argument('<sponsorshipId>', 'the sponsorship').argParser(idArgument('<sponsorshipId>')))
          .argument('<target>', 'the operator contract to flag')
          .option('--metadata <json>', 'what was seen, public on chain'),
      ),
  ).action(
    async (
      id: number,
      targetArgument: string,
      options: JsonOption & { operator?: string; metadata?: string },
      command: Command,
    ) => {
      const settings = await settingsOf(command, context)
      requireKey(settings, 'flagging')
      const target = parseAddressArgument(targetArgument, '<target>')
      const given = options.operator === undefined ? undefined : parseAddressArgument(options.operator, '--operator')
      const flag = await withClient(settings, async (client) => {
        const flagger = await actingOperator(client.incentives, given)
        const flagId = await client.incentives.flag(flagger, id, target, options.metadata ?? '')
        return client.incentives.getFlag(flagId)
      })
      if (options.json === true) printJson(context, flagJson(flag))
      else
        printLine(
          context,
          `flag ${flag.id}: ${flag.target.toLowerCase()} on sponsorship ${id}, reviewers ${flag.reviewers.map((each) => each.toLowerCase()).join(', ')}; voting ends ${isoTime(flag.deadline)}`,
        )
    },
  )

  defineSubcommand(
    operator,
    'vote',
    'vote on a flag your operator was picked to review: kick the flagged operator, or keep it',
    ['runnel operator vote 3 kick'],
    (command) =>
      actAs(
        command
          .addArgument(new Argument('<flagId>', 'the flag').argParser(idArgument('<flagId>')))
          .addArgument(new Argument('<verdict>', 'kick or keep').choices(['kick', 'keep'])),
      ),
  ).action(
    async (flagId: number, verdict: 'kick' | 'keep', options: JsonOption & { operator?: string }, command: Command) => {
      const settings = await settingsOf(command, context)
      requireKey(settings, 'voting')
      const given = options.operator === undefined ? undefined : parseAddressArgument(options.operator, '--operator')
      const flag = await withClient(settings, async (client) => {
        const reviewer = await actingOperator(client.incentives, given)
        await client.incentives.vote(reviewer, flagId, verdict === 'kick')
        return client.incentives.getFlag(flagId)
      })
      if (options.json === true) printJson(context, { ...flagJson(flag), voted: verdict })
      else printLine(context, `voted ${verdict} on flag ${flagId}: ${describeStatus(flag)}`)
    },
  )

  defineSubcommand(
    operator,
    'flag-show',
    'show a flag: who flagged whom, the reviewers, the votes and the outcome',
    ['runnel operator flag-show 3 --json'],
    (command) => command.addArgument(new Argument('<flagId>', 'the flag').argParser(idArgument('<flagId>'))),
  ).action(async (flagId: number, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    const flag = await withClient(settings, (client) => client.incentives.getFlag(flagId))
    if (options.json === true) {
      printJson(context, flagJson(flag))
      return
    }
    printFields(context, `flag ${flag.id}`, [
      ['sponsorship', String(flag.sponsorshipId)],
      ['flagger', flag.flagger.toLowerCase()],
      ['target', flag.target.toLowerCase()],
      ['flagged at', isoTime(flag.flaggedAt)],
      ['voting ends', isoTime(flag.deadline)],
      ['reviewers', flag.reviewers.map((each) => each.toLowerCase()).join(', ')],
      ['votes', `${flag.kickVotes} kick, ${flag.keepVotes} keep`],
      ['status', describeStatus(flag)],
    ])
  })

  defineSubcommand(
    operator,
    'conclude',
    'end a flag on the votes cast once its voting period is over (anyone may)',
    ['runnel operator conclude 3'],
    (command) => command.addArgument(new Argument('<flagId>', 'the flag').argParser(idArgument('<flagId>'))),
  ).action(async (flagId: number, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'concluding a flag')
    const flag = await withClient(settings, async (client) => {
      await client.incentives.conclude(flagId)
      return client.incentives.getFlag(flagId)
    })
    if (options.json === true) printJson(context, flagJson(flag))
    else printLine(context, `concluded flag ${flagId}: ${describeStatus(flag)}`)
  })
}

function describeStatus(flag: FlagInfo): string {
  switch (flag.status) {
    case 'open':
      return `open (${flag.kickVotes} kick, ${flag.keepVotes} keep of ${flag.reviewers.length} reviewers)`
    case 'kicked':
      return 'kicked: the target was slashed and removed from the sponsorship'
    case 'false-flag':
      return "a false flag: the flagger's flag stake was slashed"
    case 'inconclusive':
      return 'inconclusive: no majority before the deadline'
  }
}
