import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  KeyUnavailableError,
  type PublishedMessage,
  type ReceivedMessage,
  type RunnelClient,
  type RunnelClientOptions,
} from '@runnel/client'
import { createRunnelClient } from '@runnel/client/node'
import {
  EncryptionType,
  MessageType,
  generatePrivateKey,
  parseJsonContent,
  toStreamPartId,
  type StreamId,
  type StreamMessage,
} from '@runnel/protocol'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

/**
 * Encrypted history once its publisher is gone for good (issue 13): keys come from clients that hold them, and
 * history nobody can decrypt never holds up live messages. Key exchange waits are short here (one request of 1 s to
 * the publisher, one to holders) so that a key nobody answers for costs about 2 s.
 */
const FAST_KEYS: RunnelClientOptions['encryption'] = {
  keyRequestTimeoutMs: 1_000,
  keyRequestAttempts: 2,
  holderAnswerDelayMs: 50,
}

describe('encrypted history after its publisher is gone', () => {
  let network: TestNetwork
  let directory: string
  let storageNode: RunnelNode
  let owner: RunnelClient
  const clients: RunnelClient[] = []

  /** A client with a fresh key (no funds needed: only the owner writes to the chain). */
  const newClient = (options: Partial<RunnelClientOptions> = {}): RunnelClient => {
    const client = createRunnelClient({
      auth: { privateKey: generatePrivateKey() },
      chain: {
        provider: network.dev.chain.provider,
        contracts: network.dev.deployment,
        fromBlock: network.dev.deployment.deployBlock,
      },
      network: network.discovery,
      encryption: FAST_KEYS,
      ...options,
    })
    clients.push(client)
    return client
  }

  const errorsOf = (client: RunnelClient): Error[] => {
    const errors: Error[] = []
    client.on('error', (err) => errors.push(err))
    return errors
  }

  /** How many messages the storage node has for the stream, over its history API. */
  const storedCount = async (streamId: string): Promise<number> => {
    const url = `${storageNode.info().endpoints.storage}/streams/${encodeURIComponent(streamId)}/data/partitions/0/last?count=10000`
    const text = await (await fetch(url)).text()
    return text.split('\n').filter((line) => line.length > 0).length
  }

  /** A private stream stored by the storage node, with `publishers` allowed to publish. */
  const createStoredStream = async (path: string, ...publishers: RunnelClient[]): Promise<string> => {
    const { id } = await owner.createStream(path)
    for (const publisher of publishers) await owner.grantPermissions(id, publisher.address, 'publish')
    await owner.addStreamToStorageNode(id, storageNode.client.address)
    await waitFor(() => storageNode.storage!.storedStreams.includes(id), 30_000, 'the assignment')
    return id
  }

  /** What the storage node holds per stream, polled while a test publishes. */
  const stored = new Map<string, number>()
  const pollStored = (streamId: string): (() => void) => {
    const timer = setInterval(() => {
      storedCount(streamId).then(
        (count) => stored.set(streamId, count),
        () => undefined,
      )
    }, 50)
    return () => clearInterval(timer)
  }

  /** Publishes `batches` batches of `size`, each under a key of its own (a rekey between them). */
  const publishBatches = async (
    publisher: RunnelClient,
    streamId: string,
    batches: number,
    size: number,
  ): Promise<PublishedMessage[][]> => {
    const published: PublishedMessage[][] = []
    for (let batch = 0; batch < batches; batch++) {
      if (batch > 0) await publisher.updateEncryptionKey({ streamId, distributionMethod: 'rekey' })
      const messages: PublishedMessage[] = []
      for (let i = 0; i < size; i++) messages.push(await publisher.publish(streamId, { batch, i }))
      published.push(messages)
    }
    const total = batches * size
    await waitFor(
      () => stored.get(streamId) === total,
      30_000,
      `${total} messages stored`,
      () => `${stored.get(streamId)} stored`,
    )
    return published
  }
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-encrypted-history-'))
    network = await startTestNetwork()
    owner = network.client(1)
    storageNode = await network.startNode(5, {
      plugins: {
        http: { port: 0 },
        websocket: false,
        mqtt: false,
        storage: { sqlite: { path: join(directory, 'storage.db') } },
      },
    })
  })
  after(async () => {
    await Promise.all(clients.map((client) => client.destroy()))
    await network.stop()
    await rm(directory, { recursive: true, force: true })
  })

  it('a newly granted subscriber decrypts the whole stored history through a client that holds the keys', async () => {
    const publisher = newClient()
    const holder = newClient()
    const streamId = await createStoredStream('/held-history', publisher)
    const stopPolling = pollStored(streamId)
    await owner.grantPermissions(streamId, holder.address, 'subscribe')
    const held: ReceivedMessage[] = []
    await holder.subscribe(streamId, (message) => held.push(message))
    // Live means in the overlay before the first message: on a loaded machine in dht mode, joining took longer than
    // publishing 120 messages, and the first ones passed it by.
    const streamPart = `${streamId}#0` as Parameters<typeof holder.networkNode.getNeighbors>[0]
    await waitFor(
      () => holder.networkNode.getNeighbors(streamPart).length > 0,
      30_000,
      'the holder to have a neighbour',
    )

    const published = await publishBatches(publisher, streamId, 4, 30)
    stopPolling()
    await waitFor(() => held.length === 120, 30_000, 'the holder to read everything live')
    const keyIds = new Set(held.map((message) => message.streamMessage.groupKeyId))
    assert.equal(keyIds.size, 4, 'four keys, each obtainable only by key exchange')
    await publisher.destroy()

    const newcomer = newClient()
    await owner.grantPermissions(streamId, newcomer.address, 'subscribe')
    const errors = errorsOf(newcomer)
    const received: ReceivedMessage[] = []
    await newcomer.subscribe(streamId, (message) => received.push(message), { resend: { last: 1_000 } })
    await waitFor(
      () => received.length === 120 || errors.length > 0,
      30_000,
      'the whole history',
      () => `${received.length} messages, errors: ${errors.join('; ')}`,
    )
    assert.deepEqual(errors, [])
    assert.deepEqual(
      received.map((message) => message.content),
      published.flat().map((_, n) => ({ batch: Math.floor(n / 30), i: n % 30 })),
    )
    assert.ok(received.every((message) => message.publisherId === published[0]![0]!.publisherId))
  })

  it('live messages of an online publisher arrive before undecryptable history is given up on, reported once per key', async () => {
    const gone = newClient()
    const online = newClient()
    const streamId = await createStoredStream('/stuck-history', gone, online)
    const stopPolling = pollStored(streamId)
    // Nobody but the publisher ever held these keys.
    const [first, second] = await publishBatches(gone, streamId, 2, 20)
    stopPolling()
    await gone.destroy()

    const subscriber = newClient()
    const raw = newClient()
    await owner.grantPermissions(streamId, subscriber.address, 'subscribe')
    await owner.grantPermissions(streamId, raw.address, 'subscribe')
    // One log of what the subscriber sees, in the order it sees it.
    const seen: ({ message: ReceivedMessage } | { error: Error })[] = []
    subscriber.on('error', (error) => seen.push({ error }))
    await subscriber.subscribe(streamId, (message) => seen.push({ message }), { resend: { last: 1_000 } })
    // Another subscriber asks for what can't be decrypted as it is.
    const rawErrors = errorsOf(raw)
    const rawReceived: ReceivedMessage[] = []
    await raw.subscribe(streamId, (message) => rawReceived.push(message), {
      resend: { last: 1_000 },
      deliverUndecryptable: true,
    })

    for (let i = 0; i < 5; i++) await online.publish(streamId, { live: i })
    const keyErrors = (): KeyUnavailableError[] =>
      seen.flatMap((entry) => ('error' in entry && entry.error instanceof KeyUnavailableError ? [entry.error] : []))
    const messages = (): ReceivedMessage[] => seen.flatMap((entry) => ('message' in entry ? [entry.message] : []))
    await waitFor(
      () => keyErrors().length === 2 && messages().length === 5,
      30_000,
      'both key failures and the live messages',
      () =>
        `${keyErrors().length} key failures, ${messages().length} messages: ${seen.map((e) => ('error' in e ? e.error.message : JSON.stringify(e.message.content))).join('\n')}`,
    )

    assert.deepEqual(
      messages().map((message) => message.content),
      [0, 1, 2, 3, 4].map((i) => ({ live: i })),
      'only the live messages are delivered',
    )
    const firstFailure = seen.findIndex((entry) => 'error' in entry)
    const lastLive = seen.length - 1 - [...seen].reverse().findIndex((entry) => 'message' in entry)
    assert.ok(lastLive < firstFailure, 'every live message arrived before the first key was given up on')
    assert.equal(seen.filter((entry) => 'error' in entry).length, 2, 'nothing reported per message, only once per key')
    const ref = (message: PublishedMessage): string => `${message.timestamp}:${message.sequenceNumber}`
    assert.deepEqual(
      keyErrors().map((error) => error.range),
      [first!, second!].map((batch, n) => ({
        streamPartId: toStreamPartId(streamId as StreamId, 0),
        publisherId: gone.address.toLowerCase(),
        msgChainId: batch[0]!.msgChainId,
        groupKeyId: keyErrors()[n]!.range.groupKeyId,
        first: ref(batch[0]!),
        last: ref(batch.at(-1)!),
        count: 20,
      })),
    )
    assert.notEqual(keyErrors()[0]!.range.groupKeyId, keyErrors()[1]!.range.groupKeyId)
    assert.equal(keyErrors()[0]!.code, 'KEY_UNAVAILABLE')
    assert.match(keyErrors()[0]!.message, /didn't answer 1 request; neither it nor a holder answered 1 request/)

    // Asked for, the undecryptable messages come as they are, in their place and after their report.
    await waitFor(
      () => rawReceived.length === 45,
      30_000,
      'all 45 messages at the raw subscriber',
      () => `${rawReceived.length}`,
    )
    const history = rawReceived.filter((message) => message.publisherId === gone.address.toLowerCase())
    assert.equal(history.length, 40)
    assert.ok(history.every((message) => message.streamMessage.encryptionType === EncryptionType.Aes))
    assert.ok(history.every((message) => message.content instanceof Uint8Array))
    assert.equal(rawErrors.filter((error) => error instanceof KeyUnavailableError).length, 2)
  })

  it('a holder gives nothing to a requester without subscribe permission, never granted or revoked', async () => {
    const publisher = newClient()
    const holder = newClient()
    const streamId = await createStoredStream('/guarded-history', publisher)
    const streamPartId = toStreamPartId(streamId as StreamId, 0)
    const stopPolling = pollStored(streamId)
    await owner.grantPermissions(streamId, holder.address, 'subscribe')
    const held: ReceivedMessage[] = []
    await holder.subscribe(streamId, (message) => held.push(message))
    await publishBatches(publisher, streamId, 1, 10)
    stopPolling()
    await waitFor(() => held.length === 10, 30_000, 'the holder to read everything live')
    await publisher.destroy()
    // What reaches the holder: the requests it chose to stay silent on.
    const holderRequests: StreamMessage[] = []
    holder.networkNode.addMessageListener(streamPartId, (message) => {
      if (message.messageType === MessageType.GroupKeyRequest) holderRequests.push(message)
    })

    const outsider = newClient()
    const revoked = newClient()
    const permitted = newClient()
    await owner.grantPermissions(streamId, revoked.address, 'subscribe')
    await owner.revokePermissions(streamId, revoked.address, 'subscribe')
    await owner.grantPermissions(streamId, permitted.address, 'subscribe')
    const responsesTo = new Map<string, number>()
    const readHistory = async (
      client: RunnelClient,
    ): Promise<{ received: ReceivedMessage[]; errors: Error[]; address: string }> => {
      const address = client.address.toLowerCase()
      const errors = errorsOf(client)
      await client.connect()
      client.networkNode.addMessageListener(streamPartId, (message) => {
        if (message.messageType !== MessageType.GroupKeyResponse) return
        const { recipient } = parseJsonContent(message.content) as { recipient: string }
        responsesTo.set(recipient, (responsesTo.get(recipient) ?? 0) + 1)
      })
      const received: ReceivedMessage[] = []
      for await (const message of client.resend(streamId, { last: 100 })) received.push(message)
      return { received, errors, address }
    }
    const [fromOutsider, fromRevoked, fromPermitted] = await Promise.all([
      readHistory(outsider),
      readHistory(revoked),
      readHistory(permitted),
    ])

    assert.equal(fromPermitted.received.length, 10, 'the holder does answer one with permission')
    assert.deepEqual(fromPermitted.errors, [])
    for (const { received, errors, address } of [fromOutsider, fromRevoked]) {
      assert.deepEqual(received, [], `${address} read nothing`)
      assert.equal(errors.length, 1, `one report for the one key: ${errors.join('; ')}`)
      assert.ok(errors[0] instanceof KeyUnavailableError && errors[0].range.count === 10, String(errors[0]))
      assert.match(errors[0].message, /nor a holder answered/)
      assert.equal(responsesTo.get(address), undefined, `no key response to ${address}`)
      assert.ok(
        holderRequests.some((request) => request.publisherId === address),
        `the holder was asked by ${address}`,
      )
    }
  })
})
