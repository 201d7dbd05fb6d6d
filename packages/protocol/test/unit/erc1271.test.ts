import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  MAX_ERC1271_SIGNATURE_LENGTH,
  MessageId,
  SignatureType,
  StreamMessage,
  assertValidSignature,
  checkStreamMessageSignature,
  createErc1271Signer,
  createSignaturePayload,
  decodeStreamMessage,
  encodeStreamMessage,
  erc1271Digest,
  hashPersonalMessage,
  parseEthereumAddress,
  keccak256,
  pureSignatureVerifier,
  readStreamMessageHeader,
  signStreamMessage,
  receiptDigest,
  toStreamId,
  verifyStreamMessage,
} from '../../src/index.js'
import { assertProtocolError, createTestMessage, testMessageFields, testSigner } from '../fixtures.js'

const WALLET = parseEthereumAddress('0x1111111111111111111111111111111111111111')
const walletSigner = createErc1271Signer(WALLET, testSigner)

function walletFields(): ReturnType<typeof testMessageFields> {
  return testMessageFields({
    messageId: new MessageId(toStreamId(WALLET, '/wallet'), 0, 1_700_000_000_000, 0, WALLET, 'chain-1'),
  })
}

describe('ERC-1271 messages (signature type 2)', () => {
  it('carry the wallet as publisher and the owner’s signature over the EIP-191 hash, through the codec', async () => {
    const message = await signStreamMessage(walletFields(), walletSigner)
    assert.equal(message.signatureType, SignatureType.Erc1271)
    assert.equal(message.publisherId, WALLET)
    // The owner signed the payload: its key recovers from the signature over the same digest the wallet is asked about.
    assert.equal(
      pureSignatureVerifier.recoverPersonalMessageSigner(createSignaturePayload(message), message.signature),
      testSigner.address,
    )
    assert.deepEqual(erc1271Digest(message), hashPersonalMessage(createSignaturePayload(message)))
    const decoded = decodeStreamMessage(encodeStreamMessage(message))
    assert.equal(decoded.signatureType, SignatureType.Erc1271)
    assert.deepEqual(decoded.signature, message.signature)
    const header = readStreamMessageHeader(encodeStreamMessage(message))
    assert.equal(header.signatureType, SignatureType.Erc1271)
    assert.deepEqual(header.signature, message.signature)
  })

  it('can’t be verified without the chain, and don’t pass for key-signed messages', async () => {
    const message = await signStreamMessage(walletFields(), walletSigner)
    assert.equal(checkStreamMessageSignature(message, pureSignatureVerifier), 'needs-chain')
    assert.equal(verifyStreamMessage(message, pureSignatureVerifier), false)
    assertProtocolError(
      () => assertValidSignature(message, pureSignatureVerifier),
      'SIGNATURE_VERIFICATION_FAILED',
      /ERC-1271 wallet .* only the chain/,
    )
    const keySigned = await createTestMessage()
    assert.equal(checkStreamMessageSignature(keySigned, pureSignatureVerifier), 'valid')
    // The payload covers the type: relabelling a key-signed message as type 2 changes the digest a wallet is asked about.
    const relabelled = new StreamMessage({ ...keySigned, signatureType: SignatureType.Erc1271 })
    assert.notDeepEqual(erc1271Digest(relabelled), hashPersonalMessage(createSignaturePayload(keySigned)))
    assert.equal(checkStreamMessageSignature(relabelled, pureSignatureVerifier), 'needs-chain')
  })

  it('bound the signature to 1..1024 bytes, at construction and at decode', async () => {
    const message = await signStreamMessage(walletFields(), walletSigner)
    const longest = new StreamMessage({ ...message, signature: new Uint8Array(MAX_ERC1271_SIGNATURE_LENGTH) })
    assert.equal(decodeStreamMessage(encodeStreamMessage(longest)).signature.length, MAX_ERC1271_SIGNATURE_LENGTH)
    for (const length of [0, MAX_ERC1271_SIGNATURE_LENGTH + 1]) {
      assertProtocolError(
        () => new StreamMessage({ ...message, signature: new Uint8Array(length) }),
        'INVALID_SIGNATURE_FORMAT',
        /ERC-1271 publisher must be 1\.\.1024 bytes/,
      )
    }
    // Decoding is held to the same rule: grow the encoded 1024-byte signature by one byte.
    const tooLong = encodeStreamMessage(longest)
    const grown = new Uint8Array(tooLong.length + 1)
    grown.set(tooLong)
    // The signature is the last field: tag 0x52, length 1024 = varint 0x80 0x08; 1025 = 0x81 0x08.
    const at = tooLong.length - MAX_ERC1271_SIGNATURE_LENGTH - 2
    assert.deepEqual([tooLong[at - 1], tooLong[at], tooLong[at + 1]], [0x52, 0x80, 0x08])
    grown[at] = 0x81
    assertProtocolError(() => decodeStreamMessage(grown), 'INVALID_SIGNATURE_FORMAT', /1\.\.1024 bytes/)
  })

  it('refuse a wallet signer that is not the publisher', async () => {
    await assert.rejects(signStreamMessage(testMessageFields(), walletSigner), /differs from the signer's address/)
  })

  it('key-signed (type 1) signatures keep their strict 65-byte form', async () => {
    const keySigned = await createTestMessage()
    assertProtocolError(
      () => new StreamMessage({ ...keySigned, signature: new Uint8Array(100) }),
      'INVALID_SIGNATURE_FORMAT',
      /65 bytes/,
    )
  })
})

describe('receiptDigest with ERC-1271 messages', () => {
  it('keeps key-signed entries as they were and gives a wallet’s signature a fixed-length hashed entry', async () => {
    const keySigned = await createTestMessage()
    const walletSigned = await signStreamMessage(walletFields(), walletSigner)
    // Key-signed messages digest exactly as their bare signatures did (pinned vectors stay).
    assert.deepEqual(receiptDigest([keySigned]), receiptDigest([keySigned.signature]))
    const entry = new Uint8Array(65)
    entry.set(keccak256(walletSigned.signature))
    const expected = new Uint8Array(130)
    expected.set(keySigned.signature)
    expected.set(entry, 65)
    assert.deepEqual(receiptDigest([keySigned, walletSigned]), keccak256(expected))
    // Even a 65-byte wallet signature (the example wallet's) is hashed, so the type is part of what is attested.
    assert.notDeepEqual(receiptDigest([walletSigned]), receiptDigest([walletSigned.signature]))
    const long = new StreamMessage({ ...walletSigned, signature: new Uint8Array(700).fill(7) })
    assert.notDeepEqual(receiptDigest([long]), receiptDigest([walletSigned]))
  })
})
