import type { MessageRef, StreamMessage, StreamPartId } from '@runnel/protocol'
import type { ClientError } from '../errors.js'

/** A `stored` acknowledgement waiting for receipts. */
export interface Waiter {
  readonly minNodes: number
  readonly resolve: () => void
  readonly reject: (error: ClientError) => void
}

/** A published message kept until storage receipts cover it. */
export interface Entry {
  readonly message: StreamMessage
  readonly bytes: number
  readonly at: number
  /** Storage nodes whose receipts cover it. */
  readonly storedBy: Set<string>
  /** When the first receipt came. */
  firstStoredAt: number
  /** When it was last sent: published, or re-offered. */
  lastOfferedAt: number
  /** When it was last re-offered for a catch-up request (-Infinity: never). */
  caughtUpAt: number
  waiters: Waiter[] | undefined
  done: boolean
}

/** One publisher chain of one stream part: its kept messages in ref order, from `head` on. */
export interface ChainLog {
  readonly streamId: string
  readonly streamPartId: StreamPartId
  entries: Entry[]
  head: number
  /** The first message this client kept of the chain: a receipt about earlier ones is about messages it never sent. */
  readonly firstRef: MessageRef
  /** The latest message forgotten: a receipt reaching back to it may come late, after another covered it. */
  lastForgotten: MessageRef | undefined
  /**
   * What the receipt digest needs of the latest forgotten messages (see {@link rememberForgotten}): a storage node
   * that joins again may receipt a run reaching back over messages another receipt already covered (a neighbour's
   * recent messages) together with ones still kept, and the digest covers the whole run.
   */
  forgotten: ForgottenRef[]
  /** When the chain ended (`PublishLog.endChain`): it is dropped once empty and late receipts had time to come. */
  endedAt: number | undefined
}

/** A forgotten message's ref and the part of it a receipt digest reads (its signature). */
export interface ForgottenRef {
  readonly timestamp: number
  readonly sequenceNumber: number
  readonly signature: Uint8Array
  readonly signatureType: StreamMessage['signatureType']
}

/** How many forgotten messages' signatures a chain keeps at least (at most twice that): about 100 bytes each. */
export const FORGOTTEN_KEPT = 1024

/** Keeps a forgotten message's signature for digests of runs reaching back over it; the oldest go in bulk. */
export function rememberForgotten(chain: ChainLog, message: StreamMessage): void {
  const { forgotten } = chain
  forgotten.push({
    timestamp: message.timestamp,
    sequenceNumber: message.sequenceNumber,
    signature: message.signature,
    signatureType: message.signatureType,
  })
  if (forgotten.length > 2 * FORGOTTEN_KEPT) forgotten.splice(0, forgotten.length - FORGOTTEN_KEPT)
}

export function compareRef(a: { timestamp: number; sequenceNumber: number }, b: MessageRef): number {
  return a.timestamp - b.timestamp || a.sequenceNumber - b.sequenceNumber
}

export function chainKey(streamPartId: string, msgChainId: string): string {
  return `${streamPartId}\u0000${msgChainId}`
}

/** Keeps an entry in ref order (it nearly always comes last). */
export function insertEntry(chain: ChainLog, entry: Entry): void {
  const { entries } = chain
  const last = entries.at(-1)
  const ref = entry.message.getMessageRef()
  if (last === undefined || compareRef(last.message, ref) < 0) entries.push(entry)
  else entries.splice(lowerBound(chain, ref), 0, entry)
}

/** Index of the first kept entry at or after `ref`. */
export function lowerBound(chain: ChainLog, ref: MessageRef): number {
  let low = chain.head
  let high = chain.entries.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (compareRef(chain.entries[middle]!.message, ref) < 0) low = middle + 1
    else high = middle
  }
  return low
}

/** The kept entries from `from` to `to`, both inclusive. */
export function entriesBetween(chain: ChainLog, from: MessageRef, to: MessageRef): Entry[] {
  const first = lowerBound(chain, from)
  let end = first
  while (end < chain.entries.length && compareRef(chain.entries[end]!.message, to) <= 0) end++
  return chain.entries.slice(first, end)
}

/** Drops the array's forgotten prefix once it is most of the array (not at every forget: that would be O(n²)). */
export function compact(chain: ChainLog): void {
  if (chain.head === chain.entries.length) {
    chain.entries = []
    chain.head = 0
  } else if (chain.head > 1024 && chain.head * 2 > chain.entries.length) {
    chain.entries = chain.entries.slice(chain.head)
    chain.head = 0
  }
}
