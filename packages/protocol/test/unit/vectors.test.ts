// Pinned bytes from docs/protocol.md: an implementation in another language
// can check itself against these. Changing any of them breaks compatibility.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hashMessage, verifyMessage } from 'ethers'
import {
  MessageRef,
  createSignaturePayload,
  decodeStreamMessage,
  encodeStreamMessage,
  hashPersonalMessage,
  parseJsonContent,
} from '../../src/index.js'
import { createTestMessage, testSigner } from '../fixtures.js'

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

const ADDRESS = '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23'
const PAYLOAD =
  '72756e6e656c2f76312f6d65737361676500' + // tag "runnel/v1/message\0"
  '003e' + // stream id length 62
  '3078326337353336653336303564396331366137613364376231383938653532393339366136356332332f73656e736f72732f74656d7065726174757265' +
  '03' + // partition
  '0000018bcfe56800' + // timestamp 1700000000000
  '00000007' + // sequence number
  '2c7536e3605d9c16a7a3d7b1898e529396a65c23' + // publisher
  '07636861696e2d31' + // "chain-1"
  '01' +
  '0000018bcfe56418' +
  '00000006' + // previous ref 1699999999000:6
  '01' +
  '01' +
  '01' + // data, JSON, not encrypted
  '00' + // no group key id
  '00' + // no new group key
  '00000028' + // content length 40
  '7b2263656c73697573223a32312e352c2273656e736f72223a22677265656e686f7573652d31227d' +
  '01' // signature type
const DIGEST = 'e6fb1097c76512bcef505a06406b18334662b3a5054a057af22470a7cbe88cba'
const SIGNATURE =
  '6e4067405552ff1f9be8f1c7636b515e1ad9c8ebe73ce05958629984cf7118b0' +
  '0812ac6a40b0b7681d499388fbdd91d9b054f02f87137b3d6b66a39821b00db9' +
  '1b'
const WIRE =
  '01' +
  '0a6a0a3e3078326337353336653336303564396331366137613364376231383938653532393339366136356332332f73656e736f72732f74656d706572617475726510031880d095ffbc3120072a142c7536e3605d9c16a7a3d7b1898e529396a65c233207636861696e2d31' +
  '12090898c895ffbc311006' +
  '180120012801' +
  '42287b2263656c73697573223a32312e352c2273656e736f72223a22677265656e686f7573652d31227d' +
  '4801' +
  '5241' +
  SIGNATURE

describe('protocol test vector', () => {
  it('builds the pinned signature payload, digest and signature', async () => {
    assert.equal(testSigner.address, ADDRESS)
    const message = await createTestMessage({ prevMsgRef: new MessageRef(1_699_999_999_000, 6) })
    const payload = createSignaturePayload(message)
    assert.equal(hex(payload), PAYLOAD)
    assert.equal(hex(hashPersonalMessage(payload)), DIGEST)
    assert.equal(hex(message.signature), SIGNATURE)
    assert.equal(hex(encodeStreamMessage(message)), WIRE)
  })

  it('agrees with ethers on the digest and the signer', () => {
    const payload = Buffer.from(PAYLOAD, 'hex')
    assert.equal(hashMessage(payload), '0x' + DIGEST)
    assert.equal(verifyMessage(payload, '0x' + SIGNATURE).toLowerCase(), ADDRESS)
  })

  it('decodes the pinned wire bytes into the same message', () => {
    const message = decodeStreamMessage(Buffer.from(WIRE, 'hex'))
    assert.equal(message.publisherId, ADDRESS)
    assert.equal(message.streamPartId, `${ADDRESS}/sensors/temperature#3`)
    assert.equal(message.prevMsgRef?.toString(), '1699999999000:6')
    assert.deepEqual(parseJsonContent(message.content), { celsius: 21.5, sensor: 'greenhouse-1' })
    assert.equal(hex(createSignaturePayload(message)), PAYLOAD)
  })
})
