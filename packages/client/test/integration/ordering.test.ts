// Ordering and gaps through the whole stack: client nodes on the simulator
// transport with per-frame jitter (so messages overtake each other on
// different paths), the embedded chain in-process.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { NetworkNode, Simulator } from '@runnel/network'
import {
  ContentType,
  MessageId,
  MessageRef,
  encodeJsonContent,
  generatePrivateKey,
  signStreamMessage,
  toStreamPartId,
  type StreamId,
  type StreamMessage,
} from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { startDevChain, type DevChain } from '@runnel/dev-chain'
import { SeededRandom } from '../../../network/src/transport/simulator/random.js'
import { createRunnelClient } from '../../src/node/index.js'
import type { GapEvent, ReceivedMessage, RunnelClient } from '../../src/index.js'
import { waitFor } from '../helpers.js'
import { startTestDiscovery, testDiscoveryMode, type TestDiscovery } from '../support/discovery.js'

/** A signed chain of `count` messages `{ i }`, one millisecond apart, each pointing to the one before. */
async function signedChain(
  signer: ReturnType<typeof createNativeSigner>,
  streamId: string,
  chainId: string,
  count: number,
): Promise<StreamMessage[]> {
  const messages: StreamMessage[] = []
  let previous: MessageRef | undefined
  const base = Date.now()
  for (let i = 0; i < count; i++) {
    const ref = new MessageRef(base + i, 0)
    messages.push(
      await signStreamMessage(
        {
          messageId: new MessageId(streamId, 0, ref.timestamp, 0, signer.address, chainId),
          prevMsgRef: previous,
          contentType: ContentType.Json,
          content: encodeJsonContent({ i }),
        },
        signer,
      ),
    )
    previous = ref
  }
  return messages
}

