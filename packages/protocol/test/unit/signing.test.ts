import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Wallet, hashMessage as ethersHashMessage, verifyMessage as ethersVerifyMessage } from 'ethers'
import { hashMessage as viemHashMessage, recoverMessageAddress, toHex, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  ContentType,
  EncryptionType,
  MessageId,
  MessageRef,
  MessageType,
  StreamMessage,
  assertValidSignature,
  createPureSigner,
  createSignaturePayload,
  generatePrivateKey,
  hashPersonalMessage,
  pureSignatureVerifier,
  signStreamMessage,
  toStreamId,
  verifyStreamMessage,
  type MessageSigner,
  type SignatureVerifier,
  type StreamMessageFields,
} from '../../src/index.js'
import { createNativeSigner, nativeSignatureVerifier } from '../../src/native/index.js'
import { TEST_PRIVATE_KEY, assertProtocolError, createTestMessage, testMessageFields, testSigner } from '../fixtures.js'

const implementations: Array<[string, (key: string) => MessageSigner, SignatureVerifier]> = [
  ['pure-JS', createPureSigner, pureSignatureVerifier],
  ['native', createNativeSigner, nativeSignatureVerifier],
]

function hexToBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.slice(2), 'hex'))
}

describe('signatures are Ethereum personal_sign (EIP-191)', () => {
  it('hashes payloads exactly as ethers and viem do', () => {
    for (const payload of [new Uint8Array(0), Uint8Array.from([1, 2, 3]), new Uint8Array(1000).fill(7)]) {
      const ours = toHex(hashPersonalMessage(payload))
      assert.equal(ours, ethersHashMessage(payload))
      assert.equal(ours, viemHashMessage({ raw: payload }))
    }
  })

  for (const [name, createSigner, verifier] of implementations) {
    describe(`${name} implementation`, () => {
      it('makes signatures that ethers and viem attribute to the publisher', async () => {
        const key = generatePrivateKey()
        const signer = createSigner(key)
        const message = await createTestMessage({ messageId: messageIdFor(signer) }, signer)
        const payload = createSignaturePayload(message)
        const signatureHex = toHex(message.signature)
        assert.equal(ethersVerifyMessage(payload, signatureHex).toLowerCase(), signer.address)
        assert.equal(
          (await recoverMessageAddress({ message: { raw: payload }, signature: signatureHex })).toLowerCase(),
          signer.address,
        )
      })

      it('produces the same bytes as ethers for the same key and payload', async () => {
        const message = await createTestMessage({}, createSigner(TEST_PRIVATE_KEY))
        const payload = createSignaturePayload(message)
        assert.equal(toHex(message.signature), await new Wallet(TEST_PRIVATE_KEY).signMessage(payload))
      })

      it('verifies signatures made by ethers', async () => {
        const wallet = Wallet.createRandom()
        const unsigned = await createTestMessage(
          { messageId: messageIdFor({ address: wallet.address.toLowerCase() }) },
          {
            address: wallet.address.toLowerCase() as MessageSigner['address'],
            signPersonalMessage: async (payload) => hexToBytes(await wallet.signMessage(payload)),
          },
        )
        assert.ok(verifyStreamMessage(unsigned, verifier))
      })

      it('verifies signatures made by viem', async () => {
        const account = privateKeyToAccount(generatePrivateKey() as Hex)
        const address = account.address.toLowerCase() as MessageSigner['address']
        const message = await createTestMessage(
          { messageId: messageIdFor({ address }) },
          {
            address,
            signPersonalMessage: async (payload) =>
              hexToBytes(await account.signMessage({ message: { raw: payload } })),
          },
        )
        assert.ok(verifyStreamMessage(message, verifier))
      })

      it('rejects a message whose any signed field was changed', async () => {
        const original = await createTestMessage({
          prevMsgRef: new MessageRef(1_699_999_999_000, 1),
          encryptionType: EncryptionType.Aes,
          groupKeyId: 'key-1',
          newGroupKey: { id: 'key-2', data: Uint8Array.from([9, 9, 9]) },
        })
        assert.ok(verifyStreamMessage(original, verifier))
        for (const [field, tampered] of tamperedCopies(original)) {
          assert.equal(verifyStreamMessage(tampered, verifier), false, `changing ${field} went unnoticed`)
          assertProtocolError(
            () => assertValidSignature(tampered, verifier),
            'SIGNATURE_VERIFICATION_FAILED',
            /not signed by its publisher/,
          )
        }
      })

      it('rejects a signature by someone other than the publisher', async () => {
        const impostor = createSigner(generatePrivateKey())
        const genuine = await createTestMessage()
        const forged = await createTestMessage(
          { messageId: genuine.messageId },
          {
            address: testSigner.address,
            signPersonalMessage: (payload) => impostor.signPersonalMessage(payload),
          },
        )
        assert.equal(verifyStreamMessage(forged, verifier), false)
      })
    })
  }

  it('pure-JS and native implementations produce identical signatures', async () => {
    const key = generatePrivateKey()
    const fields = testMessageFields({ messageId: messageIdFor({ address: createPureSigner(key).address }) })
    const pure = await signStreamMessage(fields, createPureSigner(key))
    const native = await signStreamMessage(fields, createNativeSigner(key))
    assert.deepEqual(pure.signature, native.signature)
  })

  it('refuses to sign for a publisher other than the signer', async () => {
    const other = createPureSigner(generatePrivateKey())
    await assert.rejects(signStreamMessage(testMessageFields(), other), (err: unknown) => {
      assert.match(String(err), /INVALID_MESSAGE: messageId.publisherId .* differs from the signer/)
      return true
    })
  })

  it('returns false, not an exception, for signatures that match no key', async () => {
    const message = await createTestMessage()
    const signature = Uint8Array.from(message.signature)
    signature.fill(0, 0, 32) // r = 0 is not a curve point
    const broken = message.withSignature(signature)
    for (const [, , verifier] of implementations) assert.equal(verifyStreamMessage(broken, verifier), false)
  })
})

