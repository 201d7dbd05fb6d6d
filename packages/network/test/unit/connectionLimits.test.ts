// The connection manager's cap, locks and descriptor dialling on the
// simulator's virtual time: over maxConnections the least recently active
// unlocked connection goes, locked ones never do, fresh ones are spared up to
// twice the cap, and a descriptor's address counts only if it leads to that
// very node.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ManualClock } from '@runnel/protocol'
import {
  ConnectionManager,
  FIRST_FRAME_GRACE_MS,
  FRESH_CONNECTION_GRACE_MS,
  type ConnectionManagerLimits,
} from '../../src/connection/ConnectionManager.js'
import type { CloseCause } from '../../src/connection/PeerConnection.js'
import { NetworkError } from '../../src/errors.js'
import { NETWORK_PROTOCOL_VERSION, Simulator, constantLatency, type NodeId } from '../../src/index.js'
import { newSigner, verifier } from '../helpers.js'

interface Peer {
  readonly manager: ConnectionManager
  readonly nodeId: NodeId
  readonly address: string
  readonly closed: { peerId: NodeId; cause: CloseCause }[]
}

async function startPeer(
  clock: ManualClock,
  simulator: Simulator,
  limits?: number | ConnectionManagerLimits,
): Promise<Peer> {
  const signer = newSigner()
  const closed: { peerId: NodeId; cause: CloseCause }[] = []
  const manager = new ConnectionManager(
    {
      transport: simulator.createTransport(),
      signer,
      verifier,
      clock,
      events: {
        onPeerReady: () => undefined,
        onControl: () => undefined,
        onData: () => undefined,
        onPeerClosed: (peer, cause) => closed.push({ peerId: peer.peerId, cause }),
      },
    },
    undefined,
    typeof limits === 'number' ? { maxConnections: limits } : limits,
  )
  const descriptor = await manager.start((addresses) => ({
    nodeId: signer.address,
    kind: 'full',
    addresses,
    protocolVersion: NETWORK_PROTOCOL_VERSION,
  }))
  return { manager, nodeId: signer.address, address: descriptor.addresses[0]!, closed }
}

function setup(): { clock: ManualClock; simulator: Simulator } {
  const clock = new ManualClock()
  return { clock, simulator: new Simulator({ seed: 2, latency: constantLatency(10), clock }) }
}

async function connect(simulator: Simulator, from: Peer, to: Peer): Promise<void> {
  let done = false
  void from.manager.connect(to.address, to.nodeId).then(() => (done = true))
  await simulator.runUntil(() => done && to.manager.get(from.nodeId) !== undefined)
}

/** `from` sends `to` a control message: activity on their connection at `to`. */
async function poke(simulator: Simulator, from: Peer, to: Peer): Promise<void> {
  let seen = false
  const peer = to.manager.get(from.nodeId)!
  from.manager.get(to.nodeId)!.sendControl({ case: 'neighborLeave', value: { streamPartId: 'poke' } })
  const received = peer.stats.framesIn
  await simulator.runUntil(() => (seen = peer.stats.framesIn > received) && seen)
}

/** The node ids `hub` closed after its first close, sorted. */
function closedAfterFirst(hub: Peer): string[] {
  return hub.closed
    .slice(1)
    .map((closed) => String(closed.peerId))
    .sort()
}

function ids(peers: readonly Peer[]): string[] {
  return peers.map((peer) => String(peer.nodeId)).sort()
}

