import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { PUBLIC, PermissionCache } from '../../src/index.js'
import { startTestChain, type TestChain } from '../fixtures.js'

async function eventually(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('PermissionCache', () => {
  let chain: TestChain
  let owner: ReturnType<TestChain['registryFor']>
  let alice: ReturnType<TestChain['registryFor']>
  let streamId: string

  before(async () => {
    chain = await startTestChain()
    owner = chain.registryFor(1)
    alice = chain.registryFor(2)
    ;({ id: streamId } = await owner.createStream('/cached'))
  })

  after(() => chain.stop())

  it('answers repeated look-ups from memory, with the contract’s answers', async () => {
    const cache = new PermissionCache(owner)
    assert.equal(await cache.hasPermission(streamId, owner.account, 'publish'), true)
    assert.equal(await cache.hasPermission(streamId, alice.account, 'publish'), false)
    const misses = cache.stats.misses
    for (let i = 0; i < 1_000; i++) await cache.hasPermission(streamId, owner.account, 'publish')
    assert.equal(cache.stats.misses, misses, 'no chain calls once cached')
    assert.ok(cache.stats.hits >= 1_000)
    assert.equal(await cache.hasPermission(`${owner.account.toLowerCase()}/missing`, owner.account, 'publish'), false)
  })

  it('drops an entry as soon as a contract event changes it', async () => {
    const cache = new PermissionCache(owner, { ttlMs: 3_600_000 })
    cache.start()
    try {
      assert.equal(await cache.hasPermission(streamId, alice.account, 'subscribe'), false)
      await owner.grantPermission(streamId, PUBLIC, 'subscribe')
      await eventually(() => cache.hasPermission(streamId, alice.account, 'subscribe'))
      await owner.revokePermission(streamId, PUBLIC, 'subscribe')
      await eventually(async () => !(await cache.hasPermission(streamId, alice.account, 'subscribe')))
      assert.ok(cache.stats.invalidations >= 2)
    } finally {
      cache.stop()
    }
  })

  it('asks the chain again once an entry’s TTL has passed', async () => {
    let now = 1_000_000
    const cache = new PermissionCache(owner, { ttlMs: 1_000 }, () => now)
    await cache.hasPermission(streamId, alice.account, 'edit')
    const misses = cache.stats.misses
    await cache.hasPermission(streamId, alice.account, 'edit')
    assert.equal(cache.stats.misses, misses)
    now += 1_001
    await cache.hasPermission(streamId, alice.account, 'edit')
    assert.equal(cache.stats.misses, misses + 1)
  })
})
