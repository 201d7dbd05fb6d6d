import {
  ProtocolError,
  decodeSignedReceipt,
  openReceipt,
  readReceipt,
  receiptDigest,
  type Receipt,
  type SignatureVerifier,
  type StreamMessage,
} from '@runnel/protocol'
import { compareRef, entriesBetween, type ChainLog, type Entry, type ForgottenRef } from './ChainLog.js'
import type { ReceiptRejection } from './retention.js'

/**
 * The storage receipt a message carries, opened, if it is about messages of `publisherId`; undefined when it is
 * about someone else's (only a client's own chains concern it, and everyone in the stream part sees every receipt,
 * so the signature is checked only for those), or why it is refused.
 */
export function openOwnReceipt(
  carrier: StreamMessage,
  publisherId: string,
  verifier: SignatureVerifier,
): Receipt | { readonly rejected: ReceiptRejection } | undefined {
  let receipt: Receipt
  try {
    const signed = decodeSignedReceipt(carrier.content)
    if (readReceipt(signed).publisherId !== publisherId) return undefined
    receipt = openReceipt(signed, verifier)
  } catch (err) {
    if (err instanceof ProtocolError) return { rejected: 'malformed' }
    throw err
  }
  if (receipt.signerId !== carrier.publisherId || receipt.streamPartId !== carrier.streamPartId) {
    return { rejected: 'signer-mismatch' }
  }
  return receipt
}

/**
 * The kept entries a receipt covers: exactly what the chain holds in its range, by the digest of their signatures.
 * A range reaching back over forgotten messages is checked with the signatures kept of them (`ChainLog.forgotten`).
 * `late`: all were forgotten already, after another receipt covered them, or too long ago to check. `unknown-messages`:
 * never published so.
 */
export function coveredEntries(chain: ChainLog, receipt: Receipt): Entry[] | 'late' | 'unknown-messages' {
  const covered = entriesBetween(chain, receipt.from, receipt.to)
  const reachesForgotten =
    compareRef(receipt.to, chain.firstRef) >= 0 &&
    chain.lastForgotten !== undefined &&
    compareRef(receipt.from, chain.lastForgotten) <= 0
  let run: readonly (Entry['message'] | ForgottenRef)[] = covered.map((entry) => entry.message)
  if (covered.length !== receipt.messageCount) {
    if (!reachesForgotten) return 'unknown-messages'
    run = withForgotten(chain, receipt, covered)
    if (run.length !== receipt.messageCount) return 'late'
  }
  if (!equalBytes(receiptDigest(run), receipt.digest)) return 'unknown-messages'
  return covered.length === 0 ? 'late' : covered
}

/** The receipt's range, in ref order: the kept entries and the forgotten messages whose signatures are kept. */
function withForgotten(
  chain: ChainLog,
  receipt: Receipt,
  covered: readonly Entry[],
): (Entry['message'] | ForgottenRef)[] {
  const inRange = (ref: ForgottenRef) => compareRef(ref, receipt.from) >= 0 && compareRef(ref, receipt.to) <= 0
  const byRef = new Map<string, Entry['message'] | ForgottenRef>()
  for (const ref of chain.forgotten) if (inRange(ref)) byRef.set(`${ref.timestamp}/${ref.sequenceNumber}`, ref)
  for (const { message } of covered) byRef.set(`${message.timestamp}/${message.sequenceNumber}`, message)
  return [...byRef.values()].sort((a, b) => a.timestamp - b.timestamp || a.sequenceNumber - b.sequenceNumber)
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
