import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { zeroAddress } from 'viem'
import { ChainError, FOREVER, NO_PERMISSIONS, type Permissions } from '../../src/index.js'
import type { StreamIndex } from '../../src/registry/eventIndex.js'
import { holdersOf, queryIndex, searchIndex } from '../../src/registry/streamQuery.js'

const ALICE = '0x00000000000000000000000000000000000000a1'
const BOB = '0x00000000000000000000000000000000000000b0'
const NOW = 1_000n
const publisher: Permissions = { ...NO_PERMISSIONS, publishExpiration: FOREVER }
const subscriber: Permissions = { ...NO_PERMISSIONS, subscribeExpiration: FOREVER }

/** Streams `c`, `a`, `b`, `d` created in that order (blocks 1..4); `d` has two creations in block 4. */
function sampleIndex(): StreamIndex {
  const streams = new Map([
    ['0xo/c', { metadata: '{"partitions":3}', created: { block: 1n, logIndex: 0 } }],
    ['0xo/a', { metadata: '{}', created: { block: 2n, logIndex: 0 } }],
    ['0xo/b', { metadata: '{}', created: { block: 3n, logIndex: 0 } }],
    ['0xo/d', { metadata: '{}', created: { block: 4n, logIndex: 1 } }],
    ['0xo/d2', { metadata: '{}', created: { block: 4n, logIndex: 0 } }],
  ])
  const permissions = new Map<string, Map<string, Permissions>>([
    ['0xo/a', new Map([[ALICE, publisher]])],
    ['0xo/b', new Map([[zeroAddress, subscriber]])],
    // Expired at NOW: no longer held.
    ['0xo/c', new Map([[ALICE, { ...NO_PERMISSIONS, publishExpiration: NOW }]])],
  ])
  return { streams, permissions }
}

function pages(query: Parameters<typeof queryIndex>[1]): string[][] {
  const index = sampleIndex()
  const all: string[][] = []
  let cursor: string | undefined
  do {
    const page = queryIndex(index, { ...query, cursor }, NOW)
    all.push(page.streams.map((stream) => stream.id))
    cursor = page.nextCursor
  } while (cursor !== undefined)
  return all
}

describe('stream queries over the event index', () => {
  it('pages by id in both orders, every stream once, no cursor after the last page', () => {
    assert.deepEqual(pages({ pageSize: 2 }), [['0xo/a', '0xo/b'], ['0xo/c', '0xo/d'], ['0xo/d2']])
    assert.deepEqual(pages({ pageSize: 2, order: 'desc' }), [['0xo/d2', '0xo/d'], ['0xo/c', '0xo/b'], ['0xo/a']])
    assert.deepEqual(pages({ pageSize: 5 }), [['0xo/a', '0xo/b', '0xo/c', '0xo/d', '0xo/d2']])
  })

  it('orders by creation, block then log index', () => {
    assert.deepEqual(pages({ orderBy: 'created', pageSize: 3 }), [
      ['0xo/c', '0xo/a', '0xo/b'],
      ['0xo/d2', '0xo/d'],
    ])
    assert.deepEqual(pages({ orderBy: 'created', order: 'desc', pageSize: 10 }), [
      ['0xo/d', '0xo/d2', '0xo/b', '0xo/a', '0xo/c'],
    ])
    const first = queryIndex(sampleIndex(), { orderBy: 'created', pageSize: 1 }, NOW)
    assert.equal(first.streams[0]?.createdAtBlock, 1n)
    assert.deepEqual(first.streams[0]?.metadata, { partitions: 3 })
  })

  it('a cursor survives a stream deleted between pages', () => {
    const index = sampleIndex()
    const first = queryIndex(index, { pageSize: 2 }, NOW)
    index.streams.delete('0xo/b')
    const second = queryIndex(index, { pageSize: 2, cursor: first.nextCursor }, NOW)
    assert.deepEqual(
      second.streams.map((stream) => stream.id),
      ['0xo/c', '0xo/d'],
    )
  })

  it('filters by term and by a user’s permission, public grants included and expired ones not', () => {
    const index = sampleIndex()
    const ids = (filter: Parameters<typeof searchIndex>[1]): string[] =>
      searchIndex(index, filter, NOW).map((stream) => stream.id)
    assert.deepEqual(ids({ term: '/d' }), ['0xo/d', '0xo/d2'])
    assert.deepEqual(ids({ user: ALICE, permission: 'publish' }), ['0xo/a'])
    assert.deepEqual(ids({ user: BOB, permission: 'subscribe' }), ['0xo/b'])
    assert.deepEqual(ids({ permission: 'subscribe' }), ['0xo/b'])
    assert.deepEqual(
      queryIndex(
        index,
        { user: ALICE.toUpperCase().replace('0X', '0x') as typeof ALICE, permission: 'publish' },
        NOW,
      ).streams.map((stream) => stream.id),
      ['0xo/a'],
    )
  })

  it('refuses a bad page size, order or cursor with INVALID_ARGUMENT', () => {
    const index = sampleIndex()
    for (const query of [
      { pageSize: 0 },
      { pageSize: 1_001 },
      { pageSize: 1.5 },
      { order: 'up' as 'asc' },
      { orderBy: 'name' as 'id' },
      { cursor: 'created:1:0:0xo/a' },
      { orderBy: 'created' as const, cursor: 'id:0xo/a' },
    ]) {
      assert.throws(
        () => queryIndex(index, query, NOW),
        (err: unknown) => err instanceof ChainError && err.code === 'INVALID_ARGUMENT',
        JSON.stringify(query),
      )
    }
  })

  it('lists the holders of a permission now, the public grant as the zero address', () => {
    const { permissions } = sampleIndex()
    assert.deepEqual(holdersOf(permissions.get('0xo/a'), 'publish', NOW), [ALICE])
    assert.deepEqual(holdersOf(permissions.get('0xo/b'), 'subscribe', NOW), [zeroAddress])
    assert.deepEqual(holdersOf(permissions.get('0xo/c'), 'publish', NOW), [])
    assert.deepEqual(holdersOf(undefined, 'publish', NOW), [])
  })
})
