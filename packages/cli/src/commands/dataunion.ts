import type { Command } from 'commander'
import type { MemberInfo } from '@runnel/chain'
import type { Address } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { formatRnl, parseRnl, showRnl } from '../amounts.js'
import { withClient } from '../client.js'
import { note, printJson, printLine, type CliContext } from '../context.js'
import { CliError } from '../errors.js'
import { defineSubcommand, isoTime, printFields } from '../incentives.js'
import {
  dataUnionFields,
  dataUnionJson,
  memberJson,
  parseDuration,
  parseFeeBps,
  readSignedWithdrawal,
  showAmount,
  signedWithdrawalJson,
} from '../market.js'
import { parseAddressArgument, requireKey, settingsOf, type JsonOption } from '../options.js'
import { parseHttpUrl, type Settings } from '../settings.js'

interface MembersOptions extends JsonOption {
  readonly all?: boolean
  readonly stateServer?: string[]
}

const STATUSES: readonly MemberInfo['status'][] = ['none', 'active', 'parted']

/**
 * Every member, from the union's state servers: their hashes are compared first (a server that disagrees with the
 * majority is named on stderr and not asked), then the members are read page by page.
 */
async function membersFromStateServers(
  urls: readonly string[],
  union: Address,
  warn: (text: string) => void,
): Promise<MemberInfo[]> {
  const { DataUnionStateClient } = await import('@runnel/client')
  const servers = new DataUnionStateClient({ urls })
  servers.onDiverged((report) =>
    warn(`state server ${report.url} disagrees with the majority at block ${report.block}; not asking it`),
  )
  if (urls.length > 1) await servers.checkConsistency(union)
  const members: MemberInfo[] = []
  for (let offset = 0; ; offset += PAGE) {
    const { value } = await servers.members(union, offset, PAGE)
    for (const member of value) {
      members.push({
        address: member.member,
        status: STATUSES[member.status] ?? 'none',
        weight: member.weight,
        earned: member.earned,
        withdrawn: member.withdrawn,
        withdrawable: member.withdrawable,
      })
    }
    if (value.length < PAGE) return members
  }
}

const PAGE = 1_000

interface JoinOptions extends JsonOption {
  readonly member?: string
  readonly weight?: string
  readonly joinServer?: string
  readonly secret?: string
  readonly metadata?: string
}

interface WithdrawOptions extends JsonOption {
  readonly to?: string
  readonly amount?: string
  readonly signOnly?: boolean
  readonly validFor?: string
}

/** Members' weights are uint96 on chain. */
const MAX_WEIGHT = 2n ** 96n - 1n

