import {
  MAX_LAST_COUNT,
  messageToJson,
  parseIsoDate,
  type AckLevel,
  type HistoryQuery,
  type PublishOptions,
  type ReceivedMessage,
} from '@runnel/client'
import { ProtocolError, parseStreamId, shortMessageOf, type StreamId } from '@runnel/protocol'
import { NodeError } from '../errors.js'

/** Where and how to publish, as the APIs' query parameters (or an MQTT topic suffix) say. */
export interface PublishParams {
  readonly partition?: number
  readonly partitionKey?: string
  /** Take the partition key from this field of each JSON message. */
  readonly partitionKeyField?: string
  readonly timestamp?: number
  readonly msgChainId?: string
  /** `stored`: answer only once a storage node of the stream committed the message (see docs/node.md). */
  readonly ack?: AckLevel
  readonly minStorageNodes?: number
  readonly ackTimeoutMs?: number
}

export interface SubscribeParams {
  /** Undefined: every partition. */
  readonly partitions?: readonly number[]
  /** Stored history to deliver before the live messages. */
  readonly resend?: HistoryQuery
}

/** Publish metadata a wrapped message (`{ content, metadata }`) may carry. */
export interface PublishMetadata {
  readonly timestamp?: number
  readonly partitionKey?: string
  readonly msgChainId?: string
}

const MAX_PARTITION = 99

function badRequest(message: string): NodeError {
  return new NodeError('BAD_REQUEST', message)
}

/**
 * Validates a stream id where it enters the node: a URL path (HTTP, WebSocket,
 * history) or an MQTT topic. Checked before any chain lookup, so a malformed id
 * is refused as malformed rather than looked up and reported as not found.
 * Returns the id normalized (lowercase owner).
 *
 * @throws {@link NodeError} `BAD_REQUEST` saying what is wrong with the id (see `parseStreamId` of `@runnel/protocol`)
 */
export function parseRequestStreamId(input: string): StreamId {
  try {
    return parseStreamId(input)
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err
    throw new NodeError('BAD_REQUEST', `invalid stream id: ${err.shortMessage}`, { cause: err })
  }
}

// Fatal: the lenient default would turn every invalid byte into U+FFFD and publish text the client never sent.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Decodes the bytes of a JSON message (an HTTP body, a WebSocket text frame).
 * JSON is UTF-8 (RFC 8259), so bytes that aren't are refused, not repaired.
 *
 * @throws {@link NodeError} `BAD_REQUEST`
 */
export function decodeJsonText(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    throw badRequest(
      'the message is not valid UTF-8: JSON must be UTF-8 text (send other bytes as binary content, ' +
        'e.g. Content-Type: application/octet-stream)',
    )
  }
}

export function parsePartition(value: string, name = 'partition'): number {
  if (!/^\d{1,3}$/.test(value) || Number(value) > MAX_PARTITION) {
    throw badRequest(`${name} must be an integer 0–${MAX_PARTITION}, got '${value}'`)
  }
  return Number(value)
}

/** Milliseconds since the epoch, or an ISO-8601 date. */
export function parseTimestamp(value: string | number, name = 'timestamp'): number {
  const ms =
    typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : (parseIsoDate(value) ?? Number.NaN)
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw badRequest(`${name} must be milliseconds since 1970 or an ISO-8601 date, got '${String(value)}'`)
  }
  return ms
}

function optional(query: URLSearchParams, name: string): string | undefined {
  const value = query.get(name)
  if (value === null) return undefined
  if (value.length === 0) throw badRequest(`${name} is empty`)
  return value
}

export function parsePublishParams(query: URLSearchParams): PublishParams {
  const partition = optional(query, 'partition')
  const partitionKey = optional(query, 'partitionKey')
  const partitionKeyField = optional(query, 'partitionKeyField')
  const timestamp = optional(query, 'timestamp')
  const msgChainId = optional(query, 'msgChainId')
  const ack = optional(query, 'ack')
  const minStorageNodes = optional(query, 'minStorageNodes')
  const ackTimeoutMs = optional(query, 'ackTimeoutMs')
  const chosen = [partition, partitionKey, partitionKeyField].filter((value) => value !== undefined).length
  if (chosen > 1) throw badRequest('give at most one of partition, partitionKey and partitionKeyField')
  return {
    ...(partition !== undefined && { partition: parsePartition(partition) }),
    ...(partitionKey !== undefined && { partitionKey }),
    ...(partitionKeyField !== undefined && { partitionKeyField }),
    ...(timestamp !== undefined && { timestamp: parseTimestamp(timestamp) }),
    ...(msgChainId !== undefined && { msgChainId }),
    ...(ack !== undefined && { ack: parseAckLevel(ack) }),
    ...(minStorageNodes !== undefined && { minStorageNodes: parseWhole(minStorageNodes, 'minStorageNodes', 1, 100) }),
    ...(ackTimeoutMs !== undefined && { ackTimeoutMs: parseWhole(ackTimeoutMs, 'ackTimeoutMs', 1, 600_000) }),
  }
}

