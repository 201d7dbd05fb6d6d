import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { FOREVER, NO_PERMISSIONS } from '@runnel/chain'
import { ClientError } from '../../src/index.js'
import { startTestNetwork, type TestNetwork } from '../helpers.js'

describe('the client’s chain verbs: holders, batch permissions, paged search, storage nodes', () => {
  let network: TestNetwork

  before(async () => {
    network = await startTestNetwork()
  })

  after(() => network.stop())

  it('lists publishers and subscribers, the public grant as "public", from the client and from a Stream', async () => {
    const owner = network.client(1)
    const alice = network.client(2).address
    const stream = await owner.createStream('/sdk/holders')
    await stream.grantPermissions('public', 'subscribe')
    await stream.grantPermissions(alice, 'publish')
    const lower = (address: string): string => address.toLowerCase()
    assert.deepEqual((await owner.getStreamPublishers(stream.id)).sort(), [lower(owner.address), lower(alice)].sort())
    assert.deepEqual((await stream.getSubscribers()).sort(), [lower(owner.address), 'public'].sort())
    assert.deepEqual((await stream.getPublishers()).sort(), (await owner.getStreamPublishers(stream.id)).sort())
  })

  it('sets permissions for many users on many streams in one transaction, by names or in full', async () => {
    const owner = network.client(1)
    const [alice, bob] = [network.client(2).address, network.client(3).address]
    const first = await owner.createStream('/sdk/batch/1')
    const second = await owner.createStream('/sdk/batch/2')
    const blocks = await network.dev.publicClient.getBlockNumber({ cacheTime: 0 })
    await owner.setPermissionsBatch([
      { streamId: first.id, user: alice, permissions: ['publish', 'subscribe'] },
      { streamId: '/sdk/batch/2', user: 'public', permissions: ['subscribe'] },
      { streamId: second.id, user: bob, permissions: { ...NO_PERMISSIONS, publishExpiration: FOREVER } },
    ])
    assert.equal(await network.dev.publicClient.getBlockNumber({ cacheTime: 0 }), blocks + 1n)
    assert.ok(await owner.hasPermission(first.id, 'subscribe', alice))
    assert.ok(await owner.hasPermission(second.id, 'subscribe', bob), 'public subscribe')
    assert.ok(await owner.hasPermission(second.id, 'publish', bob))
    assert.equal(await owner.hasPermission(second.id, 'publish', alice), false)
    await assert.rejects(
      owner.setPermissionsBatch([{ streamId: first.id, user: alice, permissions: ['fly' as 'publish'] }]),
      (err: unknown) => err instanceof Error && /unknown permission fly/.test(err.message),
    )
  })

  it('pages through a search, newest first, with Streams that act', async () => {
    const owner = network.client(4)
    const ids: string[] = []
    for (const name of ['b', 'c', 'a']) ids.push((await owner.createStream(`/sdk/paged/${name}`)).id)
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = await owner.queryStreams({
        term: '/sdk/paged/',
        orderBy: 'created',
        order: 'desc',
        pageSize: 2,
        cursor,
      })
      seen.push(...page.streams.map((stream) => stream.id))
      cursor = page.nextCursor
    } while (cursor !== undefined)
    assert.deepEqual(seen, [...ids].reverse())
    const { streams } = await owner.queryStreams({ term: '/sdk/paged/a' })
    assert.equal(await streams[0]!.hasPermission('edit'), true)
  })

  it('lists every registered storage node', async () => {
    const node = network.dev.registryFor(5)
    await node.registerStorageNode({ http: 'http://127.0.0.1:7301' })
    const nodes = await network.client(1).getAllStorageNodes()
    assert.deepEqual(
      nodes.find((entry) => entry.address === node.account),
      { address: node.account, metadata: { http: 'http://127.0.0.1:7301' } },
    )
  })

  it('gives up waiting for a storage node that never serves the stream, with TIMEOUT', async () => {
    const owner = network.client(1)
    const node = network.dev.registryFor(6)
    // Registered at an address where nothing listens: the assignment lands, the node never answers.
    await node.registerStorageNode({ http: 'http://127.0.0.1:9' })
    const stream = await owner.createStream('/sdk/never-served')
    await assert.rejects(
      stream.addToStorageNode(node.account, { wait: true, timeoutMs: 500 }),
      (err: unknown) => err instanceof ClientError && err.code === 'TIMEOUT' && /did not serve/.test(err.message),
    )
    assert.deepEqual(await owner.getStorageNodes(stream.id), [node.account], 'assigned all the same')
  })
})
