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
import { compareRef, entriesBetween, type ChainLog, type Entry } from './ChainLog.js'
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
 * `late`: some were forgotten already, after another receipt covered them. `unknown-messages`: never published so.
 */
export function coveredEntries(chain: ChainLog, receipt: Receipt): Entry[] | 'late' | 'unknown-messages' {
  const covered = entriesBetween(chain, receipt.from, receipt.to)
  if (covered.length !== receipt.messageCount) {
    const late =
      compareRef(receipt.to, chain.firstRef) >= 0 &&
      chain.lastForgotten !== undefined &&
      compareRef(receipt.from, chain.lastForgotten) <= 0
    return late ? 'late' : 'unknown-messages'
  }
  if (!equalBytes(receiptDigest(covered.map((entry) => entry.message)), receipt.digest)) {
    return 'unknown-messages'
  }
  return covered
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
