// The iterative lookup against a set of fake responders (no network): it
// ends once the k closest have answered, keeps alpha requests in flight,
// routes around dead nodes and liars, and stays bounded.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { compareDistance, nodeIdToKey } from '../../src/dht/keys.js'
import { runLookup, type LookupQuery } from '../../src/dht/Lookup.js'
import { NetworkError } from '../../src/errors.js'
import { NETWORK_PROTOCOL_VERSION, SeededRandom, type NodeDescriptor, type NodeId } from '../../src/index.js'
import { addressFromBytes } from '@runnel/protocol'

const K = 8

function descriptorOf(key: Uint8Array): NodeDescriptor {
  return {
    nodeId: addressFromBytes(key),
    kind: 'full',
    addresses: ['sim://0'],
    protocolVersion: NETWORK_PROTOCOL_VERSION,
  }
}

function randomKey(random: SeededRandom): Uint8Array {
  return new Uint8Array(20).map(() => random.nextUint32() & 0xff)
}

function closestTo(target: Uint8Array, nodes: readonly NodeDescriptor[], count: number): NodeDescriptor[] {
  return [...nodes]
    .sort((a, b) => compareDistance(target, nodeIdToKey(a.nodeId), nodeIdToKey(b.nodeId)))
    .slice(0, count)
}

/**
 * A network of `size` honest nodes where each knows the `known` nodes closest
 * to itself plus a few random ones (a Kademlia-like view), answering with its
 * k closest to the target.
 */
function fakeNetwork(size: number, seed: number) {
  const random = new SeededRandom(seed)
  const nodes = Array.from({ length: size }, () => descriptorOf(randomKey(random)))
  const views = new Map<NodeId, NodeDescriptor[]>()
  for (const node of nodes) {
    const near = closestTo(nodeIdToKey(node.nodeId), nodes, 2 * K + 1).slice(1)
    const far = Array.from({ length: 16 }, () => nodes[random.nextUint32() % size]!)
    views.set(node.nodeId, [...near, ...far.filter((n) => n.nodeId !== node.nodeId)])
  }
  return { nodes, views, random }
}

interface Behaviour {
  answer(node: NodeDescriptor, target: Uint8Array): readonly NodeDescriptor[] | 'fail'
}

function queryOf(
  target: Uint8Array,
  behaviour: Behaviour,
  stats = { inFlight: 0, maxInFlight: 0, asked: [] as NodeId[] },
): LookupQuery {
  return async (node) => {
    stats.inFlight++
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight)
    stats.asked.push(node.nodeId)
    await new Promise((resolve) => setImmediate(resolve))
    stats.inFlight--
    const answer = behaviour.answer(node, target)
    if (answer === 'fail') throw new NetworkError('TIMEOUT', 'no answer')
    return answer
  }
}

const honest = (views: Map<NodeId, NodeDescriptor[]>): Behaviour => ({
  answer: (node, target) => closestTo(target, views.get(node.nodeId) ?? [], K),
})

