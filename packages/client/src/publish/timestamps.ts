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

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2}))?)?$/

/**
 * Reads an ISO-8601 date or time as milliseconds since 1970: `2025-06-01`
 * (UTC), `2025-06-01T12:00:00Z`, `2025-06-01T12:00:00.5+02:00`; without an
 * offset a time is local. Undefined for anything else, including dates that
 * don't exist (`2025-02-30`, which `Date.parse` rolls over to March) and
 * strings `Date.parse` reads its own way (`-1` as 2001-01-01).
 *
 * @example
 * ```ts
 * parseIsoDate('2025-06-01T12:00:00Z') // 1748779200000
 * parseIsoDate('2025-02-30') // undefined
 * ```
 */
export function parseIsoDate(text: string): number | undefined {
  const match = ISO_DATE.exec(text)
  if (match === null || !validCalendar(match)) return undefined
  const timestamp = Date.parse(text)
  return Number.isSafeInteger(timestamp) && timestamp >= 0 ? timestamp : undefined
}

function validCalendar(match: RegExpExecArray): boolean {
  const [, year, month, day, hour = '0', minute = '0', second = '0', , offsetHours = '0', offsetMinutes = '0'] = match
  const daysInMonth = new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate()
  return (
    Number(month) >= 1 &&
    Number(month) <= 12 &&
    Number(day) >= 1 &&
    Number(day) <= daysInMonth &&
    Number(hour) <= 23 &&
    Number(minute) <= 59 &&
    Number(second) <= 59 &&
    Number(offsetHours) <= 23 &&
    Number(offsetMinutes) <= 59
  )
}
