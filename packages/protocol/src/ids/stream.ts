import { ProtocolError, describeValue, shortMessageOf } from '../errors/index.js'
import { parseEthereumAddress, type EthereumAddress } from '../identity/address.js'

declare const streamIdBrand: unique symbol
declare const streamPartIdBrand: unique symbol

/** `<owner address>/<path>`, normalized (lowercase owner). Made only by {@link parseStreamId} or {@link toStreamId}. */
export type StreamId = string & { readonly [streamIdBrand]: true }

/** `<stream id>#<partition>`: the unit of routing. Made only by {@link parseStreamPartId} or {@link toStreamPartId}. */
export type StreamPartId = string & { readonly [streamPartIdBrand]: true }

/** A stream has 1..100 partitions, numbered 0..99. */
export const MAX_PARTITION_COUNT = 100
/** Longest allowed path, including its leading `/`. */
export const MAX_STREAM_PATH_LENGTH = 255
/** Longest allowed stream id: 42-character address plus the longest path. */
export const MAX_STREAM_ID_LENGTH = 42 + MAX_STREAM_PATH_LENGTH

// Segments are non-empty and never `.` or `..`, so two spellings can't name one stream.
const PATH_PATTERN = /^(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._-]+)+$/

// Decode, and every publish an app makes, see the same few stream ids over and
// over; remembering the ones that passed (with their normalized form, as a
// checksummed owner costs a keccak hash) keeps validation off the hot path.
// Bounded so a peer spraying random ids can't grow it.
const validatedStreamIds = new Map<string, StreamId>()
const VALIDATED_CACHE_LIMIT = 10_000

/**
 * Validates and normalizes a stream id. Safe on untrusted input (an id from a
 * URL, a topic, a peer): the error says what is wrong, and quotes the input
 * cut short and with its control characters escaped.
 *
 * @example
 * ```ts
 * parseStreamId('0x52908400098527886E0F7030069857D2E4169EE7/sensors/temperature')
 * // '0x52908400098527886e0f7030069857d2e4169ee7/sensors/temperature'
 * ```
 * @throws {@link ProtocolError} `INVALID_STREAM_ID`
 */
export function parseStreamId(input: string): StreamId {
  const validated = validatedStreamIds.get(input)
  if (validated !== undefined) {
    return validated
  }
  if (typeof input !== 'string') {
    throw new ProtocolError('INVALID_STREAM_ID', `expected a string, got ${describeValue(input)}`)
  }
  const slash = input.indexOf('/')
  if (slash === -1) {
    throw new ProtocolError(
      'INVALID_STREAM_ID',
      `${describeValue(input)} has no path: expected <owner address>/<path>, e.g. 0xab…cd/sensors`,
    )
  }
  let owner: EthereumAddress
  try {
    owner = parseEthereumAddress(input.slice(0, slash))
  } catch (err) {
    throw new ProtocolError(
      'INVALID_STREAM_ID',
      `${describeValue(input)} has an invalid owner address: ${shortMessageOf(err)}`,
      { cause: err },
    )
  }
  const path = input.slice(slash)
  validateStreamPath(path, input)
  const normalized = (owner + path) as StreamId
  // Full: start afresh rather than stop remembering, so ids sprayed by API clients or peers can't keep the ids in
  // use out for good; those come back at their next use.
  if (validatedStreamIds.size >= VALIDATED_CACHE_LIMIT) validatedStreamIds.clear()
  validatedStreamIds.set(input, normalized)
  return normalized
}

function validateStreamPath(path: string, input: string): void {
  if (path.length > MAX_STREAM_PATH_LENGTH) {
    throw new ProtocolError(
      'INVALID_STREAM_ID',
      `path of ${describeValue(input)} is ${path.length} characters; the maximum is ${MAX_STREAM_PATH_LENGTH}`,
    )
  }
  if (!PATH_PATTERN.test(path)) {
    throw new ProtocolError(
      'INVALID_STREAM_ID',
      `path of ${describeValue(input)} is invalid: segments separated by single "/", ` +
        'made of [A-Za-z0-9._-], not "." or "..", no trailing "/"',
    )
  }
}

/**
 * Builds a stream id from an owner and a path.
 *
 * @example
 * ```ts
 * toStreamId(myAddress, '/sensors/temperature')
 * ```
 */
export function toStreamId(owner: EthereumAddress, path: string): StreamId {
  return parseStreamId(`${owner}${path}`)
}

/** The owner address and path of a stream id. */
export function splitStreamId(streamId: StreamId): { owner: EthereumAddress; path: string } {
  const slash = streamId.indexOf('/')
  return { owner: streamId.slice(0, slash) as EthereumAddress, path: streamId.slice(slash) }
}

/**
 * Validates a partition number (0..99).
 *
 * @throws {@link ProtocolError} `INVALID_PARTITION`
 */
export function parsePartition(input: number): number {
  if (!Number.isInteger(input) || input < 0 || input >= MAX_PARTITION_COUNT) {
    throw new ProtocolError(
      'INVALID_PARTITION',
      `partition must be an integer 0..${MAX_PARTITION_COUNT - 1}, got ${describeValue(input)}`,
    )
  }
  return input
}

/**
 * @example
 * ```ts
 * toStreamPartId(streamId, 3) // '0xab…cd/sensors#3'
 * ```
 */
export function toStreamPartId(streamId: StreamId, partition: number): StreamPartId {
  return `${streamId}#${parsePartition(partition)}` as StreamPartId
}

/**
 * Validates a stream part id `<stream id>#<partition>`.
 *
 * @throws {@link ProtocolError} `INVALID_STREAM_PART_ID`
 */
export function parseStreamPartId(input: string): StreamPartId {
  const hash = typeof input === 'string' ? input.lastIndexOf('#') : -1
  const partitionText = hash === -1 ? '' : input.slice(hash + 1)
  if (hash === -1 || !/^(?:0|[1-9][0-9]?)$/.test(partitionText)) {
    throw new ProtocolError(
      'INVALID_STREAM_PART_ID',
      `expected <stream id>#<partition 0..${MAX_PARTITION_COUNT - 1}>, got ${describeValue(input)}`,
    )
  }
  try {
    return toStreamPartId(parseStreamId(input.slice(0, hash)), Number(partitionText))
  } catch (err) {
    throw new ProtocolError('INVALID_STREAM_PART_ID', `${describeValue(input)} has an invalid stream id`, {
      cause: err,
    })
  }
}

/** The stream id and partition of a stream part id. */
export function splitStreamPartId(streamPartId: StreamPartId): { streamId: StreamId; partition: number } {
  const hash = streamPartId.lastIndexOf('#')
  return { streamId: streamPartId.slice(0, hash) as StreamId, partition: Number(streamPartId.slice(hash + 1)) }
}
