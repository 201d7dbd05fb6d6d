import { ClientError } from '../errors.js'

/** The latest time a JavaScript Date can hold. */
const MAX_DATE_MS = 8.64e15

/**
 * A publish's timestamp: `now` when none is given; else it must be whole
 * milliseconds since 1970, at most `maxClockSkewMs` ahead of `now`.
 * Subscribers and storage nodes drop messages stamped further ahead, and a
 * chain's timestamps never go back, so one far-future timestamp would carry
 * over to every later message of its chain.
 *
 * @throws {@link ClientError} `INVALID_ARGUMENT` naming the timestamp, how far ahead it is and the limit
 * @example
 * ```ts
 * checkPublishTimestamp(Date.now() + 1_000, 300_000) // fine: 1 s ahead
 * checkPublishTimestamp(8640000000000000, 300_000) // throws: … ms ahead …; at most maxClockSkewMs (300000 ms) ahead is accepted
 * ```
 */
export function checkPublishTimestamp(timestamp: number | undefined, maxClockSkewMs: number, now = Date.now()): number {
  if (timestamp === undefined) return now
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new ClientError('INVALID_ARGUMENT', `timestamp must be whole milliseconds since 1970, got ${timestamp}`)
  }
  if (timestamp > now + maxClockSkewMs) {
    const when = timestamp <= MAX_DATE_MS ? new Date(timestamp).toISOString() : 'past the year 275760'
    throw new ClientError(
      'INVALID_ARGUMENT',
      `timestamp ${timestamp} (${when}) is ${timestamp - now} ms ahead of the clock here; ` +
        `at most maxClockSkewMs (${maxClockSkewMs} ms) ahead is accepted`,
    )
  }
  return timestamp
}
