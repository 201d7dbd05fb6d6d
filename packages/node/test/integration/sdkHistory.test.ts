import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ClientError, type ReceivedMessage, type RunnelClient } from '@runnel/client'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

const isAborted = (err: unknown): boolean => err instanceof ClientError && err.code === 'ABORTED'

/**
 * The SDK calls that wait on storage: `subscription.resendCompleted`, and `AbortSignal` on `resend`,
 * `waitForStorage` and a publish's `ack: 'stored'` wait. A real storage node (SQLite) on 127.0.0.1.
 */
describe('SDK history: resendCompleted and aborted waits', () => {
  let network: TestNetwork
  let directory: string
  let streamId: string
  let storageNode: RunnelNode
  let publisher: RunnelClient
  let reader: RunnelClient

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-sdk-history-'))
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/sdk-history')
    storageNode = await network.startNode(5, {
      plugins: { websocket: false, mqtt: false, storage: { sqlite: { path: join(directory, 'db') } } },
    })
    await network.client(1).addStreamToStorageNode(streamId, storageNode.client.address)
    await waitFor(() => storageNode.storage!.storedStreams.includes(streamId), 30_000, 'the assignment')
    publisher = network.client(3)
    reader = network.client(4)
    // The first also waits for the publisher to join and reach the storage node: on a loaded machine in dht mode,
    // longer than the default 10 s.
    for (let i = 0; i < 5; i++) await publisher.publish(streamId, { i }, { ack: 'stored', ackTimeoutMs: 60_000 })
  })
  after(async () => {
    await network.stop()
    await rm(directory, { recursive: true, force: true })
  })

  it('settles resendCompleted once every stored message was delivered, before the live ones', async () => {
    const received: ReceivedMessage[] = []
    const subscription = await reader.subscribe(streamId, (message) => received.push(message), {
      resend: { last: 5 },
    })
    await subscription.resendCompleted
    assert.deepEqual(
      received.map((message) => (message.content as { i: number }).i),
      [0, 1, 2, 3, 4],
    )
    await publisher.publish(streamId, { i: 5 })
    await waitFor(() => received.length === 6, 30_000, 'the live message')
    await reader.unsubscribe(subscription)
    // Without resend there is no history to wait for.
    const live = await reader.subscribe(streamId)
    await live.resendCompleted
    live.unsubscribe()
  })

  it('rejects resendCompleted with the error that stopped the history', async () => {
    const { id } = await network.client(1).createStream('/sdk-history/unstored')
    await network.client(1).grantPermissions(id, 'public', 'subscribe')
    const errors: Error[] = []
    const subscription = await reader.subscribe(id, {
      resend: { last: 1 },
      onResendError: (error) => errors.push(error),
    })
    await assert.rejects(
      subscription.resendCompleted,
      (err) => err instanceof ClientError && err.code === 'STORAGE_UNAVAILABLE',
    )
    assert.equal(errors.length, 1)
    subscription.unsubscribe()
  })

  it('ends a resend with ABORTED when its signal fires, before or midway', async () => {
    await assert.rejects(async () => {
      for await (const message of reader.resend(streamId, { last: 5 }, { signal: AbortSignal.abort() })) {
        assert.fail(`nothing may come after an abort, got ${String(message.content)}`)
      }
    }, isAborted)
    const controller = new AbortController()
    const seen: unknown[] = []
    await assert.rejects(async () => {
      for await (const message of reader.resend(streamId, { last: 5 }, { signal: controller.signal })) {
        seen.push(message.content)
        controller.abort()
      }
    }, isAborted)
    assert.equal(seen.length, 1)
  })

  it('ends waitForStorage with ABORTED long before its timeout', async () => {
    const published = await publisher.publish(streamId, { i: 'stored' })
    // A message that was never published: no storage node will ever have it.
    const never = { ...published, sequenceNumber: published.sequenceNumber + 1_000 }
    const controller = new AbortController()
    const waiting = reader.waitForStorage(never, { timeoutMs: 600_000, signal: controller.signal })
    setImmediate(() => controller.abort())
    await assert.rejects(waiting, isAborted)
  })

  it("ends a publish's stored-ack wait with ABORTED; the message stays published", async () => {
    // The storage node goes, so no receipt can come: only the signal ends the wait.
    await storageNode.stop()
    const received: ReceivedMessage[] = []
    await reader.subscribe(streamId, (message) => received.push(message))
    const controller = new AbortController()
    const publishing = publisher.publish(
      streamId,
      { i: 'unconfirmed' },
      { ack: 'stored', ackTimeoutMs: 600_000, signal: controller.signal, onAccepted: () => controller.abort() },
    )
    await assert.rejects(publishing, isAborted)
    await waitFor(() => received.some((message) => (message.content as { i: unknown }).i === 'unconfirmed'), 30_000)
  })
})