describe('runLookup', () => {
  it('finds exactly the k closest of 300 nodes from a far seed, with at most alpha in flight', async () => {
    const { nodes, views, random } = fakeNetwork(300, 1)
    for (let round = 0; round < 20; round++) {
      const target = randomKey(random)
      const stats = { inFlight: 0, maxInFlight: 0, asked: [] as NodeId[] }
      const seed = nodes[random.nextUint32() % nodes.length]!
      const result = await runLookup(target, [seed], queryOf(target, honest(views), stats), {
        k: K,
        alpha: 3,
        maxCandidates: 4 * K,
      })
      assert.deepEqual(
        result.closest.map((n) => n.nodeId),
        closestTo(target, nodes, K).map((n) => n.nodeId),
      )
      assert.ok(stats.maxInFlight <= 3)
      assert.equal(new Set(stats.asked).size, stats.asked.length, 'nobody is asked twice')
      assert.equal(result.queries, stats.asked.length)
      assert.ok(result.hops >= 1)
    }
  })

  it('ends with nothing when every node fails, and never asks the local node', async () => {
    const { nodes } = fakeNetwork(20, 2)
    const local = nodes[0]!
    const stats = { inFlight: 0, maxInFlight: 0, asked: [] as NodeId[] }
    const target = new Uint8Array(20)
    const result = await runLookup(target, nodes, queryOf(target, { answer: () => 'fail' }, stats), {
      k: K,
      alpha: 3,
      maxCandidates: 4 * K,
      localId: local.nodeId,
    })
    assert.deepEqual(result.closest, [])
    assert.equal(result.failures, 19)
    assert.ok(!stats.asked.includes(local.nodeId))
  })

  it('still converges when some nodes answer only with themselves, or with nothing', async () => {
    const { nodes, views, random } = fakeNetwork(300, 3)
    const liars = new Set(nodes.filter((_, index) => index % 5 === 0).map((n) => n.nodeId))
    const behaviour: Behaviour = {
      answer: (node, target) =>
        liars.has(node.nodeId)
          ? random.nextFloat() < 0.5
            ? [node]
            : []
          : closestTo(target, views.get(node.nodeId) ?? [], K),
    }
    for (let round = 0; round < 10; round++) {
      const target = randomKey(random)
      const seeds = closestTo(randomKey(random), nodes, K)
      const result = await runLookup(target, seeds, queryOf(target, behaviour), {
        k: K,
        alpha: 3,
        maxCandidates: 4 * K,
      })
      assert.deepEqual(
        result.closest.map((n) => n.nodeId),
        closestTo(target, nodes, K).map((n) => n.nodeId),
      )
    }
  })

  it('routes around liars that answer with made-up nodes closer than anyone, which then fail', async () => {
    const { nodes, views, random } = fakeNetwork(200, 4)
    const liar = nodes[0]!
    const fakes = new Set<NodeId>()
    const behaviour: Behaviour = {
      answer: (node, target) => {
        if (fakes.has(node.nodeId)) return 'fail'
        if (node.nodeId !== liar.nodeId) {
          const view = views.get(node.nodeId) ?? []
          return closestTo(target, [...view, liar], K)
        }
        // Made-up ids sharing 150 bits with the target: closer than any real node.
        return Array.from({ length: K }, () => {
          const key = target.slice()
          key[19] = random.nextUint32() & 0xff
          const fake = descriptorOf(key)
          fakes.add(fake.nodeId)
          return fake
        })
      },
    }
    const target = randomKey(random)
    const result = await runLookup(target, [liar, nodes[1]!], queryOf(target, behaviour), {
      k: K,
      alpha: 3,
      maxCandidates: 4 * K,
    })
    assert.deepEqual(
      result.closest.map((n) => n.nodeId),
      closestTo(target, nodes, K).map((n) => n.nodeId),
    )
    assert.ok(result.failures >= 1 && result.failures <= K, `each fake costs one request (${result.failures})`)
  })

  it('stays bounded: a node flooding answers with new far nodes adds at most maxCandidates', async () => {
    const random = new SeededRandom(5)
    const target = new Uint8Array(20)
    let asked = 0
    const query: LookupQuery = async () => {
      asked++
      await Promise.resolve()
      // Always k new nodes, each farther than the last: the lookup must not chase them forever.
      return Array.from({ length: K }, () => {
        const key = randomKey(random)
        key[0] = 0x80 | key[0]!
        return descriptorOf(key)
      })
    }
    const result = await runLookup(target, [descriptorOf(randomKey(random))], query, {
      k: K,
      alpha: 3,
      maxCandidates: 4 * K,
    })
    assert.equal(result.closest.length, K)
    assert.ok(asked < 200, `asked ${asked}`)
  })

  it('rejects with ABORTED when its signal aborts', async () => {
    const { nodes } = fakeNetwork(10, 6)
    const controller = new AbortController()
    const pending = runLookup(
      new Uint8Array(20),
      nodes,
      () => new Promise(() => undefined),
      {
        k: K,
        alpha: 3,
        maxCandidates: 4 * K,
      },
      controller.signal,
    )
    controller.abort()
    await assert.rejects(pending, (err: unknown) => err instanceof NetworkError && err.code === 'ABORTED')
  })
})

/**
 * `count` colluding liars with ids sharing 24 bits with `target` (closer than
 * any of a few hundred honest nodes), each answering with the other liars only.
 */
