import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { FOREVER, MAX_PERMISSION_BATCH, NO_PERMISSIONS, PUBLIC, type Permissions } from '../../src/index.js'
import { assertChainError, startTestChain, type TestChain } from '../fixtures.js'

const PUBLISH: Permissions = { ...NO_PERMISSIONS, publishExpiration: FOREVER }
const SUBSCRIBE: Permissions = { ...NO_PERMISSIONS, subscribeExpiration: FOREVER }

describe('registry queries and batch writes on the embedded chain', () => {
  let chain: TestChain
  let owner: ReturnType<TestChain['registryFor']>
  let alice: ReturnType<TestChain['registryFor']>
  let bob: ReturnType<TestChain['registryFor']>

  before(async () => {
    chain = await startTestChain()
    owner = chain.registryFor(1)
    alice = chain.registryFor(2)
    bob = chain.registryFor(3)
  })

  after(() => chain.stop())

  it('sets many permissions for many users on many streams in one transaction', async () => {
    const { id: first } = await owner.createStream('/batch/one')
    const { id: second } = await owner.createStream('/batch/two')
    const before = await chain.publicClient.getBlockNumber({ cacheTime: 0 })
    await owner.setPermissionsBatch([
      { streamId: first, user: alice.account, permissions: PUBLISH },
      { streamId: first, user: bob.account, permissions: { ...PUBLISH, subscribeExpiration: FOREVER } },
      { streamId: second, user: PUBLIC, permissions: SUBSCRIBE },
    ])
    assert.equal(await chain.publicClient.getBlockNumber({ cacheTime: 0 }), before + 1n, 'one transaction, one block')
    assert.equal(await owner.hasPermission(first, alice.account, 'publish'), true)
    assert.equal(await owner.hasPermission(first, alice.account, 'subscribe'), false)
    assert.equal(await owner.hasPermission(first, bob.account, 'subscribe'), true)
    assert.equal(await owner.hasPermission(second, alice.account, 'subscribe'), true)
  })

  it('applies none of a batch when one entry is refused', async () => {
    const { id: mine } = await owner.createStream('/batch/mine')
    const { id: theirs } = await alice.createStream('/batch/theirs')
    await assertChainError(
      owner.setPermissionsBatch([
        { streamId: mine, user: bob.account, permissions: PUBLISH },
        { streamId: theirs, user: bob.account, permissions: PUBLISH },
      ]),
      'PERMISSION_DENIED',
      /may not grant on/,
    )
    assert.equal(await owner.hasPermission(mine, bob.account, 'publish'), false)
    await assertChainError(
      owner.setPermissionsBatch([{ streamId: mine, user: PUBLIC, permissions: { ...NO_PERMISSIONS, canEdit: true } }]),
      'INVALID_PUBLIC_PERMISSION',
    )
  })

  it('refuses an empty or oversized batch before sending it', async () => {
    const { id } = await owner.createStream('/batch/size')
    await assertChainError(owner.setPermissionsBatch([]), 'INVALID_ARGUMENT', /1\.\.100 entries, got 0/)
    const entry = { streamId: id, user: alice.account, permissions: PUBLISH }
    await assertChainError(
      owner.setPermissionsBatch(Array.from({ length: MAX_PERMISSION_BATCH + 1 }, () => entry)),
      'INVALID_ARGUMENT',
      /got 101/,
    )
  })

  it('lists a stream’s publishers and subscribers, public grants as PUBLIC, revoked ones gone', async () => {
    const { id } = await owner.createStream('/holders')
    const lower = (address: string): string => address.toLowerCase()
    await owner.grantPermission(id, alice.account, 'publish')
    await owner.grantPermission(id, PUBLIC, 'subscribe')
    assert.deepEqual((await owner.getStreamPublishers(id)).sort(), [lower(owner.account), lower(alice.account)].sort())
    assert.deepEqual((await owner.getStreamSubscribers(id)).sort(), [lower(owner.account), PUBLIC].sort())
    await owner.revokePermission(id, alice.account, 'publish')
    assert.deepEqual(await owner.getStreamPublishers(id), [lower(owner.account)])
    await assertChainError(owner.getStreamPublishers(`${lower(owner.account)}/nothing`), 'STREAM_NOT_FOUND')
  })

  it('pages through a search, ordered by creation, filtered by a user’s permission', async () => {
    const ids: string[] = []
    for (const name of ['q3', 'q1', 'q2']) ids.push((await bob.createStream(`/paged/${name}`)).id)
    await bob.grantPermission(ids[1]!, alice.account, 'subscribe')
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await owner.queryStreams({ term: '/paged/', orderBy: 'created', pageSize: 2, cursor })
      seen.push(...page.streams.map((stream) => stream.id))
      cursor = page.nextCursor
      pages++
    } while (cursor !== undefined)
    assert.deepEqual(seen, ids)
    assert.equal(pages, 2)
    const byId = await owner.queryStreams({ term: '/paged/', order: 'desc' })
    assert.deepEqual(
      byId.streams.map((stream) => stream.id),
      [...ids].sort().reverse(),
    )
    const aliceMay = await owner.queryStreams({ term: '/paged/', user: alice.account, permission: 'subscribe' })
    assert.deepEqual(
      aliceMay.streams.map((stream) => stream.id),
      [ids[1]],
    )
  })

  it('lists every registered storage node with its metadata, unregistered ones gone', async () => {
    const nodeA = chain.registryFor(4)
    const nodeB = chain.registryFor(5)
    await nodeA.registerStorageNode({ http: 'http://127.0.0.1:7001' })
    await nodeB.registerStorageNode({ http: 'http://127.0.0.1:7002' })
    await nodeA.registerStorageNode({ http: 'http://127.0.0.1:7003' })
    assert.deepEqual(await owner.getAllStorageNodes(), [
      { address: nodeA.account, metadata: { http: 'http://127.0.0.1:7003' } },
      { address: nodeB.account, metadata: { http: 'http://127.0.0.1:7002' } },
    ])
    await nodeA.unregisterStorageNode()
    assert.deepEqual(await owner.getAllStorageNodes(), [
      { address: nodeB.account, metadata: { http: 'http://127.0.0.1:7002' } },
    ])
  })
})
