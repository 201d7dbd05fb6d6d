import { MessageType, decodeStreamMessage, type StreamMessage } from '@runnel/protocol'

/** Why a message a peer sent was not stored. */
export type RefusalReason =
  | 'malformed'
  | 'wrong-stream-part'
  | 'out-of-range'
  | 'not-data'
  | 'timestamp-in-future'
  | 'invalid-signature'
  | 'no-publish-permission'

/** What a fetch asked for: the answer must lie inside it. */
export interface ExpectedRange {
  readonly streamId: string
  readonly partition: number
  readonly from: { readonly timestamp: number; readonly sequenceNumber: number }
  readonly to: { readonly timestamp: number; readonly sequenceNumber: number }
  readonly publisherId?: string | undefined
  readonly msgChainId?: string | undefined
}

export interface FetchedMessageCheckComponents {
  /**
   * Signature check of each message, in order; `frames` are their encodings. Batched so that it can run off the
   * event loop's thread (`SignatureWorkers`).
   */
  verifySignatures(messages: readonly StreamMessage[], frames: readonly Uint8Array[]): Promise<boolean[]>
  /** Whether the publisher held publish permission at the message's time (as the live path asks it). */
  mayPublish(streamId: string, publisherId: string, timestamp: number): Promise<boolean>
  now(): number
  /** How far ahead of this node's clock a message may be stamped (the client's `maxClockSkewMs`). */
  readonly maxClockSkewMs: number
}

export interface CheckResult {
  readonly accepted: StreamMessage[]
  /** The encodings of `accepted`, as received. */
  readonly acceptedFrames: Uint8Array[]
  readonly refused: ReadonlyMap<RefusalReason, number>
}

/**
 * Checks the messages another storage node sent before they are stored: each
 * must decode, belong to the stream part and range asked for, be a data
 * message, and pass what a live message passes (valid signature, publisher
 * permitted at its time, not stamped in the future). A peer is trusted with
 * nothing: what fails is refused and counted, and the rest of the batch goes
 * on.
 */
export class FetchedMessageCheck {
  constructor(private readonly components: FetchedMessageCheckComponents) {}

  async check(frames: readonly Uint8Array[], expected: ExpectedRange): Promise<CheckResult> {
    const refused = new Map<RefusalReason, number>()
    const refuse = (reason: RefusalReason): void => {
      refused.set(reason, (refused.get(reason) ?? 0) + 1)
    }
    const latest = this.components.now() + this.components.maxClockSkewMs
    const candidates: StreamMessage[] = []
    const candidateFrames: Uint8Array[] = []
    for (const frame of frames) {
      let message: StreamMessage
      try {
        message = decodeStreamMessage(frame)
      } catch {
        refuse('malformed')
        continue
      }
      const id = message.messageId
      if (id.streamId !== expected.streamId || id.streamPartition !== expected.partition) refuse('wrong-stream-part')
      else if (!inRange(message, expected)) refuse('out-of-range')
      else if (message.messageType !== MessageType.Data) refuse('not-data')
      else if (message.timestamp > latest) refuse('timestamp-in-future')
      else {
        candidates.push(message)
        candidateFrames.push(frame)
      }
    }
    const valid = candidates.length === 0 ? [] : await this.components.verifySignatures(candidates, candidateFrames)
    const accepted: StreamMessage[] = []
    const acceptedFrames: Uint8Array[] = []
    // Permissions hold per second (chain time): one question per publisher and second, not per message.
    const permitted = new Map<string, Promise<boolean>>()
    for (let i = 0; i < candidates.length; i++) {
      const message = candidates[i]!
      if (valid[i] !== true) {
        refuse('invalid-signature')
        continue
      }
      const key = `${message.publisherId}/${Math.floor(message.timestamp / 1000)}`
      let allowed = permitted.get(key)
      if (allowed === undefined) {
        allowed = this.components.mayPublish(message.streamId, message.publisherId, message.timestamp)
        permitted.set(key, allowed)
      }
      if (!(await allowed)) refuse('no-publish-permission')
      else {
        accepted.push(message)
        acceptedFrames.push(candidateFrames[i]!)
      }
    }
    return { accepted, acceptedFrames, refused }
  }
}

function inRange(message: StreamMessage, expected: ExpectedRange): boolean {
  if (expected.publisherId !== undefined && message.publisherId !== expected.publisherId) return false
  if (expected.msgChainId !== undefined && message.messageChainId !== expected.msgChainId) return false
  const { timestamp, sequenceNumber } = message
  const { from, to } = expected
  if (timestamp < from.timestamp || (timestamp === from.timestamp && sequenceNumber < from.sequenceNumber)) return false
  return timestamp < to.timestamp || (timestamp === to.timestamp && sequenceNumber <= to.sequenceNumber)
}
