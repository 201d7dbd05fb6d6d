import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TtlCache } from '../../src/cache/TtlCache.js'

describe('TtlCache', () => {
  it('answers from memory until the TTL passes, then loads again', async () => {
    let now = 0
    let loads = 0
    const hits: boolean[] = []
    const cache = new TtlCache<string, number>(
      1_000,
      10,
      () => now,
      (hit) => hits.push(hit),
    )
    const load = (): Promise<number> => Promise.resolve(++loads)
    assert.equal(await cache.get('a', load), 1)
    now = 999
    assert.equal(await cache.get('a', load), 1)
    now = 1_000
    assert.equal(await cache.get('a', load), 2)
    assert.deepEqual(hits, [false, true, false])
  })

  it('shares one load between concurrent look-ups, and `fresh` bypasses memory', async () => {
    let loads = 0
    const cache = new TtlCache<string, number>(1_000, 10, () => 0)
    const load = (): Promise<number> => Promise.resolve(++loads)
    const [first, second] = await Promise.all([cache.get('a', load), cache.get('a', load)])
    assert.deepEqual([first, second, loads], [1, 1, 1])
    assert.equal(await cache.get('a', load, true), 2)
    assert.equal(await cache.get('a', load), 2)
  })

  it('forgets a failed load, so the next look-up asks again', async () => {
    const cache = new TtlCache<string, number>(1_000, 10, () => 0)
    await assert.rejects(
      cache.get('a', () => Promise.reject(new Error('rpc down'))),
      /rpc down/,
    )
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(cache.size, 0)
    assert.equal(await cache.get('a', () => Promise.resolve(7)), 7)
  })

  it('keeps at most maxEntries, dropping the oldest inserted first', async () => {
    const cache = new TtlCache<number, number>(1_000, 3, () => 0)
    for (let i = 0; i < 5; i++) await cache.get(i, () => Promise.resolve(i))
    assert.equal(cache.size, 3)
    let reloaded = false
    await cache.get(0, () => {
      reloaded = true
      return Promise.resolve(0)
    })
    assert.equal(reloaded, true, 'the oldest was evicted')
    assert.equal(cache.size, 3)
  })

  it('deletes by key and by predicate', async () => {
    const cache = new TtlCache<string, number>(1_000, 10, () => 0)
    for (const key of ['s1\na', 's1\nb', 's2\na']) await cache.get(key, () => Promise.resolve(1))
    assert.equal(
      cache.deleteWhere((key) => key.startsWith('s1\n')),
      2,
    )
    assert.equal(cache.delete('s2\na'), true)
    assert.equal(cache.delete('s2\na'), false)
    assert.equal(cache.size, 0)
  })
})
