// A worker thread of SignatureWorkers: checks the signatures of encoded
// messages with libsecp256k1, off the node's event loop thread.
import { parentPort } from 'node:worker_threads'
import { decodeStreamMessage, verifyStreamMessage, whenHashingReady } from '@runnel/protocol'
import { nativeSignatureVerifier } from '@runnel/protocol/native'

/** Parent → worker: messages packed one after another in `bytes`, message i ending at `ends[i]`. */
export interface VerifyRequest {
  readonly id: number
  readonly bytes: Uint8Array
  readonly ends: Uint32Array
}

/** Worker → parent: 1 for a valid signature, 0 for an invalid one or a message that doesn't decode. */
export interface VerifyResponse {
  readonly id: number
  readonly valid: Uint8Array
}

await whenHashingReady()
parentPort!.on('message', (request: VerifyRequest) => {
  const valid = new Uint8Array(request.ends.length)
  let start = 0
  for (let i = 0; i < request.ends.length; i++) {
    const end = request.ends[i]!
    try {
      valid[i] = verifyStreamMessage(decodeStreamMessage(request.bytes.subarray(start, end)), nativeSignatureVerifier)
        ? 1
        : 0
    } catch {
      valid[i] = 0
    }
    start = end
  }
  const response: VerifyResponse = { id: request.id, valid }
  parentPort!.postMessage(response, [valid.buffer])
})
