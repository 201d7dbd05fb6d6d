import { Argument, InvalidArgumentError, type Command } from 'commander'
import type { OperatorInfo, RunnelIncentives } from '@runnel/chain'
import type { Delegation } from '@runnel/chain'
import { formatRnl, formatShares, parseRnl, showRnl } from '../amounts.js'
import { withClient } from '../client.js'
import { note, printJson, printLine, type CliContext } from '../context.js'
import {
  actingOperator,
  defineSubcommand,
  idArgument,
  operatorJson,
  printFields,
  stakeJson,
  stakeLine,
} from '../incentives.js'
import { parseAddressArgument, requireKey, settingsOf, type JsonOption } from '../options.js'
import { registerOperatorFlagCommands } from './operatorFlags.js'

/** `runnel operator …`: operator contracts, delegation, stakes, nodes, and (in operatorFlags.ts) flags and votes. */
export function registerOperatorCommands(program: Command, context: CliContext): void {
  const operator = program
    .command('operator')
    .description('run an operator: create it, delegate to it, stake it on sponsorships, flag and vote')
    .addHelpText(
      'after',
      `
An operator is a contract (one per owner key) that pools delegated RNL, stakes it on sponsorships and collects
their earnings for its delegators; the owner keeps its cut. Its nodes (set-nodes) carry the streams, withdraw
earnings, flag operators that don't, and vote on flags they are picked to review. Commands that act for an
operator use the one your key owns, or with --operator one whose node your key is. Amounts are RNL in decimals.`,
    )

  defineSubcommand(
    operator,
    'create',
    'create the operator contract your key owns (one per key)',
    ['runnel operator create --cut 10 --metadata "greenhouse operators"'],
    (command) =>
      command
        .option('--cut <percent>', "the owner's cut of earnings, 0–100 with up to 2 decimals (default 10)", parseCut)
        .option('--metadata <text>', 'a description, public on chain'),
  ).action(async (options: JsonOption & { cut?: number; metadata?: string }, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'creating an operator')
    const created = await withClient(settings, async (client) => {
      const address = await client.incentives.createOperator({
        ...(options.cut !== undefined && { cutBps: options.cut }),
        ...(options.metadata !== undefined && { metadata: options.metadata }),
      })
      return client.incentives.getOperator(address)
    })
    printOperator(context, created, undefined, options)
  })

  defineSubcommand(
    operator,
    'show',
    'show an operator: owner, cut, nodes, assets, shares, undelegation queue, and each stake with its earnings',
    ['runnel operator show', 'runnel operator show 0x61c3…33e1 --json'],
    (command) =>
      command.argument('[address]', 'an operator contract or its owner (default: the operator your key owns)'),
  ).action(async (addressArgument: string | undefined, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    if (addressArgument === undefined) requireKey(settings, '`operator show` without an address')
    const given = addressArgument === undefined ? undefined : parseAddressArgument(addressArgument, '[address]')
    const { shown, delegation } = await withClient(settings, async (client) => {
      const address = await resolveOperator(client.incentives, given)
      const shown = await client.incentives.getOperator(address)
      // With a key, what it holds: the question a delegator asks.
      const delegation =
        settings.privateKey === undefined ? undefined : await client.incentives.getDelegation(shown.address)
      return { shown, delegation }
    })
    printOperator(context, shown, delegation, options)
  })

  defineSubcommand(operator, 'list', 'list every operator, oldest first', ['runnel operator list']).action(
    async (options: JsonOption, command: Command) => {
      const settings = await settingsOf(command, context)
      const found = await withClient(settings, async (client) => {
        const addresses = await client.incentives.listOperators()
        return Promise.all(addresses.map((address) => client.incentives.getOperator(address)))
      })
      if (options.json === true) {
        printJson(context, found.map(operatorJson))
        return
      }
      if (found.length === 0) note(context, 'no operators')
      for (const each of found) {
        printLine(
          context,
          `${each.address.toLowerCase()}  owner ${each.owner.toLowerCase()}  ${showRnl(each.totalAssets)}  ${each.stakes.length} ${each.stakes.length === 1 ? 'stake' : 'stakes'}  cut ${each.cutBps / 100}%`,
        )
      }
    },
  )

  defineSubcommand(
    operator,
    'delegate',
    'delegate RNL from your key to an operator, for shares of its assets',
    ['runnel operator delegate 0x61c3…33e1 5000'],
    (command) => command.argument('<operator>', 'the operator contract').argument('<amount>', 'RNL to delegate'),
  ).action(async (operatorArgument: string, amountArgument: string, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'delegating')
    const target = parseAddressArgument(operatorArgument, '<operator>')
    const amount = parseRnl(amountArgument, '<amount>')
    const delegation = await withClient(settings, async (client) => {
      await client.incentives.getOperator(target)
      await client.incentives.delegate(target, amount)
      return client.incentives.getDelegation(target)
    })
    if (options.json === true) printJson(context, { ...delegationJson(delegation), delegated: formatRnl(amount) })
    else
      printLine(
        context,
        `delegated ${showRnl(amount)} to ${target}; your shares are worth ${showRnl(delegation.value)}`,
      )
  })

  defineSubcommand(
    operator,
    'undelegate',
    'take RNL out of an operator: paid now from its free tokens, the rest queued until its stakes free them',
    ['runnel operator undelegate 0x61c3…33e1 1000', 'runnel operator undelegate 0x61c3…33e1 all'],
    (command) => command.argument('<operator>', 'the operator contract').argument('<amount>', 'RNL, or "all"'),
  ).action(async (operatorArgument: string, amountArgument: string, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'undelegating')
    const target = parseAddressArgument(operatorArgument, '<operator>')
    const amount = amountArgument.trim() === 'all' ? 'all' : parseRnl(amountArgument, '<amount>')
    const { paid, queued, delegation } = await withClient(settings, async (client) => {
      await client.incentives.getOperator(target)
      const before = await client.incentives.getDelegation(target)
      const balance = await client.incentives.tokenBalance()
      await client.incentives.undelegate(target, amount)
      const paid = (await client.incentives.tokenBalance()) - balance
      const delegation = await client.incentives.getDelegation(target)
      // What left the shares' value and wasn't paid waits in the queue (paid at the share value of payout time).
      const queued = before.value - delegation.value - paid
      return { paid, queued: queued > 0n ? queued : 0n, delegation }
    })
    if (options.json === true)
      printJson(context, { ...delegationJson(delegation), paidNow: formatRnl(paid), queued: formatRnl(queued) })
    else
      printLine(
        context,
        `undelegated from ${target}: ${showRnl(paid)} paid now${queued === 0n ? '' : `, about ${showRnl(queued)} queued until its stakes free tokens`}; your shares are worth ${showRnl(delegation.value)}`,
      )
  })

  defineSubcommand(
    operator,
    'stake',
    "stake your operator's RNL on a sponsorship (owner only)",
    ['runnel operator stake 1 5000'],
    (command) =>
      command
        .addArgument(new Argument('<sponsorshipId>', 'the sponsorship').argParser(idArgument('<sponsorshipId>')))
        .argument('<amount>', 'RNL of the operator to stake (added to any stake it has there)'),
  ).action(async (id: number, amountArgument: string, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'staking')
    const amount = parseRnl(amountArgument, '<amount>')
    const stake = await withClient(settings, async (client) => {
      const own = await actingOperator(client.incentives, undefined)
      await client.incentives.stake(id, amount, own)
      return client.incentives.getStake(id, own)
    })
    if (options.json === true) printJson(context, stakeJson(stake))
    else
      printLine(
        context,
        `staked ${showRnl(amount)} on sponsorship ${id}: ${stakeLine(stake, stake.operator.toLowerCase())}`,
      )
  })

  defineSubcommand(
    operator,
    'unstake',
    "take your operator's whole stake off a sponsorship, collecting its earnings (owner only)",
    ['runnel operator unstake 1'],
    (command) =>
      command.addArgument(new Argument('<sponsorshipId>', 'the sponsorship').argParser(idArgument('<sponsorshipId>'))),
  ).action(async (id: number, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'unstaking')
    const own = await withClient(settings, async (client) => {
      const own = await actingOperator(client.incentives, undefined)
      await client.incentives.unstake(id, own)
      return own
    })
    if (options.json === true) printJson(context, { sponsorshipId: id, operator: own.toLowerCase(), unstaked: true })
    else printLine(context, `unstaked ${own.toLowerCase()} from sponsorship ${id}`)
  })

  defineSubcommand(
    operator,
    'set-nodes',
    "set your operator's nodes: the keys that may heartbeat, withdraw earnings, flag and vote for it (owner only)",
    ['runnel operator set-nodes 0x90f7…b906 0x15d3…6a65'],
    (command) => command.argument('<address...>', 'the node addresses (replacing the current ones)'),
  ).action(async (addressArguments: string[], options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'setting nodes')
    const nodes = addressArguments.map((each) => parseAddressArgument(each, '<address>'))
    const own = await withClient(settings, async (client) => {
      const own = await actingOperator(client.incentives, undefined)
      await client.incentives.setNodes(nodes, own)
      return own
    })
    if (options.json === true) printJson(context, { operator: own.toLowerCase(), nodes })
    else printLine(context, `nodes of ${own.toLowerCase()}: ${nodes.join(', ')}`)
  })

  defineSubcommand(
    operator,
    'withdraw-earnings',
    "collect an operator's earnings from its sponsorships into it; the owner's cut goes to the owner",
    ['runnel operator withdraw-earnings', 'runnel operator withdraw-earnings --operator 0x61c3…33e1 --sponsorship 1 2'],
    (command) =>
      command
        .option('--operator <address>', 'the operator, when your key is one of its nodes (default: your own)')
        .option('--sponsorship <id...>', 'only these sponsorships (default: all it is staked on)'),
  ).action(async (options: JsonOption & { operator?: string; sponsorship?: string[] }, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'withdrawing earnings')
    const given = options.operator === undefined ? undefined : parseAddressArgument(options.operator, '--operator')
    const ids = options.sponsorship?.map((each) => idOption(each, '--sponsorship'))
    const { address, collected, ownerGot } = await withClient(settings, async (client) => {
      const address = await actingOperator(client.incentives, given)
      const { owner } = await client.incentives.getOperator(address)
      // Token balances, not assets: the share value already counts uncollected earnings.
      const balances = () =>
        Promise.all([client.incentives.tokenBalance(address), client.incentives.tokenBalance(owner)])
      const [operatorBefore, ownerBefore] = await balances()
      await client.incentives.withdrawEarnings(address, ids)
      const [operatorAfter, ownerAfter] = await balances()
      return { address, collected: operatorAfter - operatorBefore, ownerGot: ownerAfter - ownerBefore }
    })
    if (options.json === true)
      printJson(context, {
        operator: address.toLowerCase(),
        toDelegators: formatRnl(collected),
        ownerCut: formatRnl(ownerGot),
      })
    else
      printLine(
        context,
        `withdrew the earnings of ${address.toLowerCase()}: ${showRnl(collected)} into it for its delegators, ${showRnl(ownerGot)} to its owner`,
      )
  })

  registerOperatorFlagCommands(operator, context)
}