/** `accepted` (the default) or `stored`. */
export function parseAckLevel(value: string, name = 'ack'): AckLevel {
  if (value !== 'accepted' && value !== 'stored')
    throw badRequest(`${name} must be 'accepted' or 'stored', got '${value}'`)
  return value
}

function parseWhole(value: string, name: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw badRequest(`${name} must be a whole number ${min}–${max}, got '${value}'`)
  }
  return Number(value)
}

/**
 * `partition=2`, or `partitions=0,2,5`; neither means every partition. With
 * `resendLast=N`, or `resendFrom=<time>` (and `resendTo=<time>`), stored
 * history comes first; times are milliseconds or ISO-8601.
 */
export function parseSubscribeParams(query: URLSearchParams): SubscribeParams {
  const partition = optional(query, 'partition')
  const list = optional(query, 'partitions')
  if (partition !== undefined && list !== undefined) throw badRequest('give partition or partitions, not both')
  const resend = parseResend(query)
  const withResend = resend === undefined ? {} : { resend }
  if (partition !== undefined) return { partitions: [parsePartition(partition)], ...withResend }
  if (list !== undefined) {
    const partitions = [...new Set(list.split(',').map((item) => parsePartition(item.trim(), 'partitions')))]
    return { partitions, ...withResend }
  }
  return withResend
}

function parseResend(query: URLSearchParams): HistoryQuery | undefined {
  const last = optional(query, 'resendLast')
  const from = optional(query, 'resendFrom')
  const to = optional(query, 'resendTo')
  if (last !== undefined) {
    if (from !== undefined || to !== undefined)
      throw badRequest('give resendLast, or resendFrom (and resendTo), not both')
    if (!/^\d{1,7}$/.test(last) || Number(last) < 1 || Number(last) > MAX_LAST_COUNT) {
      throw badRequest(`resendLast must be an integer 1–${MAX_LAST_COUNT}, got '${last}'`)
    }
    return { last: Number(last) }
  }
  if (to !== undefined && from === undefined) throw badRequest('resendTo needs resendFrom')
  if (from === undefined) return undefined
  const start = { timestamp: parseTimestamp(from, 'resendFrom') }
  if (to === undefined) return { from: start }
  const end = { timestamp: parseTimestamp(to, 'resendTo') }
  if (end.timestamp < start.timestamp) throw badRequest('resendTo is before resendFrom')
  return { from: start, to: end }
}

/** Reads a boolean query flag (`true`/`false`/`1`/`0`), or the default. */
export function parseFlag(query: URLSearchParams, name: string, fallback: boolean): boolean {
  const value = query.get(name)
  if (value === null) return fallback
  if (value === 'true' || value === '1' || value === '') return true
  if (value === 'false' || value === '0') return false
  throw badRequest(`${name} must be true or false, got '${value}'`)
}

/**
 * A cheap screen for numbers a double can't hold (over about 1.8e308: `1e400`, or 309+ digits), which JSON.parse
 * turns into ±Infinity; only text that matches is walked to confirm.
 */
const MAYBE_HUGE_NUMBER = /[eE]\+?\d{3}|\d{309}/

/**
 * The first number in `value` that isn't finite, as a path like `the message.readings[3]`; undefined if none. Walks
 * with a stack of its own: nesting deep enough for JSON.parse would overflow a recursive walk.
 */
function nonFiniteAt(value: unknown, root: string): string | undefined {
  const pending: [unknown, string][] = [[value, root]]
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, path] = next
    if (typeof item === 'number') {
      if (!Number.isFinite(item)) return path
    } else if (Array.isArray(item)) {
      for (let index = item.length - 1; index >= 0; index--) pending.push([item[index], `${path}[${index}]`])
    } else if (typeof item === 'object' && item !== null) {
      for (const [key, child] of Object.entries(item).reverse()) pending.push([child, `${path}.${key}`])
    }
  }
  return undefined
}

/**
 * Parses an API's JSON text. A number too large for a double is refused
 * rather than published as `null`, which is what re-serializing its
 * `Infinity` would sign.
 *
 * @throws {@link NodeError} `BAD_REQUEST` for invalid JSON, or a number out of range
 */
export function parseJsonText(text: string): unknown {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw badRequest(`the message is not valid JSON (${(err as Error).message})`)
  }
  if (MAYBE_HUGE_NUMBER.test(text)) {
    const at = nonFiniteAt(json, 'the message')
    if (at !== undefined) {
      throw badRequest(`${at} is a number too large for JSON's 64-bit floats; send it as a string`)
    }
  }
  return json
}

/**
 * Parses a JSON message from an API. Wrapped, it is `{ content, metadata? }`
 * and the metadata may set timestamp, partitionKey and msgChainId.
 */
