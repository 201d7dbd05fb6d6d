import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { assertChainError, startTestChain, type TestChain } from '../fixtures.js'

describe('StorageNodeRegistry on the embedded chain', () => {
  let chain: TestChain
  let owner: ReturnType<TestChain['registryFor']>
  let node: ReturnType<TestChain['registryFor']>
  let stranger: ReturnType<TestChain['registryFor']>
  let streamId: string

  before(async () => {
    chain = await startTestChain()
    owner = chain.registryFor(1)
    node = chain.registryFor(2)
    stranger = chain.registryFor(3)
    ;({ id: streamId } = await owner.createStream('/stored', { storageDays: 30 }))
  })

  after(() => chain.stop())

  it('lets a node register itself with metadata, and update and remove it', async () => {
    await assertChainError(owner.getStorageNode(node.account), 'NODE_NOT_REGISTERED')
    await node.registerStorageNode({ http: 'http://127.0.0.1:7171' })
    assert.deepEqual(await owner.getStorageNode(node.account), { http: 'http://127.0.0.1:7171' })
    await node.registerStorageNode({ http: 'http://127.0.0.1:7172' })
    assert.deepEqual(await owner.getStorageNode(node.account), { http: 'http://127.0.0.1:7172' })
  })

  it('lets only the stream’s editors assign registered nodes', async () => {
    await assertChainError(stranger.addStorageNode(streamId, node.account), 'PERMISSION_DENIED', /may not edit/)
    await assertChainError(owner.addStorageNode(streamId, stranger.account), 'NODE_NOT_REGISTERED')
    await owner.addStorageNode(streamId, node.account)
    await assertChainError(owner.addStorageNode(streamId, node.account), 'ALREADY_ASSIGNED', /already stores/)
    assert.equal(await owner.isStorageNodeOf(streamId, node.account), true)
  })

  it('answers both ways: nodes of a stream and streams of a node', async () => {
    const { id: second } = await owner.createStream('/stored/second')
    await owner.addStorageNode(second, node.account)
    assert.deepEqual(await owner.getStorageNodes(streamId), [node.account])
    assert.deepEqual((await owner.getStoredStreams(node.account)).sort(), [streamId, second].sort())
  })

  it('unassigns, and refuses to unassign what isn’t assigned', async () => {
    await owner.removeStorageNode(streamId, node.account)
    assert.equal(await owner.isStorageNodeOf(streamId, node.account), false)
    await assertChainError(owner.removeStorageNode(streamId, node.account), 'NOT_ASSIGNED')
    assert.deepEqual(await owner.getStorageNodes(streamId), [])
  })

  it('starts a deleted and re-created stream without storage nodes', async () => {
    const { id } = await owner.createStream('/stored/recreated')
    await owner.addStorageNode(id, node.account)
    await owner.deleteStream(id)
    await owner.createStream('/stored/recreated')
    assert.equal(await owner.isStorageNodeOf(id, node.account), false)
    await owner.addStorageNode(id, node.account)
    assert.equal(await owner.isStorageNodeOf(id, node.account), true)
  })

  it('reports a malformed node address as a bad argument', async () => {
    await assertChainError(owner.getStoredStreams('0x1234'), 'INVALID_ARGUMENT')
    await assertChainError(owner.hasPermission(streamId, '0xnothex', 'edit'), 'INVALID_ARGUMENT')
  })

  it('stops counting a node that unregisters', async () => {
    const { id } = await owner.createStream('/stored/third')
    await owner.addStorageNode(id, node.account)
    await node.unregisterStorageNode()
    assert.equal(await owner.isStorageNodeOf(id, node.account), false)
    await assertChainError(node.unregisterStorageNode(), 'NODE_NOT_REGISTERED')
  })
})
