// The connection layer (ConnectionManager over PeerConnection) on the
// simulator transport and a ManualClock: handshakes, their timeout, forged
// identities, simultaneous dials and idle connections, with time moved by the
// test instead of waited for.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ManualClock, type MessageSigner } from '@runnel/protocol'
import { ConnectionManager } from '../../src/connection/ConnectionManager.js'
import {
  DEFAULT_PEER_CONNECTION_OPTIONS,
  type CloseCause,
  type PeerConnection,
} from '../../src/connection/PeerConnection.js'
import { NetworkError } from '../../src/errors.js'
import { NETWORK_PROTOCOL_VERSION, SeededRandom, Simulator, constantLatency, type NodeId } from '../../src/index.js'
import type { Transport, TransportConnection } from '../../src/transport/Transport.js'
import { newSigner, verifier } from '../helpers.js'

const LATENCY_MS = 10
const { handshakeTimeoutMs, idleTimeoutMs, pingIntervalMs } = DEFAULT_PEER_CONNECTION_OPTIONS

interface Peer {
  readonly manager: ConnectionManager
  readonly nodeId: NodeId
  readonly address: string
  readonly ready: NodeId[]
  readonly closed: { peerId: NodeId; cause: CloseCause }[]
}

function network(): { clock: ManualClock; simulator: Simulator } {
  const clock = new ManualClock()
  return { clock, simulator: new Simulator({ seed: 1, latency: constantLatency(LATENCY_MS), clock }) }
}

/** A started connection manager on `transport` that claims `claimedId` (default: its signer's address). */
async function startPeer(
  clock: ManualClock,
  transport: Transport,
  signer: MessageSigner = newSigner(),
  claimedId: NodeId = signer.address,
): Promise<Peer> {
  const ready: NodeId[] = []
  const closed: { peerId: NodeId; cause: CloseCause }[] = []
  const manager = new ConnectionManager({
    transport,
    signer,
    verifier,
    clock,
    events: {
      onPeerReady: (peer) => ready.push(peer.peerId),
      onControl: () => undefined,
      onData: () => undefined,
      onPeerClosed: (peer, cause) => closed.push({ peerId: peer.peerId, cause }),
    },
  })
  const descriptor = await manager.start((addresses) => ({
    nodeId: claimedId,
    kind: 'full',
    addresses,
    protocolVersion: NETWORK_PROTOCOL_VERSION,
  }))
  return { manager, nodeId: claimedId, address: descriptor.addresses[0]!, ready, closed }
}

interface Outcome<T> {
  value?: T
  error?: unknown
  /** Virtual time it settled at. */
  atMs: number
}

/** Records how and when a promise settles, without driving the clock (the test does that). */
function track<T>(clock: ManualClock, promise: Promise<T>): { result: Outcome<T> | undefined } {
  const tracked: { result: Outcome<T> | undefined } = { result: undefined }
  promise.then(
    (value) => (tracked.result = { value, atMs: clock.now() }),
    (error: unknown) => (tracked.result = { error, atMs: clock.now() }),
  )
  return tracked
}

/** Drives the simulation until the promise settles; its outcome. */
async function outcome<T>(simulator: Simulator, promise: Promise<T>): Promise<Outcome<T>> {
  const tracked = track(simulator.clock!, promise)
  await simulator.runUntil(() => tracked.result !== undefined, { timeoutMs: 120_000, pollMs: 0 })
  return tracked.result!
}

/** A listener that accepts transport connections and never says a word: no Hello, no pong. */
async function startMute(simulator: Simulator): Promise<{ address: string; accepted: TransportConnection[] }> {
  const transport = simulator.createTransport()
  const accepted: TransportConnection[] = []
  const [address] = await transport.start((connection) => {
    connection.setHandlers({ onFrame: () => undefined, onClose: () => undefined })
    accepted.push(connection)
  })
  return { address: address!, accepted }
}

/** A transport whose connections stop sending once `silence()` is called: the far end of a half-open link. */
function silenceable(inner: Transport): { transport: Transport; silence: () => void } {
  let silent = false
  const wrap = (connection: TransportConnection): TransportConnection => ({
    remoteAddress: connection.remoteAddress,
    get bufferedAmount() {
      return connection.bufferedAmount
    },
    setHandlers: (handlers) => connection.setHandlers(handlers),
    send: (frame) => {
      if (!silent) connection.send(frame)
    },
    close: (reason) => connection.close(reason),
  })
  return {
    transport: {
      start: (onConnection) => inner.start((connection) => onConnection(wrap(connection))),
      connect: (address, signal) => inner.connect(address, signal).then(wrap),
      stop: () => inner.stop(),
    },
    silence: () => (silent = true),
  }
}

async function stopAll(simulator: Simulator, peers: Peer[]): Promise<void> {
  await Promise.all(peers.map((peer) => peer.manager.stop()))
  simulator.stop()
}

