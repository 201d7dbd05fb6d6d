import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create, toBinary } from '@bufbuild/protobuf'
import { bytesToHex, recoverMessageAddress, toHex } from 'viem'
import {
  MessageRef,
  ProtocolError,
  addressToBytes,
  createTaggedPayload,
  createPureSigner,
  decodeSignedReceipt,
  encodeSignedReceipt,
  keccak256,
  openReceipt,
  pureSignatureVerifier,
  receiptDigest,
  signReceipt,
  toStreamId,
  toStreamPartId,
  type Receipt,
  type SignedReceipt,
} from '../../src/index.js'
import { ReceiptSchema } from '../../src/generated/runnel/protocol/v1/receipt_pb.js'
import { MessageRefSchema } from '../../src/generated/runnel/protocol/v1/stream_message_pb.js'
import { createNativeSigner, nativeSignatureVerifier } from '../../src/native/index.js'
import { TEST_PRIVATE_KEY, createTestMessage, testSigner } from '../fixtures.js'

const storageNode = createPureSigner('0x8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f')
const streamPartId = toStreamPartId(toStreamId(testSigner.address, '/sensors/temperature'), 3)

// The receipt of fields() signed by storageNode, as a protobuf SignedReceipt.
const PINNED_SIGNED_RECEIPT =
  '0x0ab8010801121463fac9201494f0bd17b9892b9fae4d52fe3bd3771a403078326337353336653336303564396331366137613364376231383938653532393339366136356332332f73656e736f72732f74656d7065726174757265233322142c7536e3605d9c16a7a3d7b1898e529396a65c232a07636861696e2d3132070880d095ffbc313a090885d095ffbc31100240044a20070707070707070707070707070707070707070707070707070707070707070750e8d795ffbc311241f811b21c6dacd420b060001cedf92ad8a89a0d08c8f56d83c93de80aa34e6a7e51ceb20b0c361fc414bac95208ca8840cd0b925fc24eba89443496058aa534311c'

function fields(overrides: Partial<Omit<Receipt, 'signerId'>> = {}): Omit<Receipt, 'signerId'> {
  return {
    kind: 'stored',
    streamPartId,
    publisherId: testSigner.address,
    messageChainId: 'chain-1',
    from: new MessageRef(1_700_000_000_000, 0),
    to: new MessageRef(1_700_000_000_005, 2),
    messageCount: 4,
    digest: new Uint8Array(32).fill(7),
    signedAt: 1_700_000_001_000,
    ...overrides,
  }
}

/** Checks a refusal: a ProtocolError INVALID_RECEIPT whose message matches. */
function isInvalid(pattern: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ProtocolError, String(err))
    assert.equal(err.code, 'INVALID_RECEIPT')
    assert.match(err.message, pattern)
    return true
  }
}

function assertInvalid(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, isInvalid(pattern))
}

/** A receipt with any field, signed by `signer`, as a forger would make it (no validation on the way). */
async function forge(
  overrides: Partial<Parameters<typeof create<typeof ReceiptSchema>>[1]>,
  signer = storageNode,
): Promise<SignedReceipt> {
  const receipt = toBinary(
    ReceiptSchema,
    create(ReceiptSchema, {
      kind: 1,
      signerId: addressToBytes(signer.address),
      streamPartId,
      publisherId: addressToBytes(testSigner.address),
      messageChainId: 'chain-1',
      from: create(MessageRefSchema, { timestamp: 1n, sequenceNumber: 0 }),
      to: create(MessageRefSchema, { timestamp: 2n, sequenceNumber: 0 }),
      messageCount: 1,
      digest: new Uint8Array(32),
      signedAt: 3n,
      ...overrides,
    }),
  )
  return { receipt, signature: await signer.signPersonalMessage(createTaggedPayload('receipt', receipt)) }
}