describe('ConnectionManager limits', () => {
  it('closes the least recently active connection once over maxConnections', async () => {
    const { clock, simulator } = setup()
    const hub = await startPeer(clock, simulator, 2)
    const [a, b, c] = [
      await startPeer(clock, simulator),
      await startPeer(clock, simulator),
      await startPeer(clock, simulator),
    ]
    await connect(simulator, a, hub)
    await connect(simulator, b, hub)
    await simulator.runFor(FRESH_CONNECTION_GRACE_MS) // no longer fresh
    await poke(simulator, a, hub) // a is now more recently active than b
    await connect(simulator, c, hub)
    await simulator.runUntil(() => b.closed.length === 1)
    assert.deepEqual(hub.closed, [{ peerId: b.nodeId, cause: 'evicted' }])
    assert.deepEqual(b.closed, [{ peerId: hub.nodeId, cause: 'remote-goodbye' }], 'the evicted peer is told')
    assert.equal(hub.manager.connectionCount, 2)
    assert.equal(hub.manager.totals().closes.evicted, 1)
    simulator.stop()
  })

  it('spares connections younger than the grace while under twice the cap, then the least recently active go', async () => {
    const { clock, simulator } = setup()
    const hub = await startPeer(clock, simulator, 2)
    const peers = [
      await startPeer(clock, simulator),
      await startPeer(clock, simulator),
      await startPeer(clock, simulator),
      await startPeer(clock, simulator),
      await startPeer(clock, simulator),
    ]
    for (const peer of peers.slice(0, 3)) await connect(simulator, peer, hub)
    assert.equal(hub.manager.connectionCount, 3, 'over the cap: all three are fresh, their requests on the way')
    assert.equal(hub.closed.length, 0)
    await simulator.runFor(FIRST_FRAME_GRACE_MS) // each has had time to send what it connected for
    await connect(simulator, peers[3]!, hub)
    await simulator.runUntil(() => hub.closed.length === 1)
    assert.deepEqual(
      [...hub.closed],
      [{ peerId: peers[0]!.nodeId, cause: 'evicted' }],
      'at twice the cap, fresh or not',
    )
    await simulator.runFor(FRESH_CONNECTION_GRACE_MS)
    await poke(simulator, peers[1]!, hub)
    await connect(simulator, peers[4]!, hub)
    await simulator.runUntil(() => hub.manager.connectionCount === 2)
    assert.deepEqual(
      closedAfterFirst(hub),
      ids([peers[2]!, peers[3]!]),
      'once past the grace, back to the cap, keeping the newest and the most recently active',
    )
    simulator.stop()
  })

  it('past twice the cap, still spares for a moment a connection that has sent nothing since it was accepted', async () => {
    // A join storm: a node near a popular key holds far more than twice its cap, and evicted each newcomer's
    // connection before the request it was opened for arrived, so it answered no one after the first burst.
    const { clock, simulator } = setup()
    const hub = await startPeer(clock, simulator, 1)
    const peers = await Promise.all(Array.from({ length: 5 }, () => startPeer(clock, simulator)))
    for (const peer of peers.slice(0, 3)) await connect(simulator, peer, hub)
    assert.equal(hub.manager.connectionCount, 3, 'three times the cap: none has sent anything yet')
    assert.equal(hub.closed.length, 0)
    await poke(simulator, peers[0]!, hub)
    await connect(simulator, peers[3]!, hub)
    await simulator.runUntil(() => hub.closed.length === 1)
    assert.deepEqual(hub.closed, [{ peerId: peers[0]!.nodeId, cause: 'evicted' }], 'the one heard from goes')
    assert.equal(hub.manager.connectionCount, 3)
    await simulator.runFor(FIRST_FRAME_GRACE_MS)
    await connect(simulator, peers[4]!, hub)
    await simulator.runUntil(() => hub.manager.connectionCount === 1)
    assert.deepEqual(closedAfterFirst(hub), ids([peers[1]!, peers[2]!, peers[3]!]), 'past the moment, back to the cap')
    simulator.stop()
  })

  it('never evicts a locked connection; a lock holds until every owner unlocks', async () => {
    const { clock, simulator } = setup()
    const hub = await startPeer(clock, simulator, 1)
    const [a, b, c] = [
      await startPeer(clock, simulator),
      await startPeer(clock, simulator),
      await startPeer(clock, simulator),
    ]
    await connect(simulator, a, hub)
    hub.manager.lock(a.nodeId, 'overlay')
    hub.manager.lock(a.nodeId, 'dht')
    hub.manager.lock(a.nodeId, 'dht') // one lock per owner
    hub.manager.unlock(a.nodeId, 'dht')
    assert.equal(hub.manager.isLocked(a.nodeId), true, 'overlay still holds it')
    await connect(simulator, b, hub)
    await simulator.runFor(100)
    assert.equal(hub.closed.length, 0, 'everything else locked: over the cap rather than break a connection in use')
    assert.equal(hub.manager.connectionCount, 2)
    hub.manager.unlock(a.nodeId, 'overlay')
    assert.equal(hub.manager.isLocked(a.nodeId), false)
    await poke(simulator, a, hub)
    await simulator.runFor(FIRST_FRAME_GRACE_MS) // b had its moment to send what it connected for
    await connect(simulator, c, hub)
    await simulator.runUntil(() => hub.closed.length === 2)
    assert.deepEqual(
      hub.closed.map((closed) => closed.peerId).sort(),
      [a.nodeId, b.nodeId].sort(),
      'back under the cap once unlocked',
    )
    simulator.stop()
  })

  it('closes connections unused for a whole idleConnectionMs, least recently active first; locked ones stay', async () => {
    const { clock, simulator } = setup()
    const hub = await startPeer(clock, simulator, { idleConnectionMs: 10_000, minConnections: 1 })
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => startPeer(clock, simulator)))
    for (const peer of [a!, b!, c!]) await connect(simulator, peer, hub)
    hub.manager.lock(c!.nodeId, 'overlay')
    await simulator.runFor(15_000) // one sweep: each has been used since accepted
    assert.equal(hub.closed.length, 0)
    await poke(simulator, a!, hub)
    await simulator.runUntil(() => hub.closed.length === 1)
    assert.deepEqual(hub.closed, [{ peerId: b!.nodeId, cause: 'trimmed' }], 'b went unused for a whole period')
    await simulator.runUntil(() => b!.closed.length === 1)
    assert.deepEqual(b!.closed, [{ peerId: hub.nodeId, cause: 'remote-goodbye' }], 'and is told')
    await simulator.runUntil(() => hub.closed.length === 2)
    assert.deepEqual(hub.closed[1], { peerId: a!.nodeId, cause: 'trimmed' }, 'a, a period after it was last used')
    await simulator.runFor(30_000)
    assert.equal(hub.manager.connectionCount, 1, 'the locked one stays, kept alive by pings alone')
    assert.equal(hub.manager.totals().closes.trimmed, 2)
    simulator.stop()
  })

  it('trims no further than minConnections, keeping the most recently active', async () => {
    const { clock, simulator } = setup()
    const hub = await startPeer(clock, simulator, { idleConnectionMs: 10_000, minConnections: 2 })
    const peers = await Promise.all([0, 1, 2].map(() => startPeer(clock, simulator)))
    for (const peer of peers) await connect(simulator, peer, hub)
    await poke(simulator, peers[2]!, hub)
    await poke(simulator, peers[1]!, hub)
    await simulator.runFor(60_000)
    assert.deepEqual(hub.closed, [{ peerId: peers[0]!.nodeId, cause: 'trimmed' }])
    assert.equal(hub.manager.connectionCount, 2)
    simulator.stop()
  })

  it('keeps every connection without a cap (the default, as in tracker mode)', async () => {
    const { clock, simulator } = setup()
    const hub = await startPeer(clock, simulator)
    const peers = [
      await startPeer(clock, simulator),
      await startPeer(clock, simulator),
      await startPeer(clock, simulator),
    ]
    for (const peer of peers) await connect(simulator, peer, hub)
    assert.equal(hub.manager.connectionCount, 3)
    assert.deepEqual(hub.closed, [])
    simulator.stop()
  })

  it('connectDescriptor tries each address and accepts only the node described', async () => {
    const { clock, simulator } = setup()
    const [a, b, c] = [
      await startPeer(clock, simulator),
      await startPeer(clock, simulator),
      await startPeer(clock, simulator),
    ]
    const describe = (nodeId: NodeId, addresses: string[]) => ({
      nodeId,
      kind: 'full' as const,
      addresses,
      protocolVersion: NETWORK_PROTOCOL_VERSION,
    })
    let result: unknown
    void a.manager.connectDescriptor(describe(b.nodeId, ['ws://not-here:1', b.address])).then(
      (peer) => (result = peer.peerId),
      (err: unknown) => (result = err),
    )
    await simulator.runUntil(() => result !== undefined)
    assert.equal(result, b.nodeId, 'skipped the address this transport cannot dial')

    result = undefined
    void a.manager.connectDescriptor(describe(b.nodeId, [c.address])).then(
      (peer) => (result = peer.peerId),
      (err: unknown) => (result = err),
    )
    // The existing connection to b is reused: no dial at all.
    await simulator.runUntil(() => result !== undefined)
    assert.equal(result, b.nodeId)

    result = undefined
    const stranger = newSigner().address
    void a.manager.connectDescriptor(describe(stranger, [c.address])).then(
      (peer) => (result = peer.peerId),
      (err: unknown) => (result = err),
    )
    await simulator.runUntil(() => result !== undefined)
    assert.ok(result instanceof NetworkError && result.code === 'CONNECTION_FAILED', String(result))
    assert.match((result as Error).message, /belongs to/)
    simulator.stop()
  })

  it('connect with an expected node id rejects another node, and closes the connection it opened', async () => {
    const { clock, simulator } = setup()
    const [a, b] = [await startPeer(clock, simulator), await startPeer(clock, simulator)]
    const stranger = newSigner().address
    let result: unknown
    void a.manager.connect(b.address, stranger).then(
      (peer) => (result = peer),
      (err: unknown) => (result = err),
    )
    await simulator.runUntil(() => result !== undefined)
    assert.ok(result instanceof NetworkError && result.code === 'PEER_ID_MISMATCH', String(result))
    assert.match(result.message, new RegExp(`belongs to ${b.nodeId}, not ${stranger}`))
    await simulator.runUntil(() => a.manager.get(b.nodeId) === undefined && b.manager.get(a.nodeId) === undefined)

    // A connection the node holds already (here locked) is left open: only the caller's expectation failed.
    await connect(simulator, a, b)
    a.manager.lock(b.nodeId, 'test')
    result = undefined
    // The address dedupes to no dial only by node id: dial again and lose the duplicate to the kept connection.
    void a.manager.connect(b.address, stranger).then(
      (peer) => (result = peer),
      (err: unknown) => (result = err),
    )
    await simulator.runUntil(() => result !== undefined)
    assert.ok(result instanceof NetworkError && result.code === 'PEER_ID_MISMATCH', String(result))
    assert.ok(a.manager.get(b.nodeId)?.isClosed === false, 'the locked connection stays')
    simulator.stop()
  })

  it('whenClosed tells when one connection closes', async () => {
    const { clock, simulator } = setup()
    const [a, b] = [await startPeer(clock, simulator), await startPeer(clock, simulator)]
    await connect(simulator, a, b)
    const seen: string[] = []
    const connection = a.manager.get(b.nodeId)!
    a.manager.whenClosed(connection, (cause) => seen.push(cause))
    const forget = a.manager.whenClosed(connection, () => seen.push('forgotten'))
    forget()
    await b.manager.stop()
    await simulator.runUntil(() => seen.length === 1)
    assert.deepEqual(seen, ['remote-goodbye'])
    simulator.stop()
  })
})
