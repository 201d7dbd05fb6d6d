import { parsePlacement, ProtocolError, type PlacementConstraint } from '@runnel/protocol'
import { ChainError } from './errors.js'

/** A stream's metadata as stored on chain (JSON). Unknown keys are kept as they are. */
export interface StreamMetadata {
  /** 1..100. Default 1. */
  readonly partitions?: number
  readonly description?: string
  /** Days storage nodes keep the stream's history. */
  readonly storageDays?: number
  /**
   * Where the stream's data may be carried: only nodes in these countries (ISO 3166-1 alpha-2 codes, or `EU`,
   * `EEA`) or regions, and, when given, only through these trackers or DHT entry points (docs/network.md,
   * "Placement").
   *
   * @example
   * ```ts
   * { partitions: 1, placement: { countries: ['EU', 'CH'], trackers: ['wss://tracker.example.eu:30300'] } }
   * ```
   */
  readonly placement?: PlacementConstraint
  readonly [key: string]: unknown
}

export const MAX_METADATA_BYTES = 10_000

/**
 * Serializes and checks metadata by the contract's rules, so a bad value fails
 * here with a clear error instead of as a revert after a round trip.
 *
 * @throws {@link ChainError} `INVALID_METADATA`
 */
export function encodeMetadata(metadata: StreamMetadata): string {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new ChainError('INVALID_METADATA', 'metadata must be a JSON object')
  }
  const { partitions, storageDays } = metadata
  if (partitions !== undefined && (!Number.isInteger(partitions) || partitions < 1 || partitions > 100)) {
    throw new ChainError('INVALID_METADATA', `partitions must be an integer 1..100, got ${String(partitions)}`)
  }
  if (storageDays !== undefined && (!Number.isSafeInteger(storageDays) || storageDays < 0)) {
    throw new ChainError('INVALID_METADATA', `storageDays must be a non-negative integer, got ${String(storageDays)}`)
  }
  if (metadata.placement !== undefined) placementOf(metadata)
  let json: string
  try {
    json = JSON.stringify(metadata)
  } catch (err) {
    throw new ChainError('INVALID_METADATA', `metadata can't be serialized: ${String(err)}`, { cause: err })
  }
  if (new TextEncoder().encode(json).length > MAX_METADATA_BYTES) {
    throw new ChainError('INVALID_METADATA', `metadata is over ${MAX_METADATA_BYTES} bytes`)
  }
  return json
}

/**
 * The stream's placement constraint, normalized; undefined when the metadata has none.
 *
 * @throws {@link ChainError} `INVALID_METADATA` naming the bad field, e.g. `placement.countries[1]`
 */
export function placementOf(metadata: StreamMetadata): PlacementConstraint | undefined {
  if (metadata.placement === undefined) return undefined
  try {
    return parsePlacement(metadata.placement)
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err
    throw new ChainError('INVALID_METADATA', err.message, { cause: err })
  }
}

/** Parses stored metadata; the contract guarantees it is a JSON object. */
export function decodeMetadata(json: string): StreamMetadata {
  try {
    return JSON.parse(json) as StreamMetadata
  } catch (err) {
    throw new ChainError('RPC_ERROR', `stored metadata is not JSON: ${String(err)}`, { cause: err })
  }
}
