import { ChainError } from './errors.js'

/** A stream's metadata as stored on chain (JSON). Unknown keys are kept as they are. */
export interface StreamMetadata {
  /** 1..100. Default 1. */
  readonly partitions?: number
  readonly description?: string
  /** Days storage nodes keep the stream's history. */
  readonly storageDays?: number
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

/** Parses stored metadata; the contract guarantees it is a JSON object. */
export function decodeMetadata(json: string): StreamMetadata {
  try {
    return JSON.parse(json) as StreamMetadata
  } catch (err) {
    throw new ChainError('RPC_ERROR', `stored metadata is not JSON: ${String(err)}`, { cause: err })
  }
}
