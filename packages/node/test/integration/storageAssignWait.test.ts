import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, type TestNetwork } from '../helpers.js'

describe('addStreamToStorageNode with wait', () => {
  let network: TestNetwork
  let storageNode: RunnelNode
  let directory: string

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-assign-wait-'))
    network = await startTestNetwork()
    storageNode = await network.startNode(5, {
      plugins: {
        http: { port: 0 },
        websocket: false,
        mqtt: false,
        storage: { sqlite: { path: join(directory, 'db') } },
      },
    })
  })

  after(async () => {
    await network.stop()
    await rm(directory, { recursive: true, force: true })
  })

  it('resolves once the storage node serves the stream, so history asked right after is answered', async () => {
    const streamId = await network.createPublicStream('/assign/wait')
    const owner = network.client(1)
    await owner.addStreamToStorageNode(streamId, storageNode.client.address, { wait: true, timeoutMs: 30_000 })
    assert.ok(storageNode.storage!.storedStreams.includes(streamId), 'the node stores it by the time the wait ends')
    const history = storageNode.info().endpoints.storage!
    const response = await fetch(
      `${history}/streams/${encodeURIComponent(streamId)}/data/partitions/0/last?count=1&format=ndjson`,
    )
    assert.equal(response.status, 200)
    await response.arrayBuffer()
  })

  it('without wait, resolves once the assignment is on chain', async () => {
    const streamId = await network.createPublicStream('/assign/nowait')
    const owner = network.client(1)
    await owner.addStreamToStorageNode(streamId, storageNode.client.address)
    assert.deepEqual(
      (await owner.getStorageNodes(streamId)).map((address) => address.toLowerCase()),
      [storageNode.address],
    )
  })

  it('rejects with the signal’s reason when aborted', async () => {
    const streamId = await network.createPublicStream('/assign/aborted')
    const owner = network.client(1)
    const controller = new AbortController()
    const waiting = owner.addStreamToStorageNode(streamId, storageNode.client.address, {
      wait: true,
      signal: controller.signal,
    })
    controller.abort(new Error('the app gave up'))
    await assert.rejects(waiting, /the app gave up/)
  })
})
