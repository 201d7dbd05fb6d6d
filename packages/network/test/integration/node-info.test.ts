// Node-info queries over real WebSockets on 127.0.0.1: a node asked by address says which stream parts it carries and
// its neighbours there, what it runs and its connections; answers come at a bounded rate per asker; a peer that
// answers garbage, or not at all, fails the query with an error saying so and leaves the asker working.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { toStreamPartId, type StreamId } from '@runnel/protocol'
import type { ConnectionManager } from '../../src/connection/ConnectionManager.js'
import type { PeerConnection } from '../../src/connection/PeerConnection.js'
import { NODE_INFO_LIMITS, NetworkError, crawlStreamPart, type NetworkNode } from '../../src/index.js'
import { newSigner, startDiscovery, startRawPeer, startWebSocketNode, type TestDiscovery } from '../helpers.js'

const STREAM_PART = toStreamPartId('0x1234567890123456789012345678901234567890/node-info' as StreamId, 0)

/** A listening peer that answers node-info queries with what `answer` returns (or nothing: undefined). */
async function startAnsweringPeer(
  answer: (requestId: number) => Parameters<PeerConnection['sendControl']>[0] | undefined,
): Promise<{ connections: ConnectionManager; address: string }> {
  const connections = await startRawPeer(newSigner(), 'full', undefined, {
    listen: true,
    onControl: (message, peer) => {
      if (message.body.case !== 'nodeInfoRequest') return
      const body = answer(message.body.value.requestId)
      if (body !== undefined) peer.sendControl(body)
    },
  })
  return { connections, address: connections.localDescriptor.addresses[0]! }
}