describe('ordering with reordering delivery', () => {
  const random = new SeededRandom(7)
  // Every frame gets its own delay, so copies on different paths overtake each other.
  const simulator = new Simulator({ seed: 7, latency: () => 1 + random.nextFloat() * 150 })
  let dev: DevChain
  let discovery: TestDiscovery
  const clients: RunnelClient[] = []
  let streamId: string

  /** A client on the simulator; `gapTimeoutMs` is short unless a test where nothing is lost asks for more. */
  const newClient = (index: number, gapTimeoutMs = 500): RunnelClient => {
    const client = createRunnelClient({
      auth: { privateKey: dev.chain.accountKeys[index]! },
      network: { ...discovery.settings, transport: simulator.createTransport() },
      chain: { provider: dev.chain.provider, contracts: dev.deployment, fromBlock: dev.deployment.deployBlock },
      gapTimeoutMs,
    })
    clients.push(client)
    return client
  }

  /** A bare network node outside any client, in partition 0 with a neighbour, publishing with its own key. */
  async function startRawPublisher(): Promise<{ signer: ReturnType<typeof createNativeSigner>; raw: NetworkNode }> {
    const signer = createNativeSigner(generatePrivateKey())
    const raw = new NetworkNode(
      { transport: simulator.createTransport(), signer, verifier: nativeSignatureVerifier },
      discovery.settings,
    )
    await raw.start()
    try {
      await raw.join(toStreamPartId(streamId as StreamId, 0), { minNeighbors: 1, signal: AbortSignal.timeout(10_000) })
    } catch (err) {
      await raw.stop()
      throw err
    }
    return { signer, raw }
  }

  before(async () => {
    dev = await startDevChain()
    const transport = simulator.createTransport()
    discovery = await startTestDiscovery(testDiscoveryMode(), { transport, address: transport.address })
    const owner = newClient(1)
    ;({ id: streamId } = await owner.createStream('/ordering'))
    await owner.grantPermissions(streamId, 'public', 'publish', 'subscribe')
  })

  after(async () => {
    await Promise.all(clients.map((client) => client.destroy()))
    await discovery.stop()
    simulator.stop()
    await dev.stop()
  })

  it('the app sees each publisher’s messages in order although the network reorders them', async () => {
    // Nothing is lost here, so no gap may be given up on: on a loaded machine a
    // message can be late by far more than the simulated 150 ms.
    const relays = [2, 3, 4, 5, 6, 7].map((index) => newClient(index, 60_000))
    const publisher = newClient(8, 60_000)
    const subscriber = newClient(9, 60_000)
    const gaps: GapEvent[] = []
    subscriber.on('gap', (gap) => gaps.push(gap))
    await Promise.all(relays.map((relay) => relay.subscribe(streamId)))
    const arrivals: number[] = []
    const received: ReceivedMessage[] = []
    await subscriber.subscribe(streamId, (message) => received.push(message))
    subscriber.networkNode.addMessageListener(toStreamPartId(streamId as StreamId, 0), (message) =>
      arrivals.push((JSON.parse(new TextDecoder().decode(message.content)) as { i: number }).i),
    )
    const COUNT = 300
    // The chain's first message arrives before the rest are sent: a later one
    // arriving first would, after a short grace, rightly start the chain
    // without it (the subscriber can't tell it from one sent before it joined).
    await publisher.publish(streamId, { i: 0 })
    await waitFor(() => received.length === 1, 30_000, 'the first message')
    for (let i = 1; i < COUNT; i++) await publisher.publish(streamId, { i })
    const seen = (): string => {
      const got = new Set(received.map((m) => (m.content as { i: number }).i))
      const missing = Array.from({ length: COUNT }, (_, i) => i).filter((i) => !got.has(i))
      return `all messages (missing ${JSON.stringify(missing.slice(0, 20))}, gaps ${JSON.stringify(gaps)})`
    }
    await waitFor(() => received.length === COUNT, 60_000, 'all messages', seen)
    const overtaken = arrivals.filter((value, index) => index > 0 && value < arrivals[index - 1]!).length
    assert.deepEqual(
      received.map((m) => (m.content as { i: number }).i),
      Array.from({ length: COUNT }, (_, i) => i),
    )
    console.log(`${overtaken} of ${COUNT} messages arrived after a later one; the app saw none out of order`)
  })

  it('puts a chain broadcast in shuffled order back in order', async () => {
    const subscriber = newClient(11, 60_000)
    const received: ReceivedMessage[] = []
    await subscriber.subscribe(streamId, (message) => received.push(message))
    const { signer, raw } = await startRawPublisher()
    try {
      const chain = await signedChain(signer, streamId, 'shuffled', 100)
      // The first message goes first (a subscriber can't know about earlier ones); the rest in a seeded shuffle.
      const rest = chain.slice(1)
      for (let i = rest.length - 1; i > 0; i--) {
        const j = random.nextInt(i + 1)
        ;[rest[i], rest[j]] = [rest[j]!, rest[i]!]
      }
      for (const message of [chain[0]!, ...rest]) raw.broadcast(message)
      const own = (): ReceivedMessage[] => received.filter((m) => m.publisherId === signer.address)
      await waitFor(() => own().length === 100, 30_000, 'the chain')
      assert.deepEqual(
        own().map((m) => (m.content as { i: number }).i),
        Array.from({ length: 100 }, (_, i) => i),
      )
    } finally {
      await raw.stop()
    }
  })

  it('reports a message that never comes as a gap, and delivers the rest in order', async () => {
    const subscriber = newClient(10)
    const gaps: GapEvent[] = []
    subscriber.on('gap', (gap) => gaps.push(gap))
    const received: ReceivedMessage[] = []
    await subscriber.subscribe(streamId, (message) => received.push(message))
    // A raw node publishes a signed chain and deliberately leaves out message #5.
    const { signer, raw } = await startRawPublisher()
    try {
      const chain = await signedChain(signer, streamId, 'raw-chain', 10)
      const base = chain[0]!.timestamp
      for (const [i, message] of chain.entries()) if (i !== 5) raw.broadcast(message)
      await waitFor(
        () => received.filter((m) => m.publisherId === signer.address).length === 9,
        30_000,
        'nine messages',
      )
      const own = received.filter((m) => m.publisherId === signer.address).map((m) => (m.content as { i: number }).i)
      assert.deepEqual(own, [0, 1, 2, 3, 4, 6, 7, 8, 9])
      assert.deepEqual(
        // Only this publisher's chain: recent messages of the earlier test reach a new subscriber too.
        gaps
          .filter((gap) => gap.publisherId === signer.address)
          .map(({ publisherId, msgChainId, from, to }) => ({ publisherId, msgChainId, from, to })),
        [{ publisherId: signer.address, msgChainId: 'raw-chain', from: `${base + 4}:0`, to: `${base + 5}:0` }],
      )
    } finally {
      await raw.stop()
    }
  })
})