/** An operator contract, or the operator an owner's address owns. */
async function resolveOperator(incentives: RunnelIncentives, given: `0x${string}` | undefined): Promise<`0x${string}`> {
  if (given === undefined) return actingOperator(incentives, undefined)
  if (await incentives.isOperator(given)) return given
  // Not an operator (OPERATOR_NOT_FOUND from getOperator) unless it owns one.
  return (await incentives.operatorOf(given)) ?? given
}

/** `--cut 12.5` as basis points (1250); a bad value is a usage error. */
function parseCut(value: string): number {
  const match = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(value.trim())
  const bps = match === null ? NaN : Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'))
  if (!(bps >= 0 && bps <= 10_000)) {
    throw new InvalidArgumentError('--cut is a percentage from 0 to 100, with at most 2 decimals')
  }
  return bps
}

function idOption(value: string, what: string): number {
  try {
    return idArgument(what)(value)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
}

function delegationJson(delegation: Delegation): Record<string, unknown> {
  return {
    operator: delegation.operator.toLowerCase(),
    delegator: delegation.delegator.toLowerCase(),
    shares: formatShares(delegation.shares),
    value: formatRnl(delegation.value),
  }
}

function printOperator(
  context: CliContext,
  operator: OperatorInfo,
  delegation: Delegation | undefined,
  options: JsonOption,
): void {
  if (options.json === true) {
    printJson(context, {
      ...operatorJson(operator),
      ...(delegation !== undefined && { yourDelegation: delegationJson(delegation) }),
    })
    return
  }
  const fields: [string, string][] = [
    ['owner', operator.owner.toLowerCase()],
    ['cut', `${operator.cutBps / 100}%`],
    ['metadata', operator.metadata === '' ? '(none)' : operator.metadata],
    ['nodes', operator.nodes.length === 0 ? '(none)' : operator.nodes.map((node) => node.toLowerCase()).join(', ')],
    ['assets', `${showRnl(operator.totalAssets)} (tokens, stakes and uncollected earnings after the cut)`],
    ['shares', formatShares(operator.totalShares)],
    [
      'queue',
      operator.queueLength === 0
        ? 'empty'
        : `${operator.queueLength} undelegations, ${formatShares(operator.queuedShares)} shares`,
    ],
  ]
  if (delegation !== undefined) {
    fields.push(['yours', `${formatShares(delegation.shares)} shares, worth ${showRnl(delegation.value)}`])
  }
  printFields(context, `operator ${operator.address.toLowerCase()}`, fields)
  printLine(context, operator.stakes.length === 0 ? '  stakes: none' : '  stakes (earnings as of the latest block):')
  for (const stake of operator.stakes)
    printLine(context, `    ${stakeLine(stake, `sponsorship ${stake.sponsorshipId}`)}`)
}