describe('receipts', () => {
  it('signs and opens a receipt with the pure and the native signer, every field kept', async () => {
    for (const [signer, verifier] of [
      [storageNode, pureSignatureVerifier],
      [
        createNativeSigner('0x8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f'),
        nativeSignatureVerifier,
      ],
    ] as const) {
      const signed = await signReceipt(fields(), signer)
      const opened = openReceipt(decodeSignedReceipt(encodeSignedReceipt(signed)), verifier)
      assert.deepEqual(opened, { ...fields(), signerId: storageNode.address })
    }
  })

  it('is signed as an Ethereum personal message over its tag and bytes, which standard tooling recovers', async () => {
    const signed = await signReceipt(fields(), storageNode)
    const payload = new Uint8Array([...new TextEncoder().encode('runnel/v1/receipt\0'), ...signed.receipt])
    assert.deepEqual(createTaggedPayload('receipt', signed.receipt), payload)
    const recovered = await recoverMessageAddress({ message: { raw: payload }, signature: toHex(signed.signature) })
    assert.equal(recovered.toLowerCase(), storageNode.address)
    // Pinned (RFC 6979 signatures are deterministic): a change to the encoding, the tag or the signing shows here.
    assert.equal(bytesToHex(encodeSignedReceipt(signed)), PINNED_SIGNED_RECEIPT)
  })

  it('digests the covered messages by their signatures, in ref order', async () => {
    const messages = await Promise.all([0, 1, 2].map((i) => createTestMessage({ content: new Uint8Array([i]) })))
    const signatures = messages.map((message) => message.signature)
    assert.deepEqual(receiptDigest(signatures), keccak256(new Uint8Array(signatures.flatMap((s) => [...s]))))
    assert.notDeepEqual(receiptDigest(signatures), receiptDigest([...signatures].reverse()))
    assert.notDeepEqual(receiptDigest(signatures), receiptDigest(signatures.slice(1)))
    assert.throws(() => receiptDigest([new Uint8Array(64)]), /INVALID_SIGNATURE_FORMAT/)
  })

  it("refuses a receipt whose signature isn't its signer's: forged, or altered after signing", async () => {
    const claimed = createPureSigner(TEST_PRIVATE_KEY).address
    const forged = await forge({ signerId: addressToBytes(claimed) })
    assertInvalid(() => openReceipt(forged, pureSignatureVerifier), new RegExp(`not ${claimed}'s`))

    const signed = await signReceipt(fields(), storageNode)
    const altered = Uint8Array.from(signed.receipt)
    altered[altered.length - 1]! ^= 1 // the last byte of signedAt
    assertInvalid(() => openReceipt({ ...signed, receipt: altered }, pureSignatureVerifier), /not .*'s/)
    const badSignature = Uint8Array.from(signed.signature)
    badSignature[64] = 30
    assertInvalid(() => openReceipt({ ...signed, signature: badSignature }, pureSignatureVerifier), /signature/)
  })

  it('refuses what no receipt may hold, signing or opening', async () => {
    const cases: [Partial<Omit<Receipt, 'signerId'>>, RegExp][] = [
      [{ from: new MessageRef(5, 0), to: new MessageRef(4, 9) }, /from is after to/],
      [{ messageCount: 0 }, /messageCount must be 1/],
      [{ digest: new Uint8Array(31) }, /digest must be 32 bytes/],
      [{ streamPartId: 'nope#0' as Receipt['streamPartId'] }, /streamPartId/],
      [{ messageChainId: 'a b' }, /messageChainId/],
      [{ kind: 'delivered' as Receipt['kind'] }, /unknown kind/],
      [{ signedAt: -1 }, /signedAt/],
    ]
    for (const [overrides, pattern] of cases) {
      await assert.rejects(signReceipt(fields(overrides), storageNode), isInvalid(pattern))
    }
    const forged: [SignedReceipt, RegExp][] = [
      [await forge({ kind: 0 }), /unknown kind 0/],
      [await forge({ signedAt: 1n << 60n }), /signedAt is beyond/],
      [await forge({ publisherId: new Uint8Array(3) }), /publisherId must be 20 bytes/],
      [await forge({ to: undefined }), /from and to are required/],
    ]
    for (const [signed, pattern] of forged) assertInvalid(() => openReceipt(signed, pureSignatureVerifier), pattern)
  })

  it('refuses garbage and oversized bytes with a typed error', async () => {
    const signature = await storageNode.signPersonalMessage(new Uint8Array([1]))
    assertInvalid(() => decodeSignedReceipt(new Uint8Array([0xff, 0xff, 0xff])), /not a protobuf SignedReceipt/)
    assertInvalid(() => decodeSignedReceipt(new Uint8Array(4096)), /too large/)
    assertInvalid(
      () => openReceipt({ receipt: new Uint8Array(2048), signature: new Uint8Array(65) }, pureSignatureVerifier),
      /at most 1024 bytes/,
    )
    assertInvalid(
      () => openReceipt({ receipt: new Uint8Array([0xff, 0x01]), signature }, pureSignatureVerifier),
      /not a protobuf Receipt/,
    )
  })
})
