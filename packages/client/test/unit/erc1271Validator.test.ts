import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ContentType,
  MessageId,
  createErc1271Signer,
  createPureSigner,
  erc1271Digest,
  generatePrivateKey,
  parseEthereumAddress,
  pureSignatureVerifier,
  signStreamMessage,
  toStreamId,
  type StreamMessage,
} from '@runnel/protocol'
import { ClientEventHub } from '../../src/events/ClientEventHub.js'
import { MessageValidator, type MessageValidatorComponents } from '../../src/subscribe/MessageValidator.js'
import type { InvalidMessageEvent } from '../../src/types.js'

const owner = createPureSigner(generatePrivateKey())
const WALLET = parseEthereumAddress('0x3333333333333333333333333333333333333333')

function walletMessage(): Promise<StreamMessage> {
  return signStreamMessage(
    {
      messageId: new MessageId(toStreamId(WALLET, '/w'), 0, Date.now(), 0, WALLET, 'chain'),
      contentType: ContentType.Json,
      content: new TextEncoder().encode('{}'),
    },
    createErc1271Signer(WALLET, owner),
  )
}

function validatorWith(isValidErc1271Signature: MessageValidatorComponents['isValidErc1271Signature']): {
  validator: MessageValidator
  invalid: InvalidMessageEvent[]
  errors: Error[]
  permissionAsked: string[]
} {
  const events = new ClientEventHub()
  const invalid: InvalidMessageEvent[] = []
  const errors: Error[] = []
  const permissionAsked: string[] = []
  events.on('invalidMessage', (event) => invalid.push(event))
  events.on('error', (error) => errors.push(error))
  const validator = new MessageValidator(
    {
      mayPublish: (_streamId, publisherId) => {
        permissionAsked.push(publisherId)
        return Promise.resolve(true)
      },
      verifier: pureSignatureVerifier,
      ...(isValidErc1271Signature !== undefined && { isValidErc1271Signature }),
      emit: events.emit,
    },
    60_000,
  )
  return { validator, invalid, errors, permissionAsked }
}

describe('MessageValidator: ERC-1271 publishers', () => {
  it('asks the wallet about the message’s digest and signature, then checks the wallet’s permission', async () => {
    const message = await walletMessage()
    const asked: [string, Uint8Array, Uint8Array][] = []
    const { validator, invalid, permissionAsked } = validatorWith((wallet, hash, signature) => {
      asked.push([wallet, hash, signature])
      return Promise.resolve(true)
    })
    assert.equal(await validator.validate(message), true)
    assert.equal(await validator.validateStored(message), true, 'stored ones too, without the key check')
    assert.deepEqual(asked[0], [WALLET, erc1271Digest(message), message.signature])
    assert.deepEqual(permissionAsked, [WALLET, WALLET])
    assert.deepEqual(invalid, [])
  })

  it('drops one the wallet refuses as invalid-signature, without asking for permission', async () => {
    const { validator, invalid, permissionAsked } = validatorWith(() => Promise.resolve(false))
    assert.equal(await validator.validate(await walletMessage()), false)
    assert.deepEqual(
      invalid.map(({ reason, publisherId }) => [reason, publisherId]),
      [['invalid-signature', WALLET]],
    )
    assert.deepEqual(permissionAsked, [])
  })

  it('a chain that can’t be asked is an error, not a verdict; without a wallet check the message is refused', async () => {
    const failing = validatorWith(() => Promise.reject(new Error('RPC_ERROR: chain down')))
    assert.equal(await failing.validator.validate(await walletMessage()), false)
    assert.deepEqual(failing.invalid, [])
    assert.match(failing.errors[0]!.message, /chain down/)
    const none = validatorWith(undefined)
    assert.equal(await none.validator.validate(await walletMessage()), false)
    assert.deepEqual(
      none.invalid.map(({ reason }) => reason),
      ['invalid-signature'],
    )
  })
})