export function parseJsonMessage(text: string, wrapped: boolean): { content: unknown; metadata: PublishMetadata } {
  const json = parseJsonText(text)
  if (!wrapped) return { content: json, metadata: {} }
  if (typeof json !== 'object' || json === null || !('content' in json)) {
    throw badRequest('payloadMetadata is on: send { "content": …, "metadata": { … } }')
  }
  const { content, metadata } = json as { content: unknown; metadata?: unknown }
  if (metadata === undefined || metadata === null) return { content, metadata: {} }
  if (typeof metadata !== 'object') throw badRequest('metadata must be an object')
  const { timestamp, partitionKey, msgChainId } = metadata as Record<string, unknown>
  if (partitionKey !== undefined && typeof partitionKey !== 'string' && typeof partitionKey !== 'number') {
    throw badRequest('metadata.partitionKey must be a string or number')
  }
  if (msgChainId !== undefined && typeof msgChainId !== 'string')
    throw badRequest('metadata.msgChainId must be a string')
  if (timestamp !== undefined && typeof timestamp !== 'number' && typeof timestamp !== 'string') {
    throw badRequest('metadata.timestamp must be milliseconds or an ISO-8601 date')
  }
  return {
    content,
    metadata: {
      ...(timestamp !== undefined && { timestamp: parseTimestamp(timestamp, 'metadata.timestamp') }),
      ...(partitionKey !== undefined && { partitionKey: String(partitionKey) }),
      ...(msgChainId !== undefined && { msgChainId }),
    },
  }
}

/** One message of a batch: its content, its size as sent, and its own metadata. */
export interface BatchMessage {
  readonly content: unknown
  readonly sizeBytes: number
  readonly metadata?: PublishMetadata
}

/** Content types of a batch body: one JSON message per line. */
export const NDJSON_CONTENT_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl'] as const

/** Whether a Content-Type header names an NDJSON batch. */
export function isNdjson(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase()
  return (NDJSON_CONTENT_TYPES as readonly string[]).includes(type)
}

const NEWLINE = 0x0a
const CARRIAGE_RETURN = 0x0d

/**
 * Splits an NDJSON body into messages, one per non-blank line (`\n` or
 * `\r\n`), each parsed as {@link parseJsonMessage} does. Every line is parsed
 * before anything is published, so a bad one refuses the whole batch.
 *
 * @throws {@link NodeError} `BAD_REQUEST` naming the line; `PAYLOAD_TOO_LARGE` past `maxMessages`
 */
export function parseNdjsonBatch(body: Uint8Array, wrapped: boolean, maxMessages: number): BatchMessage[] {
  const messages: BatchMessage[] = []
  let line = 0
  for (let start = 0; start < body.length;) {
    let end = body.indexOf(NEWLINE, start)
    if (end === -1) end = body.length
    line++
    const stop = end > start && body[end - 1] === CARRIAGE_RETURN ? end - 1 : end
    const bytes = body.subarray(start, stop)
    start = end + 1
    let text: string
    try {
      text = strictUtf8.decode(bytes)
    } catch {
      throw badRequest(`line ${line} is not valid UTF-8`)
    }
    if (text.trim().length === 0) continue
    if (messages.length === maxMessages) {
      throw new NodeError(
        'PAYLOAD_TOO_LARGE',
        `the batch has more than ${maxMessages} messages, the most this node accepts per request`,
      )
    }
    try {
      messages.push({ ...parseJsonMessage(text, wrapped), sizeBytes: bytes.length })
    } catch (err) {
      throw badRequest(`line ${line}: ${shortMessageOf(err)}`)
    }
  }
  if (messages.length === 0) throw badRequest('the batch has no messages: send one JSON message per line')
  return messages
}

/** Combines query parameters and per-message metadata into the client's target and options. */
export function toPublishCall(
  streamId: string,
  content: unknown,
  params: PublishParams,
  metadata: PublishMetadata = {},
): { target: { id: string; partition?: number }; options: PublishOptions } {
  let partitionKey: string | number | undefined = metadata.partitionKey ?? params.partitionKey
  if (params.partitionKeyField !== undefined) {
    const field =
      typeof content === 'object' && content !== null
        ? (content as Record<string, unknown>)[params.partitionKeyField]
        : undefined
    if (typeof field !== 'string' && typeof field !== 'number') {
      throw badRequest(`partitionKeyField '${params.partitionKeyField}' is not a string or number field of the message`)
    }
    partitionKey = field
  }
  const timestamp = metadata.timestamp ?? params.timestamp
  const msgChainId = metadata.msgChainId ?? params.msgChainId
  return {
    target: params.partition === undefined ? { id: streamId } : { id: streamId, partition: params.partition },
    options: {
      ...(partitionKey !== undefined && params.partition === undefined && { partitionKey }),
      ...(timestamp !== undefined && { timestamp }),
      ...(msgChainId !== undefined && { msgChainId }),
    },
  }
}

/**
 * A received message as the APIs send it: its content (JSON text, or the
 * bytes of binary content), or with `payloadMetadata` a JSON object
 * `{ content, metadata }` where binary content is base64.
 */
export function formatMessage(message: ReceivedMessage, wrapped: boolean): string | Uint8Array {
  if (!wrapped) return message.content instanceof Uint8Array ? message.content : JSON.stringify(message.content)
  return JSON.stringify(messageToJson(message))
}
