import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { toStreamPartId, type StreamId } from '@runnel/protocol'
import { privateKeyToAccount } from 'viem/accounts'
import { requestAddress } from '../../src/auth/Eip1193.js'
import { createRunnelClientAsync } from '../../src/node/index.js'
import { ClientError, type ReceivedMessage, type RunnelClient } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

const isAborted = (err: unknown): boolean => err instanceof ClientError && err.code === 'ABORTED'

/**
 * What a Streamr SDK user reaches for: unsubscribe in its forms, getSubscriptions, getStreamParts, AbortSignal on
 * the calls that wait, and authentication by a wallet (EIP-1193) or a viem account. One dev chain, one tracker, nodes
 * on 127.0.0.1.
 */
describe('RunnelClient SDK calls', () => {
  let network: TestNetwork
  let owner: RunnelClient
  let subscriber: RunnelClient
  let streamId: string

  before(async () => {
    network = await startTestNetwork()
    owner = network.client(1)
    subscriber = network.client(3)
    ;({ id: streamId } = await owner.createStream('/sdk/test', { partitions: 3 }))
    await owner.grantPermissions(streamId, 'public', 'subscribe')
  })

  after(() => network.stop())

  it('lists every stream part of a stream from its partition count', async () => {
    const stream = await owner.getStream(streamId)
    assert.deepEqual(
      stream.getStreamParts(),
      [0, 1, 2].map((p) => toStreamPartId(streamId as StreamId, p)),
    )
  })

  it('ends one subscription, those of a stream part, those of a stream, or all, and leaves stream parts no longer needed', async () => {
    const node = subscriber.networkNode
    const part = (partition: number) => toStreamPartId(streamId as StreamId, partition)
    const whole = await subscriber.subscribe(streamId)
    const zero = await subscriber.subscribe({ id: streamId, partition: 0 })
    const one = await subscriber.subscribe({ id: streamId, partition: 1 })
    const alsoOne = await subscriber.subscribe({ id: streamId, partition: 1 })
    assert.equal(subscriber.getSubscriptions().length, 4)
    assert.deepEqual(subscriber.getSubscriptions({ id: streamId, partition: 1 }), [whole, one, alsoOne])
    assert.deepEqual(subscriber.getSubscriptions('/no/such/path'), [])

    await subscriber.unsubscribe(alsoOne)
    assert.equal(alsoOne.isActive, false)
    assert.deepEqual(subscriber.getSubscriptions(streamId), [whole, zero, one])

    // Partition 2 was needed only by the subscription to the whole stream: it ends with it, 0 and 1 stay.
    await subscriber.unsubscribe({ id: streamId, partition: 2 })
    assert.equal(whole.isActive, false)
    assert.deepEqual(subscriber.getSubscriptions(), [zero, one])
    assert.ok(!node.getStreamParts().includes(part(2)))
    assert.ok(node.getStreamParts().includes(part(0)) && node.getStreamParts().includes(part(1)))

    await subscriber.unsubscribe(streamId)
    assert.deepEqual(subscriber.getSubscriptions(), [])
    assert.ok(![0, 1, 2].some((p) => node.getStreamParts().includes(part(p))))

    await subscriber.subscribe(streamId)
    await subscriber.subscribe({ id: streamId, partition: 2 })
    await subscriber.unsubscribe()
    assert.deepEqual(subscriber.getSubscriptions(), [])
    assert.deepEqual(
      node.getStreamParts().filter((id) => id.startsWith(streamId)),
      [],
    )
  })

  it('keeps a stream part it publishes to joined when its last subscription ends', async () => {
    const subscription = await owner.subscribe({ id: streamId, partition: 0 })
    await owner.publish({ id: streamId, partition: 0 }, { keep: true })
    await owner.unsubscribe(subscription)
    assert.ok(owner.networkNode.getStreamParts().includes(toStreamPartId(streamId as StreamId, 0)))
  })

  it('rejects publish and subscribe given an aborted signal with ABORTED, sending nothing and keeping nothing', async () => {
    const { id } = await owner.createStream('/sdk/abort-publish')
    await owner.grantPermissions(id, 'public', 'subscribe')
    const received: ReceivedMessage[] = []
    await subscriber.subscribe(id, (message) => received.push(message))
    const aborted = AbortSignal.abort(new Error('user left'))
    await assert.rejects(owner.publish(id, { lost: true }, { signal: aborted }), (err) => {
      assert.ok(isAborted(err))
      assert.equal(((err as ClientError).cause as Error).message, 'user left')
      return true
    })
    await assert.rejects(subscriber.subscribe({ id: streamId, partition: 1 }, { signal: aborted }), isAborted)
    assert.equal(subscriber.getSubscriptions({ id: streamId, partition: 1 }).length, 0)
    // The next message follows without a gap: the aborted one took no place in the chain.
    let gaps = 0
    const countGap = () => gaps++
    subscriber.on('gap', countGap)
    await owner.publish(id, { kept: true })
    await waitFor(() => received.length === 1, 30_000, 'the message')
    assert.deepEqual(
      received.map((m) => m.content),
      [{ kept: true }],
    )
    subscriber.off('gap', countGap)
    assert.equal(gaps, 0)
    await subscriber.unsubscribe()
  })

  it('gives up a subscribe still waiting for its client to connect when its signal fires, joining nothing', async () => {
    // No tracker (or entry point) answers at this address: the client's start waits until the signal.
    const nobody = ['ws://127.0.0.1:9']
    const lonely = network.client(4, {
      network:
        network.discovery.discovery === 'dht'
          ? { discovery: 'dht', entryPoints: nobody }
          : { discovery: 'tracker', trackers: nobody },
    })
    const controller = new AbortController()
    const subscribing = lonely.subscribe(streamId, { signal: controller.signal })
    controller.abort()
    await assert.rejects(subscribing, isAborted)
    assert.deepEqual(lonely.getSubscriptions(), [])
    assert.deepEqual(lonely.networkNode.getStreamParts(), [])
  })

  it('gives up waiting for a chain write when its signal fires', async () => {
    const controller = new AbortController()
    const creating = owner.createStream('/sdk/abandoned', {}, { signal: controller.signal })
    controller.abort()
    await assert.rejects(creating, isAborted)
  })

  it('authenticates by an EIP-1193 provider: the address it names, messages it signs, transactions it sends', async () => {
    // The dev chain's own provider: a real EIP-1193 provider with unlocked accounts, as a wallet is.
    const provider = network.dev.chain.provider
    const walletUser = await createRunnelClientAsync({
      auth: { provider },
      chain: { provider, contracts: network.dev.deployment, fromBlock: network.dev.deployment.deployBlock },
      network: network.discovery,
    })
    try {
      const [first] = (await provider.request({ method: 'eth_accounts' })) as string[]
      assert.equal(walletUser.address.toLowerCase(), first!.toLowerCase())
      assert.equal(walletUser.address.toLowerCase(), (await requestAddress(provider)).toLowerCase())
      const stream = await walletUser.createStream('/sdk/wallet')
      await stream.grantPermissions('public', 'subscribe')
      const received: ReceivedMessage[] = []
      await subscriber.subscribe(stream.id, (message) => received.push(message))
      await walletUser.publish(stream.id, { signedBy: 'wallet' })
      await waitFor(() => received.length === 1, 30_000, 'the wallet-signed message')
      assert.equal(received[0]!.publisherId, walletUser.address.toLowerCase())
      assert.deepEqual(received[0]!.content, { signedBy: 'wallet' })
    } finally {
      await walletUser.destroy()
      await subscriber.unsubscribe()
    }
  })

  it('authenticates by a viem local account and by a JSON-RPC account', async () => {
    const local = network.client(5, { auth: { account: privateKeyToAccount(network.dev.chain.accountKeys[5]!) } })
    const jsonRpcAddress = (
      (await network.dev.chain.provider.request({ method: 'eth_accounts' })) as `0x${string}`[]
    )[6]!
    const jsonRpc = network.client(6, { auth: { account: { address: jsonRpcAddress, type: 'json-rpc' } } })
    for (const [client, path] of [
      [local, '/sdk/local-account'],
      [jsonRpc, '/sdk/json-rpc-account'],
    ] as const) {
      const stream = await client.createStream(path)
      await stream.grantPermissions('public', 'subscribe')
      const received: ReceivedMessage[] = []
      await subscriber.subscribe(stream.id, (message) => received.push(message))
      await client.publish(stream.id, { path })
      await waitFor(() => received.length === 1, 30_000, `the message of ${path}`)
      assert.equal(received[0]!.publisherId, client.address.toLowerCase())
      await subscriber.unsubscribe(stream.id)
    }
  })

  it('refuses a provider auth without an address in the constructor, naming RunnelClient.create', () => {
    assert.throws(
      () => network.client(7, { auth: { provider: network.dev.chain.provider } }),
      (err) =>
        err instanceof ClientError && err.code === 'INVALID_ARGUMENT' && /RunnelClient\.create/.test(err.message),
    )
  })
})
