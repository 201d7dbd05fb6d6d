// The state servers' hash comparison: at which block it compares, who is the
// majority, and that one peer claiming an old head can't hide a divergence.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Address, Hex } from 'viem'
import {
  comparePeers,
  comparisonBlock,
  divergencesOf,
  type PeerAnswer,
  type PeerReader,
} from '../../src/plugins/dataUnionState/PeerCheck.js'

const UNION: Address = '0x00000000000000000000000000000000000000d1'
const hash = (n: number): Hex => `0x${n.toString(16).padStart(64, '0')}`

/** A peer's states, block by block, as its HTTP answers would give them; `claimedHead` lets it lie about its head. */
interface FakePeer {
  readonly hashes: Map<bigint, Hex>
  readonly head: bigint
  readonly claimedHead?: bigint
}

function readerOf(peers: Record<string, FakePeer>): PeerReader {
  const peer = (url: string): FakePeer => peers[url] ?? assert.fail(`no peer ${url}`)
  return {
    head: (url): Promise<PeerAnswer> => {
      const { hashes, head, claimedHead } = peer(url)
      const block = claimedHead ?? head
      return Promise.resolve({ instance: url, block, hash: hashes.get(block)! })
    },
    hashAt: (url, _union, block): Promise<PeerAnswer> => {
      const found = peer(url).hashes.get(block)
      if (found === undefined) return Promise.reject(new Error(`block ${block} not kept`))
      return Promise.resolve({ instance: url, block, hash: found })
    },
  }
}

/** Hashes for blocks 1..to, equal to the honest ones until `divergeAt` (exclusive), different from there. */
function history(to: number, divergeAt = Infinity): Map<bigint, Hex> {
  const hashes = new Map<bigint, Hex>()
  for (let block = 1; block <= to; block++) hashes.set(BigInt(block), hash(block >= divergeAt ? 1_000 + block : block))
  return hashes
}

const selfAt = (head: number, hashes = history(head)) => ({
  instance: 'self',
  head: BigInt(head),
  hashAt: (block: bigint) => hashes.get(block),
})

describe('state server peer comparison', () => {
  it('compares at the latest block more than half of the instances reached, never past its own head', () => {
    assert.equal(comparisonBlock(10n, [9n, 3n]), 9n)
    assert.equal(comparisonBlock(10n, [12n, 11n]), 10n)
    assert.equal(comparisonBlock(10n, [3n]), 3n)
    assert.equal(comparisonBlock(10n, [2n, 3n, 4n]), 3n)
    assert.equal(comparisonBlock(10n, []), 10n)
  })

  it('finds the diverging peer even when another peer claims an old head', async () => {
    const peers = {
      'http://liar': { hashes: history(20), head: 20n, claimedHead: 1n },
      'http://honest': { hashes: history(20), head: 20n },
      'http://forked': { hashes: history(20, 15), head: 20n },
    }
    const comparison = await comparePeers(UNION, selfAt(20), Object.keys(peers), readerOf(peers), () => 0)
    assert.equal(comparison.block, 20n)
    assert.equal(comparison.majorityHash, hash(20))
    const byUrl = new Map(comparison.instances.map((peer) => [peer.url, peer]))
    assert.equal(byUrl.get('http://liar')!.error, 'behind: at block 1')
    assert.equal(byUrl.get('http://liar')!.agrees, false)
    assert.equal(byUrl.get('http://honest')!.agrees, true)
    assert.equal(byUrl.get('self')!.agrees, true)
    assert.deepEqual(
      divergencesOf(comparison).map(({ url, hash: theirs }) => [url, theirs]),
      [['http://forked', hash(1_020)]],
    )
  })

  it('asks a peer ahead for its hash at the comparison block, and reports one that cannot answer', async () => {
    const peers = {
      'http://ahead': { hashes: history(30), head: 30n },
      'http://pruned': { hashes: new Map([[30n, hash(30)]]), head: 30n },
    }
    const comparison = await comparePeers(UNION, selfAt(12), Object.keys(peers), readerOf(peers), () => 0)
    assert.equal(comparison.block, 12n)
    const byUrl = new Map(comparison.instances.map((peer) => [peer.url, peer]))
    assert.equal(byUrl.get('http://ahead')!.hash, hash(12))
    assert.equal(byUrl.get('http://pruned')!.error, 'block 12 not kept')
    // Two of the two that answered agree: a majority.
    assert.equal(comparison.majorityHash, hash(12))
    assert.deepEqual(divergencesOf(comparison), [])
  })

  it('names no majority when the answers split evenly', async () => {
    const peers = { 'http://other': { hashes: history(5, 1), head: 5n } }
    const comparison = await comparePeers(UNION, selfAt(5), Object.keys(peers), readerOf(peers), () => 0)
    assert.equal(comparison.majorityHash, undefined)
    assert.deepEqual(divergencesOf(comparison), [])
  })
})
