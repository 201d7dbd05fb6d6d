import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createPureSigner, generatePrivateKey, pureSignatureVerifier } from '@runnel/protocol'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createAccountSigner } from '../../src/auth/signers.js'
import { toMessageSignature } from '../../src/auth/signatures.js'
import { ClientError } from '../../src/index.js'

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const payload = new TextEncoder().encode('runnel message payload')

describe('wallet signatures as message signatures', () => {
  it('keeps a low-s signature with v 27/28 as it is', async () => {
    const signer = createPureSigner(generatePrivateKey())
    const signature = await signer.signPersonalMessage(payload)
    assert.deepEqual(toMessageSignature(bytesToHex(signature)), signature)
  })

  it('rewrites v 0/1 to 27/28', async () => {
    const signer = createPureSigner(generatePrivateKey())
    const signature = await signer.signPersonalMessage(payload)
    const zeroBased = signature.slice()
    zeroBased[64] = signature[64]! - 27
    assert.deepEqual(toMessageSignature(bytesToHex(zeroBased)), signature)
  })

  it('rewrites a high-s signature to its low-s twin, which recovers the same signer', async () => {
    const signer = createPureSigner(generatePrivateKey())
    const signature = await signer.signPersonalMessage(payload)
    const high = signature.slice()
    let s = 0n
    for (let i = 32; i < 64; i++) s = (s << 8n) | BigInt(signature[i]!)
    let twin = N - s
    for (let i = 63; i >= 32; i--) {
      high[i] = Number(twin & 0xffn)
      twin >>= 8n
    }
    high[64] = signature[64] === 27 ? 28 : 27
    assert.notEqual(pureSignatureVerifier.recoverPersonalMessageSigner(payload, high), undefined)
    const normalized = toMessageSignature(bytesToHex(high))
    assert.deepEqual(normalized, signature)
    assert.equal(pureSignatureVerifier.recoverPersonalMessageSigner(payload, normalized), signer.address)
  })

  it('refuses answers that are not 65-byte signatures, naming what came', () => {
    for (const answer of [undefined, 42, '0x1234', `0x${'ab'.repeat(65)}`, `0x${'00'.repeat(64)}1b`]) {
      assert.throws(
        () => toMessageSignature(answer),
        (err) => err instanceof ClientError && err.code === 'INVALID_ARGUMENT',
      )
    }
  })

  it("signs with a viem local account as the protocol's own signer does", async () => {
    const privateKey = generatePrivateKey()
    const signer = createAccountSigner(privateKeyToAccount(privateKey as `0x${string}`))
    assert.equal(signer.address, createPureSigner(privateKey).address)
    const signature = await signer.signPersonalMessage(payload)
    assert.equal(pureSignatureVerifier.recoverPersonalMessageSigner(payload, signature), signer.address)
  })

  it('refuses a JSON-RPC account without a provider to sign through', () => {
    assert.throws(
      () => createAccountSigner({ address: '0x70997970c51812dc3a010c7d01b50e0d17dc79c8', type: 'json-rpc' }),
      (err) => err instanceof ClientError && err.code === 'INVALID_ARGUMENT' && /chain\.provider/.test(err.message),
    )
  })
})