function messageIdFor(signer: { address: string }): MessageId {
  return new MessageId(
    toStreamId(signer.address as MessageSigner['address'], '/s'),
    0,
    1_700_000_000_000,
    0,
    signer.address,
    'c',
  )
}

/** One copy of the message per signed field, with that field changed and the signature kept. */
function tamperedCopies(message: StreamMessage): Array<[string, StreamMessage]> {
  const id = message.messageId
  const withId = (changes: Partial<Record<string, string | number>>): MessageId => {
    const merged = { ...id, ...changes }
    return new MessageId(
      merged.streamId,
      merged.streamPartition,
      merged.timestamp,
      merged.sequenceNumber,
      merged.publisherId,
      merged.messageChainId,
    )
  }
  const copy = (changes: Partial<StreamMessageFields>): StreamMessage => new StreamMessage({ ...message, ...changes })
  const flipped = Uint8Array.from(message.content)
  flipped[0]! ^= 1
  return [
    ['streamId', copy({ messageId: withId({ streamId: id.streamId + 'x' }) })],
    ['streamPartition', copy({ messageId: withId({ streamPartition: id.streamPartition + 1 }) })],
    ['timestamp', copy({ messageId: withId({ timestamp: id.timestamp + 1 }) })],
    ['sequenceNumber', copy({ messageId: withId({ sequenceNumber: id.sequenceNumber + 1 }) })],
    ['publisherId', copy({ messageId: withId({ publisherId: createPureSigner(generatePrivateKey()).address }) })],
    ['messageChainId', copy({ messageId: withId({ messageChainId: id.messageChainId + 'x' }) })],
    ['prevMsgRef removed', copy({ prevMsgRef: undefined })],
    ['prevMsgRef changed', copy({ prevMsgRef: new MessageRef(message.prevMsgRef!.timestamp, 2) })],
    ['messageType', copy({ messageType: MessageType.GroupKeyRequest })],
    ['contentType', copy({ contentType: ContentType.Binary })],
    ['groupKeyId', copy({ groupKeyId: 'key-3' })],
    ['newGroupKey.id', copy({ newGroupKey: { id: 'key-x', data: message.newGroupKey!.data } })],
    ['newGroupKey.data', copy({ newGroupKey: { id: message.newGroupKey!.id, data: Uint8Array.from([9, 9, 8]) } })],
    ['newGroupKey removed', copy({ newGroupKey: undefined })],
    ['content', copy({ content: flipped })],
    ['content truncated', copy({ content: message.content.subarray(1) })],
    [
      'encryptionType',
      new StreamMessage({
        ...message,
        encryptionType: EncryptionType.None,
        groupKeyId: undefined,
        newGroupKey: undefined,
      }),
    ],
  ]
}
