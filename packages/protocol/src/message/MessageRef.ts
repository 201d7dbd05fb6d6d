import { ProtocolError, describeValue } from '../errors/index.js'

/** Largest sequence number: sequence numbers are unsigned 32-bit on the wire. */
export const MAX_SEQUENCE_NUMBER = 0xffff_ffff

/**
 * A message's position in its publisher's chain. Refs are totally ordered:
 * by timestamp, then by sequence number (which tells apart messages a
 * publisher sends within one millisecond).
 *
 * @example
 * ```ts
 * new MessageRef(1700000000000, 0).compareTo(new MessageRef(1700000000000, 1)) // -1
 * ```
 */
export class MessageRef {
  /** Milliseconds since the Unix epoch. */
  readonly timestamp: number
  readonly sequenceNumber: number

  constructor(timestamp: number, sequenceNumber: number) {
    validateTimestamp(timestamp, 'timestamp')
    validateSequenceNumber(sequenceNumber, 'sequenceNumber')
    this.timestamp = timestamp
    this.sequenceNumber = sequenceNumber
  }

  /** Negative if this ref comes before `other`, positive if after, 0 if equal. */
  compareTo(other: MessageRef): number {
    if (this.timestamp !== other.timestamp) {
      return this.timestamp < other.timestamp ? -1 : 1
    }
    if (this.sequenceNumber !== other.sequenceNumber) {
      return this.sequenceNumber < other.sequenceNumber ? -1 : 1
    }
    return 0
  }

  equals(other: MessageRef): boolean {
    return this.timestamp === other.timestamp && this.sequenceNumber === other.sequenceNumber
  }

  toString(): string {
    return `${this.timestamp}:${this.sequenceNumber}`
  }
}

export function validateTimestamp(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ProtocolError(
      'INVALID_MESSAGE',
      `${field} must be a non-negative integer of milliseconds, got ${describeValue(value)}`,
      { field },
    )
  }
}

export function validateSequenceNumber(value: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_SEQUENCE_NUMBER) {
    throw new ProtocolError(
      'INVALID_MESSAGE',
      `${field} must be an integer 0..${MAX_SEQUENCE_NUMBER}, got ${describeValue(value)}`,
      { field },
    )
  }
}
