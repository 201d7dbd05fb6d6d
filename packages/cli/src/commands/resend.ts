import { once } from 'node:events'
import { Argument, type Command } from 'commander'
import { ClientError, MAX_LAST_COUNT, type HistoryQuery, type HistoryRef } from '@runnel/client'
import { MAX_SEQUENCE_NUMBER } from '@runnel/protocol'
import { withClient } from '../client.js'
import { note, type CliContext } from '../context.js'
import { formatHistoryRef, parseHistoryRef } from '../history.js'
import { printMessage, warnAboutClientEvents } from '../messages.js'
import { addSettingsOptions, checkStreamPath, integerOption, parseAddressArgument, settingsOf } from '../options.js'

interface ResendOptions {
  readonly partition?: number
  readonly metadata?: boolean
}

interface FilterOptions extends ResendOptions {
  readonly publisher?: string
  readonly msgChainId?: string
}

const REF_HELP = 'ms since 1970, an ISO-8601 date or time, or <ms>:<sequence number>'

/** `runnel resend last|from|range`: stored messages, from the stream's storage nodes, to stdout. */
export function registerResendCommands(program: Command, context: CliContext): void {
  const resend = program
    .command('resend')
    .description("print a stream's stored messages (from its storage nodes): the last n, all from a time, or a range")
    .addHelpText(
      'after',
      `
Each message is printed as one line of JSON, as \`runnel subscribe\` prints it. Without --partition every partition
is read in turn. A time is ${REF_HELP}
(2025-06-01T12:00:00Z, 1748779200000, 1748779200000:3); a time without an offset is local, a date alone UTC.
The stream needs a storage node: see \`runnel storage-node\`.`,
    )

  /** A resend subcommand with --partition, --metadata and the settings options. */
  const define = (name: string, description: string, examples: string[]): Command =>
    addSettingsOptions(
      resend.command(name).description(description).argument('<streamId>', 'a stream id, or a /path of your own'),
    )
      .option(
        '--partition <n>',
        'only this partition (default: every partition, in turn)',
        integerOption('--partition', 0, 99),
      )
      .option('--metadata', 'print { content, metadata } with the stream, partition, publisher, timestamp and chain')
      .addHelpText('after', `\nExample:\n${examples.map((example) => `  $ ${example}`).join('\n')}`)

  /** --publisher and --msg-chain-id, for `from` and `range`. */
  const withFilters = (command: Command): Command =>
    command
      .option('--publisher <address>', "only this publisher's messages")
      .option('--msg-chain-id <id>', "only this message chain's messages (a publisher's per-session chain)")

  define('last', 'print the last <count> stored messages of each partition, oldest first', [
    'runnel resend last 0x3c44…93bc/greenhouse/climate 10',
    'runnel resend last /greenhouse/climate 100 --partition 1 --metadata',
  ])
    .addArgument(
      new Argument('<count>', `how many, 1–${MAX_LAST_COUNT}`).argParser(integerOption('<count>', 1, MAX_LAST_COUNT)),
    )
    .action(async (streamId: string, count: number, options: ResendOptions, command: Command) => {
      await run(context, command, streamId, { last: count }, options)
    })

  withFilters(
    define('from', 'print every stored message from a time on (inclusive), oldest first', [
      'runnel resend from 0x3c44…93bc/greenhouse/climate 2025-06-01T12:00:00Z',
      'runnel resend from /greenhouse/climate $(($(date +%s%3N) - 3600000)) --publisher 0x3c44…93bc',
    ]).addArgument(new Argument('<from>', REF_HELP).argParser(parseHistoryRef)),
  ).action(async (streamId: string, from: HistoryRef, options: FilterOptions, command: Command) => {
    await run(context, command, streamId, { from, ...filters(options) }, options)
  })

  withFilters(
    define('range', 'print the stored messages between two times (both inclusive), oldest first', [
      'runnel resend range 0x3c44…93bc/greenhouse/climate 2025-06-01T12:00:00Z 2025-06-01T13:00:00Z',
      'runnel resend range /greenhouse/climate 1748779200000:0 1748779200000:5 --metadata',
    ])
      .addArgument(new Argument('<from>', REF_HELP).argParser(parseHistoryRef))
      .addArgument(new Argument('<to>', REF_HELP).argParser(parseHistoryRef)),
  ).action(async (streamId: string, from: HistoryRef, to: HistoryRef, options: FilterOptions, command: Command) => {
    // A time without a sequence number ends after every message of its millisecond.
    const end = { timestamp: to.timestamp, sequenceNumber: to.sequenceNumber ?? MAX_SEQUENCE_NUMBER }
    if (
      end.timestamp < from.timestamp ||
      (end.timestamp === from.timestamp && end.sequenceNumber < (from.sequenceNumber ?? 0))
    ) {
      command.error(`<to> ${formatHistoryRef(to)} comes before <from> ${formatHistoryRef(from)}`)
    }
    await run(context, command, streamId, { from, to: end, ...filters(options) }, options)
  })
}

/** The publisher and chain filters, checked. */
function filters(options: FilterOptions): { publisherId?: string; msgChainId?: string } {
  return {
    ...(options.publisher !== undefined && { publisherId: parseAddressArgument(options.publisher, '--publisher') }),
    ...(options.msgChainId !== undefined && { msgChainId: options.msgChainId }),
  }
}

async function run(
  context: CliContext,
  command: Command,
  streamId: string,
  query: HistoryQuery,
  options: ResendOptions,
): Promise<void> {
  const settings = await settingsOf(command, context)
  checkStreamPath(settings, streamId)
  const { id, count } = await withClient(settings, async (client) => {
    warnAboutClientEvents(client, context)
    // Resolves a /path, and a missing stream fails here (exit 4) before any storage node is asked.
    const { id } = await client.getStream(streamId)
    const target = options.partition === undefined ? id : { id, partition: options.partition }
    let printed = 0
    try {
      for await (const message of client.resend(target, query)) {
        printed++
        // A long history into a slow pipe: hold back rather than buffer it all.
        if (!printMessage(context, message, options.metadata === true)) await once(context.stdout, 'drain')
      }
    } catch (err) {
      if (err instanceof ClientError && err.code === 'STORAGE_UNAVAILABLE' && printed === 0) {
        const nodes = await client.getStorageNodes(id).catch(() => undefined)
        if (nodes?.length === 0) {
          throw new ClientError(
            'STORAGE_UNAVAILABLE',
            `no storage node stores ${id}, so it has no history to resend: assign one with \`runnel storage-node add-stream ${id} <node address>\``,
            { cause: err },
          )
        }
      }
      throw err
    }
    return { id, count: printed }
  })
  note(context, `resent ${count} message(s) of ${id}`)
}
