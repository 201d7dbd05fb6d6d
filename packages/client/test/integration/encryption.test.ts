import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { MessageType, EncryptionType, toStreamPartId, type StreamId, type StreamMessage } from '@runnel/protocol'
import { ClientError, GroupKey, MemoryKeyStore, type ReceivedMessage, type RunnelClient } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

const text = (message: StreamMessage): string => Buffer.from(message.content).toString('latin1')

describe('end-to-end encryption', () => {
  let network: TestNetwork
  let owner: RunnelClient
  let publisher: RunnelClient
  let streamId: string

  before(async () => {
    network = await startTestNetwork()
    owner = network.client(1)
    publisher = network.client(2)
    ;({ id: streamId } = await owner.createStream('/secret'))
    await owner.grantPermissions(streamId, publisher.address, 'publish')
  })
  after(() => network.stop())

  const errorsOf = (client: RunnelClient): Error[] => {
    const errors: Error[] = []
    client.on('error', (err) => errors.push(err))
    return errors
  }

  it('encrypts a non-public stream: subscribers read it, relays see only ciphertext', async () => {
    const subscriber = network.client(3)
    await owner.grantPermissions(streamId, subscriber.address, 'subscribe')
    const received: ReceivedMessage[] = []
    await subscriber.subscribe(streamId, (message) => received.push(message))
    // A relay: a node in the stream part that takes the messages as they travel.
    const relay = network.client(4)
    await owner.grantPermissions(streamId, relay.address, 'subscribe')
    const relayed: StreamMessage[] = []
    await relay.subscribe(streamId, (message) => relayed.push(message.streamMessage), { raw: true })

    await publisher.publish(streamId, { secret: 'the eagle lands at dawn' })
    await waitFor(() => received.length === 1 && relayed.length === 1, 30_000, 'the message, read and relayed')
    assert.deepEqual(received[0]!.content, { secret: 'the eagle lands at dawn' })
    assert.equal(
      received[0]!.streamMessage.encryptionType,
      EncryptionType.Aes,
      'the signed message is the encrypted one',
    )
    assert.equal(relayed[0]!.encryptionType, EncryptionType.Aes)
    assert.ok(!text(relayed[0]!).includes('eagle'), 'no plaintext on the wire')
  })

  it('publishes public streams in the clear unless asked to encrypt', async () => {
    const { id } = await owner.createStream('/open')
    await owner.grantPermissions(id, 'public', 'publish', 'subscribe')
    const subscriber = network.client(5)
    const received: ReceivedMessage[] = []
    await subscriber.subscribe(id, (message) => received.push(message))
    await publisher.publish(id, { n: 1 })
    await publisher.publish(id, { n: 2 }, { encrypt: true })
    await waitFor(() => received.length === 2, 30_000, 'both messages')
    assert.deepEqual(
      received.map((m) => [m.content, m.streamMessage.encryptionType]),
      [
        [{ n: 1 }, EncryptionType.None],
        [{ n: 2 }, EncryptionType.Aes],
      ],
    )
  })

  it('refuses the key to a subscriber without permission, who gets a clear error and no content', async () => {
    const outsider = network.client(6)
    const errors = errorsOf(outsider)
    const received: ReceivedMessage[] = []
    // It bypasses its own permission check to listen in; the publisher is the one that must refuse.
    await outsider.subscribe(streamId, (message) => received.push(message), { checkPermission: false })
    await publisher.publish(streamId, { secret: 'not for outsiders' })
    await waitFor(() => errors.length > 0, 30_000, 'the refusal')
    assert.ok(errors[0] instanceof ClientError && errors[0].code === 'KEY_UNAVAILABLE', String(errors[0]))
    assert.match(errors[0].message, /no permission to obtain the key for .*\/secret/)
    assert.deepEqual(received, [])
  })

  it('after a rekey, a revoked subscriber reads nothing new while a permitted one does', async () => {
    const { id } = await owner.createStream('/rekeyed')
    await owner.grantPermissions(id, publisher.address, 'publish')
    const stays = network.client(7)
    const leaves = network.client(8)
    await owner.grantPermissions(id, stays.address, 'subscribe')
    await owner.grantPermissions(id, leaves.address, 'subscribe')
    const kept: unknown[] = []
    const left: unknown[] = []
    const leaverErrors = errorsOf(leaves)
    await stays.subscribe(id, (m) => kept.push(m.content))
    await leaves.subscribe(id, (m) => left.push(m.content))
    await publisher.publish(id, { n: 1 })
    await waitFor(() => kept.length === 1 && left.length === 1, 30_000, 'the first message at both')

    await owner.revokePermissions(id, leaves.address, 'subscribe')
    await publisher.updateEncryptionKey({ streamId: id, distributionMethod: 'rekey' })
    await publisher.publish(id, { n: 2 })
    await waitFor(() => kept.length === 2 && leaverErrors.length > 0, 30_000, 'the second message, and the refusal')
    assert.deepEqual(kept, [{ n: 1 }, { n: 2 }])
    assert.deepEqual(left, [{ n: 1 }], 'nothing readable after the rekey')
    assert.match(leaverErrors[0]!.message, /no permission to obtain the key/)
  })

  it('after a rotation, current subscribers read on and a newcomer can’t open what came before', async () => {
    // No replay of recent messages to a node that joins: the newcomer sees only what is published after it joins.
    const quiet = { network: { propagationWindowMs: 0 } }
    const rotating = network.client(13, quiet)
    const { id } = await owner.createStream('/rotated')
    await owner.grantPermissions(id, rotating.address, 'publish')
    const early = network.client(9, quiet)
    await owner.grantPermissions(id, early.address, 'subscribe')
    const earlyReceived: ReceivedMessage[] = []
    await early.subscribe(id, (m) => earlyReceived.push(m))
    await rotating.publish(id, { before: true })
    await waitFor(() => earlyReceived.length === 1, 30_000, 'the first message')
    const before = earlyReceived[0]!.streamMessage

    await rotating.updateEncryptionKey({ streamId: id, distributionMethod: 'rotate' })
    await rotating.publish(id, { carries: 'the next key' })
    await rotating.publish(id, { after: true })
    await waitFor(() => earlyReceived.length === 3, 30_000, 'the messages after the rotation')
    assert.equal(earlyReceived[1]!.streamMessage.newGroupKey?.id, earlyReceived[2]!.streamMessage.groupKeyId)
    assert.deepEqual(earlyReceived[2]!.content, { after: true })

    const keys = new MemoryKeyStore()
    const newcomer = network.client(10, {}, { keyStore: keys })
    await owner.grantPermissions(id, newcomer.address, 'subscribe')
    const newReceived: ReceivedMessage[] = []
    await newcomer.subscribe(id, (m) => newReceived.push(m))
    await rotating.publish(id, { late: true })
    await waitFor(() => newReceived.some((m) => JSON.stringify(m.content) === '{"late":true}'), 30_000, 'the newcomer')
    assert.equal(await keys.get(rotating.address, before.groupKeyId!), undefined, 'never given the old key')
    const current = (await keys.get(rotating.address, earlyReceived[2]!.streamMessage.groupKeyId!))!
    await assert.rejects(current.decrypt(before.content), /DECRYPTION_FAILED/)
  })

  it('rejects a key response forged by someone other than the publisher', async () => {
    const { id } = await owner.createStream('/forged')
    await owner.grantPermissions(id, publisher.address, 'publish')
    const victim = network.client(11)
    const attacker = network.client(12)
    await owner.grantPermissions(id, victim.address, 'subscribe')
    // The attacker answers every key request at once with a key of its own, sealed to the requester's public key.
    const bogus = GroupKey.generate()
    await attacker.subscribe(id, () => {}, { checkPermission: false, raw: true })
    const answered: string[] = []
    attacker.networkNode.addMessageListener(toStreamPartId(id as StreamId, 0), (message) => {
      if (message.messageType !== MessageType.GroupKeyRequest) return
      answered.push(message.publisherId)
      // The suite may end (and stop the attacker) before a late forgery goes out.
      forgeResponse(attacker, message, bogus).catch(() => undefined)
    })
    const received: unknown[] = []
    await victim.subscribe(id, (m) => received.push(m.content))
    await publisher.publish(id, { genuine: true })
    await waitFor(() => received.length === 1, 30_000, 'the genuine message')
    assert.deepEqual(received, [{ genuine: true }])
    assert.ok(answered.includes(victim.address.toLowerCase()), 'the attacker did answer')
  })
})

/** A GroupKeyResponse signed by the attacker, addressed to the requester, with a bogus key sealed to its key. */
async function forgeResponse(attacker: RunnelClient, request: StreamMessage, key: GroupKey): Promise<void> {
  const { forgeKeyResponse } = await import('../support/forgery.js')
  await forgeKeyResponse(attacker, request, key)
}
