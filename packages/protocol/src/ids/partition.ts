import { keccak256 } from '../crypto/keccak.js'
import { ProtocolError, describeValue } from '../errors/index.js'
import { MAX_PARTITION_COUNT } from './stream.js'

const textEncoder = new TextEncoder()

/**
 * Maps a partition key (e.g. a device id) onto one of a stream's partitions,
 * so all messages with one key land in one partition, in order. Stable across
 * versions and languages: the first 4 bytes of keccak256(UTF-8 key), read as a
 * big-endian unsigned integer, modulo the partition count. Numbers are keyed
 * by their decimal string.
 *
 * @example
 * ```ts
 * partitionFromKey('device-42', 10) // always the same 0..9
 * ```
 * @throws {@link ProtocolError} `INVALID_PARTITION` if `partitionCount` is not 1..100
 */
export function partitionFromKey(key: string | number, partitionCount: number): number {
  if (!Number.isInteger(partitionCount) || partitionCount < 1 || partitionCount > MAX_PARTITION_COUNT) {
    throw new ProtocolError(
      'INVALID_PARTITION',
      `partition count must be an integer 1..${MAX_PARTITION_COUNT}, got ${describeValue(partitionCount)}`,
    )
  }
  if (partitionCount === 1) {
    return 0
  }
  const hash = keccak256(textEncoder.encode(String(key)))
  const value = ((hash[0]! << 24) | (hash[1]! << 16) | (hash[2]! << 8) | hash[3]!) >>> 0
  return value % partitionCount
}
