/**
 * Checks a tail message's signature in the browser, from the signed bytes the server relayed: the page needn't take
 * the explorer server's word for which messages are genuine.
 */

import { decodeStreamMessage, pureSignatureVerifier, verifyStreamMessage } from '@runnel/protocol'
import type { TailMessage } from '../../../src/api.js'

/**
 * `valid`: signed by the publisher it names. `forged`: the signature doesn't verify. `mismatch`: the signed message
 * isn't the one the server described (another publisher, time or sequence number). `unreadable`: the bytes don't
 * decode.
 */
export type BrowserVerdict = 'valid' | 'forged' | 'mismatch' | 'unreadable'

export function checkInBrowser(message: TailMessage): BrowserVerdict {
  let bytes: Uint8Array
  try {
    bytes = Uint8Array.from(atob(message.frame), (char) => char.charCodeAt(0))
  } catch {
    return 'unreadable'
  }
  let signed
  try {
    signed = decodeStreamMessage(bytes)
  } catch {
    return 'unreadable'
  }
  if (
    signed.publisherId !== message.publisherId.toLowerCase() ||
    signed.timestamp !== message.timestamp ||
    signed.sequenceNumber !== message.sequenceNumber ||
    signed.messageChainId !== message.msgChainId
  ) {
    return 'mismatch'
  }
  return verifyStreamMessage(signed, pureSignatureVerifier) ? 'valid' : 'forged'
}
