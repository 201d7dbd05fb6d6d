import { Option, type Command } from 'commander'
import { MAX_LAST_COUNT, type HistoryQuery, type HistoryRef, type Subscription } from '@runnel/client'
import { toStreamPartId, type StreamId } from '@runnel/protocol'
import { networkSettings, withClient } from '../client.js'
import { note, type CliContext } from '../context.js'
import { parseHistoryRef } from '../history.js'
import { printMessage, warnAboutClientEvents } from '../messages.js'
import { addSettingsOptions, integerOption, requireKey, settingsOf } from '../options.js'
import { checkDiscoveryReachable } from '../reachability.js'
import { listenForShutdown } from '../signals.js'

interface SubscribeOptions {
  readonly partition?: number
  readonly count?: number
  readonly metadata?: boolean
  readonly resendLast?: number
  readonly resendFrom?: HistoryRef
}

/** `runnel subscribe <stream>`: messages to stdout, one JSON line each. */
export function registerSubscribeCommand(program: Command, context: CliContext): void {
  addSettingsOptions(
    program
      .command('subscribe')
      .description('print the messages of a stream, one JSON line each, until Ctrl-C or --count')
      .argument('<streamId>', 'a stream id, or a /path of your own')
      .option('--partition <n>', 'only this partition (default: every partition)', integerOption('--partition', 0, 99))
      .option('--count <n>', 'exit after this many messages', integerOption('--count', 1))
      .option('--metadata', 'print { content, metadata } with the stream, partition, publisher, timestamp and chain')
      .addOption(
        new Option('--resend-last <n>', 'first print the last n stored messages of each partition')
          .argParser(integerOption('--resend-last', 1, MAX_LAST_COUNT))
          .conflicts('resendFrom'),
      )
      .addOption(
        new Option(
          '--resend-from <time>',
          'first print the stored messages from this time on (ms, ISO-8601)',
        ).argParser(parseHistoryRef),
      ),
  )
    .addHelpText(
      'after',
      `
Each message is printed as one line of JSON: its content, binary content as a base64 string. "subscribed to <id>" goes
to stderr once the subscription is in place. Ctrl-C (SIGINT) or SIGTERM ends it with exit code 0. With --resend-last
or --resend-from, stored history (from the stream's storage nodes) comes first, then the live messages, none twice
and none missing between; if the history can't be read, that goes to stderr and the live messages go on.

Example:
  $ runnel subscribe 0x3c44…93bc/greenhouse/climate --count 10 --metadata
  $ runnel subscribe 0x3c44…93bc/greenhouse/climate --resend-last 100`,
    )
    .action(async (streamId: string, options: SubscribeOptions, command: Command) => {
      const settings = await settingsOf(command, context)
      if (streamId.startsWith('/')) requireKey(settings, `the stream path ${streamId} (relative to your address)`)
      const shutdown = listenForShutdown()
      try {
        await withClient(settings, async (client) => {
          warnAboutClientEvents(client, context)

          const { id, partitions } = await client.getStream(streamId)
          const subscribed =
            options.partition !== undefined ? [options.partition] : Array.from({ length: partitions }, (_, i) => i)
          await checkDiscoveryReachable(
            subscribed.map((partition) => toStreamPartId(id as StreamId, partition)),
            networkSettings(settings),
          )
          let received = 0
          let reachedCount: () => void = () => undefined
          const counted = new Promise<void>((resolve) => (reachedCount = resolve))
          const resend: HistoryQuery | undefined =
            options.resendLast !== undefined
              ? { last: options.resendLast }
              : options.resendFrom !== undefined
                ? { from: options.resendFrom }
                : undefined
          const subscribing = client.subscribe(
            options.partition === undefined ? id : { id, partition: options.partition },
            (message) => {
              if (options.count !== undefined && received >= options.count) return
              received++
              printMessage(context, message, options.metadata === true)
              if (received === options.count) reachedCount()
            },
            resend === undefined ? {} : { resend },
          )
          // Destroying the client ends a subscribe still joining: its rejection is expected then.
          subscribing.catch(() => undefined)
          const subscription: Subscription | undefined = await Promise.race([
            subscribing,
            shutdown.received.then(() => undefined),
          ])
          if (subscription === undefined) return
          note(
            context,
            `subscribed to ${id}${options.partition === undefined ? '' : ` partition ${options.partition}`}`,
          )
          await Promise.race([counted, shutdown.received])
          subscription.unsubscribe()
        })
      } finally {
        shutdown.dispose()
      }
    })
}
