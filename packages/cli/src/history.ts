import { InvalidArgumentError } from 'commander'
import { parseIsoDate, type HistoryRef } from '@runnel/client'
import { MAX_SEQUENCE_NUMBER } from '@runnel/protocol'

/**
 * Parses a point in a stream's history as `resend` takes it: milliseconds
 * since 1970 (`1748779200000`), an ISO-8601 date or time (`2025-06-01`,
 * `2025-06-01T12:00:00Z`; without an offset a time is local, a date alone
 * UTC), or `<milliseconds>:<sequence number>` (`1748779200000:3`).
 *
 * @throws {InvalidArgumentError} naming the accepted forms: a usage error, exit 2
 * @example
 * ```ts
 * parseHistoryRef('1748779200000:3') // { timestamp: 1748779200000, sequenceNumber: 3 }
 * parseHistoryRef('2025-06-01T12:00:00Z') // { timestamp: 1748779200000 }
 * ```
 */
export function parseHistoryRef(value: string): HistoryRef {
  const text = value.trim()
  const withSequence = /^(\d+):(\d+)$/.exec(text)
  if (withSequence !== null) {
    const sequenceNumber = Number(withSequence[2])
    if (sequenceNumber > MAX_SEQUENCE_NUMBER) {
      throw new InvalidArgumentError(
        `the sequence number must be at most ${MAX_SEQUENCE_NUMBER}, got ${withSequence[2]!}`,
      )
    }
    return { timestamp: milliseconds(withSequence[1]!), sequenceNumber }
  }
  if (/^\d+$/.test(text)) return { timestamp: milliseconds(text) }
  const timestamp = parseIsoDate(text)
  if (timestamp !== undefined) return { timestamp }
  throw new InvalidArgumentError(
    'expected milliseconds since 1970, an ISO-8601 date or time (2025-06-01T12:00:00Z), or <milliseconds>:<sequence number>',
  )
}

/** Describes a point for messages: `1748779200000:3 (2025-06-01T12:00:00.000Z)`. */
export function formatHistoryRef(ref: HistoryRef): string {
  const point = ref.sequenceNumber === undefined ? String(ref.timestamp) : `${ref.timestamp}:${ref.sequenceNumber}`
  return `${point} (${new Date(ref.timestamp).toISOString()})`
}

function milliseconds(digits: string): number {
  const timestamp = Number(digits)
  if (!Number.isSafeInteger(timestamp)) {
    throw new InvalidArgumentError('the timestamp is out of range')
  }
  return timestamp
}
