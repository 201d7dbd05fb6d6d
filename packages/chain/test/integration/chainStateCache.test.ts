import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ChainStateCache, type RunnelRegistry } from '../../src/index.js'
import { startTestChain, type TestChain } from '../fixtures.js'

async function eventually(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('ChainStateCache on the embedded chain', () => {
  let chain: TestChain
  let owner: RunnelRegistry
  let node: RunnelRegistry
  let other: RunnelRegistry

  before(async () => {
    chain = await startTestChain()
    owner = chain.registryFor(1)
    node = chain.registryFor(2)
    other = chain.registryFor(3)
    await node.registerStorageNode({ http: 'http://127.0.0.1:7101' })
    await other.registerStorageNode({ http: 'http://127.0.0.1:7102' })
  })

  after(() => chain.stop())

  it('answers partition counts from memory and drops them when the stream is updated', async () => {
    const { id } = await owner.createStream('/state/partitions', { partitions: 2 })
    const cache = new ChainStateCache(owner, { ttlMs: 3_600_000 })
    cache.start()
    try {
      assert.equal(await cache.partitionCount(id), 2)
      const misses = cache.stats.misses
      for (let i = 0; i < 100; i++) await cache.partitionCount(id)
      assert.equal(cache.stats.misses, misses, 'no chain calls once cached')
      await owner.updateStream(id, { partitions: 5 })
      await eventually(async () => (await cache.partitionCount(id)) === 5)
    } finally {
      cache.stop()
    }
  })

  it('follows storage-node assignments and registrations by their events', async () => {
    const { id } = await owner.createStream('/state/storage')
    const cache = new ChainStateCache(owner, { ttlMs: 3_600_000 })
    cache.start()
    try {
      assert.deepEqual(await cache.storageNodes(id), [])
      assert.deepEqual(cache.knownStorageNodes(id), [])
      await owner.addStorageNode(id, node.account)
      await eventually(async () => (await cache.storageNodes(id)).length === 1)
      assert.deepEqual(await cache.storageNodes(id), [node.account.toLowerCase()])
      assert.deepEqual(await cache.storageNodeUrls(id), ['http://127.0.0.1:7101'])
      await node.registerStorageNode({ http: 'http://127.0.0.1:7201' })
      await eventually(async () => (await cache.storageNodeUrls(id))[0] === 'http://127.0.0.1:7201')
      await owner.addStorageNode(id, other.account)
      await eventually(async () => (await cache.storageNodeUrls(id)).length === 2)
      assert.deepEqual(await cache.storageNodeUrls(id, [node.account.toLowerCase()]), ['http://127.0.0.1:7102'])
    } finally {
      cache.stop()
    }
  })

  it('does not keep an empty URL list, so a node assigned without watching is found at the next look', async () => {
    const { id } = await owner.createStream('/state/unwatched')
    const cache = new ChainStateCache(owner, { ttlMs: 3_600_000 })
    assert.deepEqual(await cache.storageNodeUrls(id), [])
    await owner.addStorageNode(id, other.account)
    assert.deepEqual(await cache.storageNodeUrls(id), ['http://127.0.0.1:7102'])
  })

  it('does not cache a missing stream, and forgets a stream on request', async () => {
    const id = `${owner.account.toLowerCase()}/state/later`
    const cache = new ChainStateCache(owner, { ttlMs: 3_600_000 })
    await assert.rejects(cache.getStream(id), /STREAM_NOT_FOUND/)
    await owner.createStream('/state/later', { partitions: 3 })
    assert.equal(await cache.partitionCount(id), 3)
    await owner.updateStream(id, { partitions: 4 })
    assert.equal(await cache.partitionCount(id), 3, 'unwatched: the cached answer until its TTL')
    cache.forgetStream(id)
    assert.equal(await cache.partitionCount(id), 4)
  })

  it('keeps at most maxEntries permission entries', async () => {
    const { id } = await owner.createStream('/state/bounded')
    const cache = new ChainStateCache(owner, { maxEntries: 2 })
    for (const index of [4, 5, 6]) await cache.hasPermission(id, chain.registryFor(index).account, 'edit')
    const misses = cache.stats.misses
    await cache.hasPermission(id, chain.registryFor(4).account, 'edit')
    assert.equal(cache.stats.misses, misses + 1, 'the oldest entry was evicted')
  })
})
