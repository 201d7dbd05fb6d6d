import { contentToJson, messageToJson, type ReceivedMessage, type RunnelClient } from '@runnel/client'
import { note, toJson, type CliContext } from './context.js'
import { CliError } from './errors.js'

/** How `publish` reads its stdin lines. */
export interface MessageLineOptions {
  /** Publish each line's text as a JSON string instead of parsing it as JSON. */
  readonly raw?: boolean
  /** Take the partition key from this top-level field of each message. */
  readonly partitionKeyField?: string
}

/** A line of `publish`'s input, ready to publish. */
export interface MessageLine {
  readonly content: unknown
  readonly partitionKey?: string | number
}

/**
 * Parses one line of `publish`'s stdin: a JSON value, or with `raw` the text
 * itself. Blank lines are skipped (`undefined`) unless `raw`.
 *
 * @param lineNumber 1-based, for the error message
 * @throws {@link CliError} `INVALID_INPUT`, naming the line
 * @example
 * ```ts
 * parseMessageLine('{"room":"north","celsius":21}', 1, { partitionKeyField: 'room' })
 * // { content: { room: 'north', celsius: 21 }, partitionKey: 'north' }
 * ```
 */
export function parseMessageLine(
  line: string,
  lineNumber: number,
  options: MessageLineOptions = {},
): MessageLine | undefined {
  if (options.raw === true) return { content: line }
  if (line.trim() === '') return undefined
  let content: unknown
  try {
    content = JSON.parse(line)
  } catch (err) {
    throw new CliError('INVALID_INPUT', `line ${lineNumber} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    })
  }
  const field = options.partitionKeyField
  if (field === undefined) return { content }
  const key =
    typeof content === 'object' && content !== null && !Array.isArray(content)
      ? (content as Record<string, unknown>)[field]
      : undefined
  if (typeof key !== 'string' && typeof key !== 'number') {
    throw new CliError(
      'INVALID_INPUT',
      `line ${lineNumber} has no partition key: expected an object whose "${field}" is a string or a number`,
    )
  }
  return { content, partitionKey: key }
}

/**
 * What `subscribe` and `resend` print for a message: its content (binary as a base64
 * string), or with `metadata` `{ content, metadata }`.
 */
export function formatReceivedMessage(message: ReceivedMessage, metadata: boolean): unknown {
  return metadata ? messageToJson(message) : contentToJson(message)
}

/**
 * Prints a message as one line of JSON on stdout, as `subscribe` and `resend`
 * do. Returns false when stdout's buffer is full: a command printing a backlog
 * should wait for `drain`.
 */
export function printMessage(context: CliContext, message: ReceivedMessage, metadata: boolean): boolean {
  return context.stdout.write(toJson(formatReceivedMessage(message, metadata)) + '\n')
}

/** Reports missed messages, dropped invalid ones and background errors on stderr as warnings: none stops a command. */
export function warnAboutClientEvents(client: RunnelClient, context: CliContext): void {
  client.on('gap', (gap) =>
    note(
      context,
      `runnel: warning: missed messages of ${gap.publisherId} on ${gap.streamPartId} after ${gap.from ?? 'the start'}`,
    ),
  )
  client.on('invalidMessage', (event) =>
    note(
      context,
      `runnel: warning: dropped a message from ${event.publisherId} on ${event.streamPartId}: ${event.reason}`,
    ),
  )
  client.on('error', (error) => note(context, `runnel: warning: ${error.message}`))
}
