// RecoveredSigners: a record's signer is recovered once, whatever number of copies a lookup hears, and a copy with
// other content or another signature is recovered on its own.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generatePrivateKey, type SignatureVerifier } from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { RecoveredSigners, createRecordDigest, signRecord } from '../../src/dht/records.js'

/** The real verifier, counting its recoveries. */
function countingVerifier(): SignatureVerifier & { recoveries: number } {
  const counting = {
    recoveries: 0,
    recoverPersonalMessageSigner(payload: Uint8Array, signature: Uint8Array) {
      counting.recoveries++
      return nativeSignatureVerifier.recoverPersonalMessageSigner(payload, signature)
    },
  }
  return counting
}

describe('RecoveredSigners', () => {
  const signer = createNativeSigner(generatePrivateKey())
  const key = new Uint8Array(20).fill(7)

  it('recovers a signature once and answers copies from memory, exactly as recovering would', async () => {
    const record = await signRecord(signer, { key, value: new Uint8Array([1]), expiresAt: 1e12, sequence: 1n })
    const verifier = countingVerifier()
    const recovered = new RecoveredSigners(4)
    for (let copy = 0; copy < 5; copy++) {
      assert.equal(recovered.recover(verifier, createRecordDigest(record), record.signature), signer.address)
    }
    assert.equal(verifier.recoveries, 1)
  })

  it('recovers again for other content under the same signature, and forgets the oldest past its capacity', async () => {
    const verifier = countingVerifier()
    const recovered = new RecoveredSigners(2)
    const records = await Promise.all(
      [1n, 2n, 3n].map((sequence) => signRecord(signer, { key, value: new Uint8Array(), expiresAt: 1e12, sequence })),
    )
    const [first, second, third] = records.map((record) => ({ digest: createRecordDigest(record), ...record }))
    // First's signature over second's content: recovered on its own, and it names someone else.
    assert.notEqual(recovered.recover(verifier, second!.digest, first!.signature), signer.address)
    assert.equal(verifier.recoveries, 1)
    for (const record of [first!, second!, third!]) recovered.recover(verifier, record.digest, record.signature)
    assert.equal(verifier.recoveries, 4)
    recovered.recover(verifier, third!.digest, third!.signature)
    assert.equal(verifier.recoveries, 4, 'the newest is remembered')
    recovered.recover(verifier, first!.digest, first!.signature)
    assert.equal(verifier.recoveries, 5, 'the oldest was forgotten')
  })
})