describe('node-info queries over WebSockets', () => {
  let discovery: TestDiscovery
  const nodes: NetworkNode[] = []
  let asker: NetworkNode

  before(async () => {
    discovery = await startDiscovery('tracker')
    for (let i = 0; i < 3; i++) nodes.push(await startWebSocketNode(discovery, { version: `test-node/${i}` }))
    await Promise.all(
      nodes.map((node) => node.join(STREAM_PART, { minNeighbors: 2, signal: AbortSignal.timeout(20_000) })),
    )
    // Dial-only, in no stream part: as the explorer's node is.
    asker = await startWebSocketNode(discovery, { kind: 'light' })
  })

  after(async () => {
    await Promise.allSettled([...nodes, asker].map((node) => node?.stop()))
    await discovery?.stop()
  })

  it('tells an asker that dialled it its stream parts, neighbours, version and connections', async () => {
    const [node] = nodes
    const info = await asker.queryNodeInfo(node!.descriptor.addresses[0]!)
    assert.equal(info.descriptor.nodeId, node!.nodeId)
    assert.equal(info.version, 'test-node/0')
    assert.ok(info.uptimeMs >= 0)
    assert.deepEqual(
      info.streamParts.map((part) => part.streamPartId),
      [STREAM_PART],
    )
    const neighbors = info.streamParts[0]!.neighbors
    assert.deepEqual(neighbors.map((neighbor) => neighbor.nodeId).sort(), node!.getNeighbors(STREAM_PART).sort())
    // Dialable: each with the address its handshake gave.
    for (const neighbor of neighbors) assert.ok(neighbor.addresses.length >= 1, JSON.stringify(neighbor))
    assert.ok(info.streamParts[0]!.neighbors.length >= 2)
    // Its tracker, its two neighbours and the asker, all over WebSocket.
    assert.ok((info.connections.websocket ?? 0) >= 3, JSON.stringify(info.connections))
    // Asked again by id, now that they are connected.
    const again = await asker.queryNodeInfo(node!.nodeId)
    assert.equal(again.descriptor.nodeId, node!.nodeId)
  })

  it('crawls a stream part from one node to every node of its overlay, with its edges', async () => {
    // A fresh asker: the rate test below spends the other's allowance.
    const crawler = await startWebSocketNode(discovery, { kind: 'light' })
    try {
      const graph = await crawlStreamPart(crawler, STREAM_PART, [nodes[0]!.descriptor.addresses[0]!])
      assert.deepEqual([...graph.nodes.keys()].sort(), nodes.map((node) => node.nodeId).sort())
      for (const [, entry] of graph.nodes) assert.equal(entry.error, undefined)
      const expected = new Set<string>()
      for (const node of nodes) {
        for (const neighbor of node.getNeighbors(STREAM_PART)) {
          expected.add([node.nodeId, neighbor].sort().join('-'))
        }
      }
      assert.deepEqual(graph.edges.map((edge) => edge.join('-')).sort(), [...expected].sort())
    } finally {
      await crawler.stop()
    }
  })

  it('answers one asker at a bounded rate: past the burst, RATE_LIMITED', async () => {
    const node = nodes[1]!
    const before = node.nodeInfoCounters.rateLimited
    const outcomes = await Promise.allSettled(
      Array.from({ length: NODE_INFO_LIMITS.burst + 3 }, () => asker.queryNodeInfo(node.descriptor)),
    )
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected')
    assert.ok(refused.length >= 3, `${refused.length} refused`)
    for (const outcome of refused) {
      const reason = outcome.reason as NetworkError
      assert.ok(reason instanceof NetworkError)
      assert.equal(reason.code, 'RATE_LIMITED')
    }
    assert.ok(node.nodeInfoCounters.rateLimited >= before + 3)
  })

  it('refuses an id it is not connected to, saying what to pass instead', async () => {
    await assert.rejects(asker.queryNodeInfo(`0x${'ab'.repeat(20)}`), (err: unknown) => {
      assert.ok(err instanceof NetworkError)
      assert.equal(err.code, 'INVALID_ARGUMENT')
      assert.match(err.message, /descriptor or an address/)
      return true
    })
  })

  it('fails a query answered with garbage, naming what is wrong, and keeps working', async () => {
    const garbage = [
      {
        value: (requestId: number) => ({ requestId, streamParts: [{ streamPartId: 'no-hash', neighbors: [] }] }),
        pattern: /stream part id that isn't one/,
      },
      {
        value: (requestId: number) => ({
          requestId,
          streamParts: [{ streamPartId: STREAM_PART, neighbors: [{ nodeId: new Uint8Array(3) }] }],
        }),
        pattern: /neighbour descriptor that isn't one/,
      },
      {
        value: (requestId: number) => ({
          requestId,
          streamParts: [
            {
              streamPartId: STREAM_PART,
              neighbors: Array.from({ length: NODE_INFO_LIMITS.neighborsPerStreamPart + 1 }, () => ({
                nodeId: new Uint8Array(20),
              })),
            },
          ],
        }),
        pattern: /65 neighbours/,
      },
      {
        value: (requestId: number) => ({ requestId, connections: { 'Not A Transport!': 1 } }),
        pattern: /transport name/,
      },
      { value: (requestId: number) => ({ requestId, version: 'x'.repeat(65) }), pattern: /version over 64/ },
    ]
    for (const { value, pattern } of garbage) {
      const peer = await startAnsweringPeer((requestId) => ({ case: 'nodeInfoResponse', value: value(requestId) }))
      try {
        await assert.rejects(asker.queryNodeInfo(peer.address), (err: unknown) => {
          assert.ok(err instanceof NetworkError, String(err))
          assert.equal(err.code, 'MALFORMED_FRAME')
          assert.match(err.message, pattern)
          return true
        })
      } finally {
        await peer.connections.stop()
      }
    }
    assert.equal(asker.nodeInfoCounters.malformedAnswers, garbage.length)
    // The asker still works: an honest node answers it.
    const info = await asker.queryNodeInfo(nodes[2]!.descriptor)
    assert.equal(info.version, 'test-node/2')
  })

  it('times out on a peer that never answers, and fails at once when the peer hangs up', async () => {
    let queries = 0
    let askedTwice!: () => void
    const secondQuery = new Promise<void>((resolve) => (askedTwice = resolve))
    const silent = await startAnsweringPeer(() => {
      if (++queries === 2) askedTwice()
      return undefined
    })
    try {
      await assert.rejects(asker.queryNodeInfo(silent.address, { timeoutMs: 500 }), (err: unknown) => {
        assert.ok(err instanceof NetworkError)
        assert.equal(err.code, 'TIMEOUT')
        return true
      })
      const query = asker.queryNodeInfo(silent.address, { timeoutMs: 60_000 })
      await secondQuery
      // Watched before the hang-up: the stop waits for this end to answer the close, by which time the query failed.
      const failed = assert.rejects(query, (err: unknown) => {
        assert.ok(err instanceof NetworkError)
        assert.equal(err.code, 'CONNECTION_CLOSED')
        return true
      })
      await silent.connections.stop()
      await failed
    } finally {
      await silent.connections.stop()
    }
  })
})