describe('ConnectionManager and PeerConnection on virtual time', () => {
  it('completes a handshake: both ends ready with each other proven, within a few round trips', async () => {
    const { clock, simulator } = network()
    const [a, b] = [
      await startPeer(clock, simulator.createTransport()),
      await startPeer(clock, simulator.createTransport()),
    ]
    const { value: connection, atMs } = await outcome(simulator, a.manager.connect(b.address, b.nodeId))
    assert.equal(connection?.peerId, b.nodeId)
    assert.equal(connection?.isReady, true)
    assert.equal(connection?.outbound, true)
    await simulator.runUntil(() => b.ready.length === 1)
    assert.deepEqual(a.ready, [b.nodeId])
    assert.deepEqual(b.ready, [a.nodeId])
    assert.equal(b.manager.get(a.nodeId)?.outbound, false)
    // Dial, Hello each way, proofs each way: a handful of one-way latencies, nowhere near the timeout.
    assert.ok(atMs <= 6 * LATENCY_MS, `ready after ${atMs} ms of virtual time`)
    await stopAll(simulator, [a, b])
  })

  it('times out a handshake the peer never answers at exactly handshakeTimeoutMs of virtual time', async () => {
    const { clock, simulator } = network()
    const a = await startPeer(clock, simulator.createTransport())
    const mute = await startMute(simulator)
    const dialing = track(clock, a.manager.connect(mute.address))
    // One millisecond before the deadline the dial is still pending.
    await simulator.runFor(LATENCY_MS + handshakeTimeoutMs - 1)
    assert.equal(dialing.result, undefined)
    assert.equal(a.manager.totals().closes['handshake-failed'], undefined)
    await simulator.runUntil(() => dialing.result !== undefined, { pollMs: 0 })
    const { error, atMs } = dialing.result!
    assert.ok(error instanceof NetworkError && error.code === 'CONNECTION_FAILED', String(error))
    assert.match((error as Error).message, /handshake timed out/)
    assert.equal(atMs, LATENCY_MS + handshakeTimeoutMs, 'timed out once the handshake timeout had passed, not before')
    assert.equal(a.manager.totals().closes['handshake-failed'], 1)
    await simulator.runUntil(() => mute.accepted.length === 1)
    await stopAll(simulator, [a])
  })

  it('refuses a peer whose Hello claims a node id its key does not sign for', async () => {
    const { clock, simulator } = network()
    const honest = await startPeer(clock, simulator.createTransport())
    const victim = newSigner()
    const impostor = await startPeer(clock, simulator.createTransport(), newSigner(), victim.address)
    const { error } = await outcome(simulator, honest.manager.connect(impostor.address, victim.address))
    assert.ok(error instanceof NetworkError && error.code === 'CONNECTION_FAILED', String(error))
    assert.match((error as Error).message, /handshake-failed proof is not signed by/)
    assert.equal(honest.manager.totals().closes['handshake-failed'], 1)
    assert.deepEqual(honest.ready, [], 'the honest side never reports the impostor')
    assert.equal(honest.manager.get(victim.address), undefined)
    await stopAll(simulator, [honest, impostor])
  })

  it('refuses a peer whose handshake proof is not a valid signature', async () => {
    const { clock, simulator } = network()
    const honest = await startPeer(clock, simulator.createTransport())
    const real = newSigner()
    const corrupting: MessageSigner = {
      address: real.address,
      signPersonalMessage: async (payload) => {
        const signature = await real.signPersonalMessage(payload)
        signature[10] = signature[10]! ^ 0xff
        return signature
      },
    }
    const forger = await startPeer(clock, simulator.createTransport(), corrupting)
    const { error } = await outcome(simulator, honest.manager.connect(forger.address, forger.nodeId))
    assert.ok(error instanceof NetworkError && error.code === 'CONNECTION_FAILED', String(error))
    assert.match((error as Error).message, /handshake-failed/)
    assert.equal(honest.manager.totals().closes['handshake-failed'], 1)
    assert.deepEqual(honest.ready, [])
    await stopAll(simulator, [honest, forger])
  })

  it('keeps one connection when two nodes dial each other at the same instant: the one the smaller id dialed', async () => {
    const { clock, simulator } = network()
    const [a, b] = [
      await startPeer(clock, simulator.createTransport()),
      await startPeer(clock, simulator.createTransport()),
    ]
    const fromA = track(clock, a.manager.connect(b.address, b.nodeId))
    const fromB = track(clock, b.manager.connect(a.address, a.nodeId))
    await simulator.runUntil(
      () =>
        fromA.result !== undefined &&
        fromB.result !== undefined &&
        a.manager.totals().closes.duplicate === 1 &&
        b.manager.totals().closes.duplicate === 1,
      { pollMs: 0 },
    )
    const kept: [PeerConnection, PeerConnection] = [a.manager.get(b.nodeId)!, b.manager.get(a.nodeId)!]
    assert.equal(fromA.result?.value, kept[0], "a's dial resolves to the connection a kept")
    assert.equal(fromB.result?.value, kept[1], "b's dial resolves to the connection b kept")
    const smaller = a.nodeId < b.nodeId ? 0 : 1
    assert.equal(kept[smaller].outbound, true, 'the smaller id keeps the connection it dialed')
    assert.equal(kept[1 - smaller]!.outbound, false, 'and the other keeps the same link, accepted')
    assert.deepEqual([...a.manager.connectedPeers()], [kept[0]], 'a has one connection to b')
    assert.deepEqual([...b.manager.connectedPeers()], [kept[1]], 'b has one connection to a')
    // It stays up: pings keep both ends busy past several idle timeouts.
    await simulator.runFor(3 * idleTimeoutMs)
    assert.equal(kept[0].isReady && kept[1].isReady, true)
    assert.deepEqual([a.closed, b.closed], [[], []])
    await stopAll(simulator, [a, b])
  })

  it('never reports a peer gone when a simultaneous dial switches links and the goodbye overtakes the winner', async () => {
    // The dial of the smaller id wins. The larger id's end may have accepted its own dial when the peer's goodbye
    // closing that loser arrives, ahead of the proof that makes the winner ready here: two connections keep no order
    // between them (a jittery path; two sockets read in one poll). That close is a switch of links, not the peer
    // leaving: reporting it left this end without the neighbour the other end still counted (a "half edge").
    let switches = 0
    for (let run = 0; run < 200; run++) {
      const clock = new ManualClock()
      const jitter = new SeededRandom(run)
      const simulator = new Simulator({ seed: run, clock, latency: () => 1 + jitter.nextFloat() * 3 * LATENCY_MS })
      const [a, b] = [
        await startPeer(clock, simulator.createTransport()),
        await startPeer(clock, simulator.createTransport()),
      ]
      const fromA = track(clock, a.manager.connect(b.address, b.nodeId))
      await simulator.runFor(jitter.nextFloat() * 4 * LATENCY_MS)
      const fromB = track(clock, b.manager.connect(a.address, a.nodeId))
      await simulator.runUntil(() => fromA.result !== undefined && fromB.result !== undefined, { pollMs: 0 })
      await simulator.runFor(handshakeTimeoutMs + 10 * LATENCY_MS)
      const when = `run ${run}`
      assert.ok(a.manager.get(b.nodeId)?.isReady && b.manager.get(a.nodeId)?.isReady, `${when}: both keep a link`)
      assert.deepEqual([a.closed, b.closed], [[], []], `${when}: neither end reported the other gone`)
      switches +=
        (a.manager.totals().closes['remote-duplicate'] ?? 0) + (b.manager.totals().closes['remote-duplicate'] ?? 0)
      await stopAll(simulator, [a, b])
    }
    assert.ok(switches > 0, 'some runs switched links on a goodbye that overtook the winner')
  })

  it('reports a peer gone a handshake timeout after it closed a link as a duplicate when no other link comes', async () => {
    const { clock, simulator } = network()
    const [a, b] = [
      await startPeer(clock, simulator.createTransport()),
      await startPeer(clock, simulator.createTransport()),
    ]
    await outcome(simulator, a.manager.connect(b.address, b.nodeId))
    b.manager.get(a.nodeId)!.close('duplicate', 'duplicate connection')
    await simulator.runUntil(() => a.manager.get(b.nodeId) === undefined, { pollMs: 0 })
    const closedAt = clock.now()
    await simulator.runFor(handshakeTimeoutMs - 1)
    assert.deepEqual(a.closed, [], 'a waits a handshake timeout for the link b said it keeps')
    await simulator.runUntil(() => a.closed.length > 0, { pollMs: 0 })
    assert.deepEqual(a.closed, [{ peerId: b.nodeId, cause: 'remote-duplicate' }])
    assert.equal(clock.now() - closedAt, handshakeTimeoutMs)
    await stopAll(simulator, [a, b])
  })

  it('closes a connection whose peer goes silent after idleTimeoutMs, and not before', async () => {
    const { clock, simulator } = network()
    const a = await startPeer(clock, simulator.createTransport())
    const half = silenceable(simulator.createTransport())
    const b = await startPeer(clock, half.transport)
    await outcome(simulator, a.manager.connect(b.address, b.nodeId))
    await simulator.runFor(2 * idleTimeoutMs)
    assert.deepEqual(a.closed, [], 'a live peer answers pings and stays')

    half.silence()
    const closedAt = await simulator.runUntil(() => a.closed.length === 1, { pollMs: 0 })
    assert.deepEqual(a.closed, [{ peerId: b.nodeId, cause: 'idle-timeout' }])
    // The last frame from b left before the silence; a notices at its first ping tick past the idle timeout.
    assert.ok(closedAt > idleTimeoutMs - pingIntervalMs, `closed ${closedAt} ms after the silence`)
    assert.ok(closedAt <= idleTimeoutMs + pingIntervalMs, `closed ${closedAt} ms after the silence`)
    await stopAll(simulator, [a, b])
  })
})