/** `runnel du …`: Data Unions, which share the revenue of what they sell among their members. */
export function registerDataUnionCommands(program: Command, context: CliContext): void {
  const du = program
    .command('du')
    .description('Data Unions: create one, add and part members, read members and earnings, withdraw')
    .addHelpText(
      'after',
      `
A Data Union is a contract that receives revenue (as a product's beneficiary, or by transfers) and shares it among
its active members by weight, after the admin's fee. Its admin and join agents add and part members (or a join
server does, for members who sign a request); members withdraw what they earned, or sign a withdrawal someone else
sends (the member needs no gas). Amounts are RNL in decimals.`,
    )

  defineSubcommand(
    du,
    'create',
    'create a Data Union your key administers; prints its address',
    [
      'runnel du create --admin-fee 10',
      'runnel du create --admin-fee 250bps --join-agent 0x90f7…b906 --metadata "{\\"name\\":\\"Weather\\"}"',
    ],
    (command) =>
      command
        .requiredOption(
          '--admin-fee <fee>',
          "the admin's share of revenue: a percentage (10, 12.5%) or basis points (1000bps)",
        )
        .option('--join-agent <address...>', 'accounts that may add and part members besides you (a join server’s key)')
        .option('--metadata <text>', 'a description, public on chain')
        .option('--token <address>', 'the token it earns in (default: the network token)'),
  ).action(
    async (
      options: JsonOption & { adminFee: string; joinAgent?: string[]; metadata?: string; token?: string },
      command: Command,
    ) => {
      const settings = await settingsOf(command, context)
      requireKey(settings, 'creating a Data Union')
      const adminFeeBps = parseFeeBps(options.adminFee, '--admin-fee')
      const joinAgents = (options.joinAgent ?? []).map((agent) => parseAddressArgument(agent, '--join-agent'))
      const token = options.token === undefined ? undefined : parseAddressArgument(options.token, '--token')
      const { union, networkToken } = await withClient(settings, async (client) => {
        const address = await client.market.createDataUnion({
          adminFeeBps,
          joinAgents,
          ...(options.metadata !== undefined && { metadata: options.metadata }),
          ...(token !== undefined && { token }),
        })
        return { union: await client.market.getDataUnion(address), networkToken: client.market.token }
      })
      if (options.json === true) printJson(context, dataUnionJson(union, networkToken))
      else
        printFields(context, `created Data Union ${union.address.toLowerCase()}`, dataUnionFields(union, networkToken))
    },
  )

  defineSubcommand(du, 'list', 'list every Data Union of the network, oldest first', ['runnel du list']).action(
    async (options: JsonOption, command: Command) => {
      const settings = await settingsOf(command, context)
      const unions = await withClient(settings, (client) => client.market.listDataUnions())
      if (options.json === true) {
        printJson(
          context,
          unions.map((union) => union.toLowerCase()),
        )
        return
      }
      if (unions.length === 0) note(context, 'no Data Unions')
      for (const union of unions) printLine(context, union.toLowerCase())
    },
  )

  defineSubcommand(
    du,
    'join',
    'add a member: directly as the admin or a join agent, or by asking a join server with a signed request',
    [
      'runnel du join 0x5fc8…07c2 --member 0x3c44…93bc --weight 2',
      'runnel du join 0x5fc8…07c2 --join-server https://join.example.org --secret app-secret',
    ],
    (command) =>
      command
        .argument('<dataUnion>', 'the Data Union')
        .option('--member <address>', 'who joins (default: your address; with --join-server always your address)')
        .option('--weight <n>', 'the member’s share weight, a whole number ≥ 1 (default 1; not with --join-server)')
        .option('--join-server <url>', 'ask this join server (a node with the dataUnionJoin plugin) to add you')
        .option('--secret <secret>', "the app's shared secret the join server asks for")
        .option('--metadata <text>', 'app data for the join server (it signs with the request)'),
  ).action(async (unionArgument: string, options: JoinOptions, command: Command) => {
    const settings = await settingsOf(command, context)
    const union = parseAddressArgument(unionArgument, '<dataUnion>')
    if (options.joinServer !== undefined) {
      if (options.member !== undefined || options.weight !== undefined) {
        throw new CliError(
          'INVALID_INPUT',
          'a join server adds your own address with weight 1: drop --member and --weight',
        )
      }
      const answer = await askJoinServer(settings, 'join', union, options)
      printChange(context, options, 'joined', answer)
      return
    }
    if (options.secret !== undefined || options.metadata !== undefined) {
      throw new CliError('INVALID_INPUT', '--secret and --metadata are for a join server: give --join-server <url>')
    }
    requireKey(settings, 'adding a member')
    const weight = options.weight === undefined ? 1n : parseWeight(options.weight)
    const member = await withClient(settings, async (client) => {
      const member =
        options.member === undefined ? client.market.account : parseAddressArgument(options.member, '--member')
      await client.market.addMembers(union, [{ address: member, weight }])
      return client.market.memberInfo(union, member)
    })
    if (options.json === true) printJson(context, { dataUnion: union, ...memberJson(member, 'rnl', 'rnl') })
    else printLine(context, `added ${member.address.toLowerCase()} to ${union} with weight ${member.weight}`)
  })

  defineSubcommand(
    du,
    'part',
    'part a member (yourself by default): directly, or through a join server with a signed request',
    ['runnel du part 0x5fc8…07c2', 'runnel du part 0x5fc8…07c2 --member 0x3c44…93bc'],
    (command) =>
      command
        .argument('<dataUnion>', 'the Data Union')
        .option('--member <address>', 'who leaves (default: you); parting others needs the admin or a join agent')
        .option('--join-server <url>', 'ask this join server to part you'),
  ).action(async (unionArgument: string, options: JoinOptions, command: Command) => {
    const settings = await settingsOf(command, context)
    const union = parseAddressArgument(unionArgument, '<dataUnion>')
    if (options.joinServer !== undefined) {
      if (options.member !== undefined)
        throw new CliError('INVALID_INPUT', 'a join server parts only you: drop --member')
      printChange(context, options, 'parted', await askJoinServer(settings, 'part', union, options))
      return
    }
    requireKey(settings, 'parting a member')
    const member = await withClient(settings, async (client) => {
      const member =
        options.member === undefined ? client.market.account : parseAddressArgument(options.member, '--member')
      await client.market.partMember(union, member)
      return client.market.memberInfo(union, member)
    })
    if (options.json === true) printJson(context, { dataUnion: union, ...memberJson(member, 'rnl', 'rnl') })
    else printLine(context, `parted ${member.address.toLowerCase()} from ${union}; what it earned stays withdrawable`)
  })

  defineSubcommand(
    du,
    'members',
    "list a Data Union's members with weight and earnings: from its events on chain, or from its state servers",
    [
      'runnel du members 0x5fc8…07c2',
      'runnel du members 0x5fc8…07c2 --all --json',
      'runnel du members 0x5fc8…07c2 --state-server http://a:7174 http://b:7174 http://c:7174',
    ],
    (command) =>
      command
        .argument('<dataUnion>', 'the Data Union')
        .option('--all', 'parted members too')
        .option(
          '--state-server <url...>',
          "ask the union's replicated state servers (checked against each other) instead of the chain",
        ),
  ).action(async (unionArgument: string, options: MembersOptions, command: Command) => {
    const settings = await settingsOf(command, context)
    const union = parseAddressArgument(unionArgument, '<dataUnion>')
    const servers = (options.stateServer ?? []).map((url) => {
      if (parseHttpUrl(url) === undefined) {
        throw new CliError('INVALID_INPUT', `--state-server: ${JSON.stringify(url)} is not an http:// or https:// URL`)
      }
      return url
    })
    const { members, token, networkToken } = await withClient(settings, async (client) => {
      const { token } = await client.market.getDataUnion(union)
      const members =
        servers.length === 0
          ? (await client.market.listMembers(union)).members
          : await membersFromStateServers(servers, union, (text) => note(context, text))
      return {
        members: members.filter((m) => options.all === true || m.status === 'active'),
        token,
        networkToken: client.market.token,
      }
    })
    if (options.json === true) {
      printJson(
        context,
        members.map((member) => memberJson(member, token, networkToken)),
      )
      return
    }
    if (members.length === 0) note(context, options.all === true ? 'no members' : 'no active members')
    for (const member of members) printLine(context, memberLine(member, token, networkToken))
  })

  defineSubcommand(
    du,
    'stats',
    "show a Data Union: admin, fee, members, revenue and withdrawals, and your own earnings if you're a member",
    ['runnel du stats 0x5fc8…07c2'],
    (command) => command.argument('<dataUnion>', 'the Data Union'),
  ).action(async (unionArgument: string, options: JsonOption, command: Command) => {
    const settings = await settingsOf(command, context)
    const union = parseAddressArgument(unionArgument, '<dataUnion>')
    const { info, own, networkToken } = await withClient(settings, async (client) => {
      const info = await client.market.getDataUnion(union)
      const own = settings.privateKey === undefined ? undefined : await client.market.memberInfo(union)
      return { info, own, networkToken: client.market.token }
    })
    if (options.json === true) {
      printJson(context, {
        ...dataUnionJson(info, networkToken),
        ...(own !== undefined && { you: memberJson(own, info.token, networkToken) }),
      })
      return
    }
    printFields(context, `Data Union ${info.address.toLowerCase()}`, [
      ...dataUnionFields(info, networkToken),
      ...(own === undefined || own.status === 'none'
        ? []
        : [['you', memberLine(own, info.token, networkToken)] as [string, string]]),
    ])
  })

  defineSubcommand(
    du,
    'withdraw',
    'withdraw your earnings (all by default); with --sign-only print a signed withdrawal anyone may send for you',
    [
      'runnel du withdraw 0x5fc8…07c2',
      'runnel du withdraw 0x5fc8…07c2 --amount 12.5 --to 0x90f7…b906',
      'runnel du withdraw 0x5fc8…07c2 --sign-only > withdrawal.json   # then: runnel du withdraw-signed … --signature-file withdrawal.json',
    ],
    (command) =>
      command
        .argument('<dataUnion>', 'the Data Union')
        .option('--to <address>', 'where the tokens go (default: your address)')
        .option('--amount <RNL>', 'how much (default: everything withdrawable)')
        .option('--sign-only', "don't send: print the signed withdrawal as JSON (your key needs no gas)")
        .option('--valid-for <duration>', 'with --sign-only: how long the signature may be sent (default 1h)'),
  ).action(async (unionArgument: string, options: WithdrawOptions, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'withdrawing')
    const union = parseAddressArgument(unionArgument, '<dataUnion>')
    const to = options.to === undefined ? undefined : parseAddressArgument(options.to, '--to')
    const amount = options.amount === undefined ? undefined : parseRnl(options.amount, '--amount')
    if (options.validFor !== undefined && options.signOnly !== true) {
      throw new CliError('INVALID_INPUT', '--valid-for is for --sign-only')
    }
    const validForSeconds = options.validFor === undefined ? undefined : parseDuration(options.validFor, '--valid-for')
    if (options.signOnly === true) {
      const signed = await withClient(settings, async (client) => {
        const member = await client.market.memberInfo(union)
        if (member.status === 'none') {
          throw new CliError('INVALID_INPUT', `${member.address.toLowerCase()} is not a member of ${union}`)
        }
        if ((amount ?? member.withdrawable) === 0n) {
          throw new CliError('INVALID_INPUT', `${member.address.toLowerCase()} has nothing to withdraw from ${union}`)
        }
        return client.market.signWithdrawal(union, {
          ...(to !== undefined && { to }),
          ...(amount !== undefined && { amount }),
          ...(validForSeconds !== undefined && { validForSeconds }),
        })
      })
      printJson(context, signedWithdrawalJson(signed))
      if (options.json !== true)
        note(
          context,
          `signed; anyone may send it before ${isoTime(signed.deadline)} with \`runnel du withdraw-signed\``,
        )
      return
    }
    const sent = await withClient(settings, (client) =>
      client.market.withdraw(union, { ...(to !== undefined && { to }), ...(amount !== undefined && { amount }) }),
    )
    if (options.json === true)
      printJson(context, { dataUnion: union, amount: formatRnl(sent), amountWei: sent.toString() })
    else printLine(context, `withdrew ${showRnl(sent)} from ${union}`)
  })

  defineSubcommand(
    du,
    'withdraw-signed',
    "send a member's signed withdrawal (from `du withdraw --sign-only`), paying the gas yourself",
    [
      'runnel du withdraw-signed 0x5fc8…07c2 --signature-file withdrawal.json',
      'cat withdrawal.json | runnel du withdraw-signed 0x5fc8…07c2 --signature-file -',
    ],
    (command) =>
      command
        .argument('<dataUnion>', 'the Data Union')
        .requiredOption('--signature-file <file>', 'the signed withdrawal JSON, or - for stdin'),
  ).action(async (unionArgument: string, options: JsonOption & { signatureFile: string }, command: Command) => {
    const settings = await settingsOf(command, context)
    requireKey(settings, 'sending a signed withdrawal')
    const union = parseAddressArgument(unionArgument, '<dataUnion>')
    const signed = await readSignedWithdrawal(context, options.signatureFile)
    if (signed.dataUnion.toLowerCase() !== union) {
      throw new CliError(
        'INVALID_INPUT',
        `the withdrawal is signed for Data Union ${signed.dataUnion.toLowerCase()}, not ${union}`,
      )
    }
    const sent = await withClient(settings, (client) => client.market.withdrawSigned(signed))
    if (options.json === true) {
      printJson(context, { ...signedWithdrawalJson(signed), amount: formatRnl(sent), amountWei: sent.toString() })
    } else {
      printLine(
        context,
        `sent ${showRnl(sent)} from ${union} to ${signed.to.toLowerCase()} for member ${signed.member.toLowerCase()}`,
      )
    }
  })
}

