import { createInterface } from 'node:readline'
import { Option, type Command } from 'commander'
import { ClientError, type AckLevel } from '@runnel/client'
import { toStreamPartId, type StreamId } from '@runnel/protocol'
import { networkSettings, withClient } from '../client.js'
import { note, type CliContext } from '../context.js'
import { CliError } from '../errors.js'
import { parseMessageLine } from '../messages.js'
import { addSettingsOptions, integerOption, requireKey, settingsOf } from '../options.js'
import { checkDiscoveryReachable } from '../reachability.js'

/** How long the command waits, before exiting, for messages published while it had no neighbour to reach one. */
const FLUSH_TIMEOUT_MS = 30_000

interface PublishOptions {
  readonly partition?: number
  readonly partitionKey?: string
  readonly partitionKeyField?: string
  readonly raw?: boolean
  readonly ack: AckLevel
  readonly minStorageNodes?: number
  readonly ackTimeout?: number
}

/** `runnel publish <stream>`: stdin lines to messages. */
export function registerPublishCommand(program: Command, context: CliContext): void {
  addSettingsOptions(
    program
      .command('publish')
      .description('publish each line of stdin as a message, in order')
      .argument('<streamId>', 'a stream id, or a /path of your own')
      .addOption(
        new Option('--partition <n>', 'publish to this partition (default 0)')
          .argParser(integerOption('--partition', 0, 99))
          .conflicts(['partitionKey', 'partitionKeyField']),
      )
      .addOption(
        new Option('--partition-key <key>', 'choose the partition by hashing this key').conflicts('partitionKeyField'),
      )
      .addOption(
        new Option(
          '--partition-key-field <field>',
          "choose each message's partition by hashing this top-level field of it",
        ).conflicts('raw'),
      )
      .option('--raw', 'publish each line as a JSON string holding its text, instead of parsing it as JSON')
      .addOption(
        new Option('--ack <level>', "when a message counts as published: 'accepted' by the network, or 'stored'")
          .choices(['accepted', 'stored'])
          .default('accepted'),
      )
      .addOption(
        new Option(
          '--min-storage-nodes <n>',
          'with --ack stored: how many storage nodes must confirm (default 1)',
        ).argParser(integerOption('--min-storage-nodes', 1, 100)),
      )
      .addOption(
        new Option(
          '--ack-timeout <ms>',
          'with --ack stored: how long to wait for the confirmations (default 10000)',
        ).argParser(integerOption('--ack-timeout', 1, 600_000)),
      ),
  )
    .addHelpText(
      'after',
      `
Each line of stdin is one message: a JSON value (blank lines are skipped), or with --raw the line's text as a JSON
string. Messages are published in order; the command exits 0 once stdin ends and every message is published.
A line that isn't valid JSON stops the command with exit code 3: the lines before it are published, none after.
With --ack stored it exits 0 only once a storage node of the stream has confirmed storing every message (messages
are still sent without waiting for each other), and with exit code 6 (NOT_STORED) if that didn't happen in time.

Example:
  $ echo '{"celsius":21.5}' | runnel publish /greenhouse/climate
  $ tail -f app.log | runnel publish /logs --raw
  $ runnel publish /orders --ack stored < orders.ndjson`,
    )
    .action(async (streamId: string, options: PublishOptions, command: Command) => {
      const settings = await settingsOf(command, context)
      if (streamId.startsWith('/')) requireKey(settings, `the stream path ${streamId} (relative to your address)`)
      const { id, count, unsent } = await withClient(settings, async (client) => {
        // Check up front: a missing stream or a refusal shows before any input is read, even with empty stdin.
        const stream = await client.getStream(streamId)
        if (options.partition !== undefined && options.partition >= stream.partitions) {
          throw new ClientError(
            'INVALID_ARGUMENT',
            `partition ${options.partition} is out of range: ${stream.id} has ${stream.partitions} partition(s)`,
          )
        }
        if (!(await client.hasPermission(stream.id, 'publish'))) {
          throw new ClientError('PERMISSION_DENIED', `${client.address.toLowerCase()} may not publish to ${stream.id}`)
        }
        const partitions =
          options.partition !== undefined ? [options.partition] : Array.from({ length: stream.partitions }, (_, i) => i)
        await checkDiscoveryReachable(
          partitions.map((partition) => toStreamPartId(stream.id as StreamId, partition)),
          networkSettings(settings),
        )
        if (context.stdin.isTTY === true) note(context, 'reading messages from stdin, one per line; end with Ctrl-D')
        const lines = createInterface({ input: context.stdin, crlfDelay: Infinity })
        let lineNumber = 0
        let published = 0
        const stored: Promise<unknown>[] = []
        const ack =
          options.ack === 'stored'
            ? {
                ack: 'stored' as const,
                ...(options.minStorageNodes !== undefined && { minStorageNodes: options.minStorageNodes }),
                ...(options.ackTimeout !== undefined && { ackTimeoutMs: options.ackTimeout }),
              }
            : {}
        try {
          for await (const line of lines) {
            lineNumber++
            let parsed
            try {
              parsed = parseMessageLine(line, lineNumber, options)
            } catch (err) {
              const reason = err instanceof Error ? err.message : String(err)
              throw new CliError(
                'INVALID_INPUT',
                `${reason} (published ${published} message(s) before it, none after)`,
                {
                  cause: err,
                },
              )
            }
            if (parsed === undefined) continue
            const target = options.partition === undefined ? stream.id : { id: stream.id, partition: options.partition }
            const partitionKey = parsed.partitionKey ?? options.partitionKey
            const publishOptions = { ...ack, ...(partitionKey !== undefined && { partitionKey }) }
            if (options.ack === 'stored') {
              // The next line goes out once this one is accepted; its storage is awaited at the end.
              await new Promise<void>((accepted, failed) => {
                const publishing = client.publish(target, parsed.content, {
                  ...publishOptions,
                  onAccepted: () => accepted(),
                })
                stored.push(publishing)
                publishing.catch(failed)
              })
            } else {
              await client.publish(target, parsed.content, publishOptions)
            }
            published++
          }
        } finally {
          lines.close()
          for (const pending of stored) pending.catch(() => undefined)
        }
        const failed = (await Promise.allSettled(stored)).filter((result) => result.status === 'rejected')
        if (failed.length > 0) {
          throw new ClientError(
            'NOT_STORED',
            `${failed.length} of ${published} message(s) were not confirmed stored in time; all were published and ` +
              'may still be stored',
            { cause: (failed[0] as PromiseRejectedResult).reason },
          )
        }
        // The process exits next: what waits in the node for a first neighbour must go out first (stored ones did).
        const unsent = options.ack === 'stored' ? 0 : await client.flush({ timeoutMs: FLUSH_TIMEOUT_MS })
        return { id: stream.id, count: published, unsent }
      })
      note(context, `published ${count} message(s) to ${id}`)
      if (unsent > 0) {
        note(
          context,
          `${unsent} of them reached no other node: no subscriber or storage node of ${id} was found in ` +
            `${FLUSH_TIMEOUT_MS / 1000} s`,
        )
      }
    })
}
