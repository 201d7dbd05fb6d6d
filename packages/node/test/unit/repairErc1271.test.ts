import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ContentType,
  MessageId,
  createErc1271Signer,
  encodeJsonContent,
  encodeStreamMessage,
  parseEthereumAddress,
  signStreamMessage,
  toStreamId,
  verifyStreamMessage,
  type StreamMessage,
} from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { withErc1271Signatures } from '../../src/plugins/storage/repair/erc1271Signatures.js'

const key = createNativeSigner('0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318')
const wallet = createErc1271Signer(parseEthereumAddress('0x2222222222222222222222222222222222222222'), key)

function sign(signer: typeof key, timestamp: number): Promise<StreamMessage> {
  return signStreamMessage(
    {
      messageId: new MessageId(toStreamId(key.address, '/repair'), 0, timestamp, 0, signer.address, 'chain-1'),
      contentType: ContentType.Json,
      content: encodeJsonContent({ timestamp }),
    },
    signer,
  )
}

const verifyHere = (messages: readonly StreamMessage[]): Promise<boolean[]> =>
  Promise.resolve(messages.map((message) => verifyStreamMessage(message, nativeSignatureVerifier)))

describe('storage repair: ERC-1271 signatures', () => {
  it('sends key-signed messages to the key check and wallet-signed ones to the wallet, verdicts in order', async () => {
    const messages = [await sign(key, 1), await sign(wallet, 2), await sign(key, 3), await sign(wallet, 4)]
    const frames = messages.map((message) => encodeStreamMessage(message))
    const keyBatches: number[][] = []
    const asked: number[] = []
    const verify = withErc1271Signatures(
      (batch, batchFrames) => {
        assert.equal(batch.length, batchFrames.length)
        keyBatches.push(batch.map((message) => message.timestamp))
        return verifyHere(batch)
      },
      (message) => {
        asked.push(message.timestamp)
        // The wallet accepts the first and refuses the second.
        return message.timestamp === 2 ? Promise.resolve(true) : Promise.resolve(false)
      },
    )
    assert.deepEqual(await verify(messages, frames), [true, true, true, false])
    assert.deepEqual(keyBatches, [[1, 3]])
    assert.deepEqual(asked, [2, 4])
  })

  it('refuses wallet-signed messages without a wallet check, or when the chain fails, and leaves plain batches alone', async () => {
    const messages = [await sign(wallet, 1), await sign(key, 2)]
    const frames = messages.map((message) => encodeStreamMessage(message))
    assert.deepEqual(await withErc1271Signatures(verifyHere, undefined)(messages, frames), [false, true])
    const failing = withErc1271Signatures(verifyHere, () => Promise.reject(new Error('RPC_ERROR')))
    assert.deepEqual(await failing(messages, frames), [false, true])
    let passedThrough: readonly StreamMessage[] | undefined
    const keyed = [messages[1]!]
    await withErc1271Signatures((batch) => {
      passedThrough = batch
      return verifyHere(batch)
    }, undefined)(keyed, [frames[1]!])
    assert.equal(passedThrough, keyed, 'a batch without wallets goes through as it is')
  })
})