function groundLiars(target: Uint8Array, count: number, random: SeededRandom) {
  const liars = Array.from({ length: count }, () => {
    const key = randomKey(random)
    key.set(target.subarray(0, 3))
    return descriptorOf(key)
  })
  const ids = new Set(liars.map((liar) => liar.nodeId))
  return { liars, ids, answer: (node: NodeDescriptor) => liars.filter((liar) => liar.nodeId !== node.nodeId) }
}

describe('runLookup against colluding liars', () => {
  it('with disjoint paths, the paths a liar did not seed still reach the honest closest nodes; one path does not', async () => {
    const { nodes, views, random } = fakeNetwork(300, 7)
    const target = randomKey(random)
    const { liars, ids, answer } = groundLiars(target, K, random)
    const behaviour: Behaviour = {
      answer: (node, key) => (ids.has(node.nodeId) ? answer(node) : closestTo(key, views.get(node.nodeId) ?? [], K)),
    }
    const honestTruth = closestTo(target, nodes, K).map((n) => n.nodeId)
    const seeds = [liars[0]!, nodes[1]!, nodes[2]!]
    const options = { k: K, alpha: 3, maxCandidates: 4 * K }

    const single = await runLookup(target, seeds, queryOf(target, behaviour), options)
    assert.ok(
      single.closest.every((n) => ids.has(n.nodeId)),
      'one path ends among the liars: they are closer and answer',
    )

    const stats = { inFlight: 0, maxInFlight: 0, asked: [] as NodeId[] }
    const disjoint = await runLookup(target, seeds, queryOf(target, behaviour, stats), { ...options, paths: 3 })
    assert.equal(disjoint.paths.length, 3)
    const honestPaths = disjoint.paths.filter((path) => path.every((n) => !ids.has(n.nodeId)))
    assert.ok(honestPaths.length >= 1, 'a path no liar seeded meets none')
    // Disjoint paths share out the nodes near the target: together the honest ones found the k closest honest nodes.
    assert.deepEqual(
      closestTo(target, honestPaths.flat(), K).map((n) => n.nodeId),
      honestTruth,
    )
    assert.equal(new Set(stats.asked).size, stats.asked.length, 'no node is asked by two paths')
    assert.equal(disjoint.queries, stats.asked.length)
  })

  it('with maxPerGroup, liars from one subnet take at most that many places, and honest nodes the rest', async () => {
    const { nodes, views, random } = fakeNetwork(300, 8)
    const target = randomKey(random)
    const { ids, answer } = groundLiars(target, 2 * K, random)
    const liars = [...ids].map((id) => descriptorOf(nodeIdToKey(id)))
    // Honest nodes know two liars each: the routing table's per-bucket subnet cap keeps more out.
    const known = new Map(
      nodes.map((node, index) => [node.nodeId, [liars[index % liars.length]!, liars[(index + 1) % liars.length]!]]),
    )
    const behaviour: Behaviour = {
      answer: (node, key) =>
        ids.has(node.nodeId)
          ? answer(node)
          : closestTo(key, [...(views.get(node.nodeId) ?? []), ...(known.get(node.nodeId) ?? [])], K),
    }
    const result = await runLookup(target, [nodes[1]!, nodes[2]!], queryOf(target, behaviour), {
      k: K,
      alpha: 3,
      maxCandidates: 4 * K,
      groupOf: (descriptor) => (ids.has(descriptor.nodeId) ? '203.0.113.0/24' : undefined),
      maxPerGroup: 2,
    })
    const fromLiars = result.closest.filter((n) => ids.has(n.nodeId))
    assert.equal(fromLiars.length, 2)
    assert.deepEqual(
      result.closest.filter((n) => !ids.has(n.nodeId)).map((n) => n.nodeId),
      closestTo(target, nodes, K - 2).map((n) => n.nodeId),
    )
  })

  it('ends every path once one meets `enough`', async () => {
    const { nodes, views, random } = fakeNetwork(200, 9)
    const target = randomKey(random)
    const wanted = closestTo(target, nodes, 1)[0]!
    const result = await runLookup(target, nodes.slice(0, 6), queryOf(target, honest(views)), {
      k: K,
      alpha: 3,
      maxCandidates: 4 * K,
      paths: 3,
      enough: (answered) => answered.nodeId === wanted.nodeId,
    })
    assert.ok(result.paths.some((path) => path.some((n) => n.nodeId === wanted.nodeId)))
  })
})