function parseWeight(value: string): bigint {
  if (!/^\d{1,29}$/.test(value.trim()) || BigInt(value.trim()) < 1n || BigInt(value.trim()) > MAX_WEIGHT) {
    throw new CliError('INVALID_INPUT', `--weight: ${JSON.stringify(value)} is not a whole number from 1 to 2^96-1`)
  }
  return BigInt(value.trim())
}

function memberLine(member: MemberInfo, token: string, networkToken: string): string {
  const amount = (wei: bigint): string => showAmount(wei, token, networkToken)
  return `${member.address.toLowerCase()}  ${member.status}  weight ${member.weight}  earned ${amount(member.earned)}  withdrawable ${amount(member.withdrawable)}`
}

interface JoinServerAnswer {
  readonly dataUnion: string
  readonly member: string
  readonly txHash: string
}

/**
 * Signs a join or part request with the key and posts it to a join server. The server's refusal keeps its code, so
 * the exit code is the one its status stands for.
 */
async function askJoinServer(
  settings: Settings,
  action: 'join' | 'part',
  union: Address,
  options: JoinOptions,
): Promise<JoinServerAnswer> {
  const key = requireKey(settings, `asking a join server to ${action}`)
  const server = parseHttpUrl(options.joinServer!)
  if (server === undefined) {
    throw new CliError(
      'INVALID_INPUT',
      `--join-server: ${JSON.stringify(options.joinServer)} is not an http:// or https:// URL`,
    )
  }
  // Loaded here: the node package is large, and only this path needs it.
  const { NodeError, joinRequestMessage, nodeErrorCategory } = await import('@runnel/node')
  const account = privateKeyToAccount(key)
  const fields = {
    dataUnion: union,
    member: account.address.toLowerCase(),
    timestamp: Date.now(),
    ...(options.metadata !== undefined && { metadata: options.metadata }),
  }
  const signature = await account.signMessage({ message: joinRequestMessage(action, fields) })
  const url = new URL(`dataunions/${union}/${action}`, server.href.endsWith('/') ? server.href : `${server.href}/`)
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        member: fields.member,
        timestamp: fields.timestamp,
        ...(options.metadata !== undefined && { metadata: options.metadata }),
        ...(options.secret !== undefined && { secret: options.secret }),
        signature,
      }),
      signal: AbortSignal.timeout(60_000),
    })
  } catch (err) {
    throw new NodeError('UNAVAILABLE', `can't reach the join server ${server.origin}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  const body = (await response.json().catch(() => undefined)) as
    (Partial<JoinServerAnswer> & { error?: { code?: unknown; message?: unknown } }) | undefined
  if (!response.ok) {
    const code = typeof body?.error?.code === 'string' ? body.error.code : undefined
    const message = typeof body?.error?.message === 'string' ? body.error.message : `HTTP ${response.status}`
    const known = code !== undefined && isKnownCode(code, nodeErrorCategory)
    throw new NodeError(known ? (code as never) : 'UNAVAILABLE', `the join server refused: ${message}`)
  }
  if (typeof body?.txHash !== 'string')
    throw new NodeError('UNAVAILABLE', 'the join server answered without a transaction hash')
  return { dataUnion: union, member: account.address.toLowerCase(), txHash: body.txHash }
}

function isKnownCode(code: string, category: (code: never) => unknown): boolean {
  try {
    return category(code as never) !== undefined
  } catch {
    return false
  }
}

function printChange(context: CliContext, options: JsonOption, verb: string, answer: JoinServerAnswer): void {
  if (options.json === true) printJson(context, answer)
  else printLine(context, `${verb} ${answer.dataUnion} as ${answer.member} (transaction ${answer.txHash})`)
}
